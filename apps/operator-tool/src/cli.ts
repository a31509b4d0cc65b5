#!/usr/bin/env node
import { runAsProcess } from "./process-entry.js";
import { runCli } from "./run-cli.js";

await runAsProcess(runCli);
