#!/usr/bin/env node
import { runCli } from "./run-cli.js";

// Tile and engine writes fsync many files concurrently on libuv's pool; its
// default of 4 threads makes them queue. Takes effect as long as no pool work
// has started yet, which is the case here.
process.env.UV_THREADPOOL_SIZE ??= "16";

process.exit(await runCli(process.argv.slice(2)));
