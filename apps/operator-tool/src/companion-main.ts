#!/usr/bin/env node
/**
 * operator-tool as installed on a companion (`companion install` bundles this
 * entry): `--version`, `tiles receive` and `compile-engines` under the same
 * error boundary as the workstation's tool.
 */
import { buildCompanionProgram } from "./companion-program.js";
import { runAsProcess } from "./process-entry.js";
import { runProgram } from "./run-program.js";

await runAsProcess((args, io) => runProgram(args, io, buildCompanionProgram));
