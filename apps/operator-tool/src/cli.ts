#!/usr/bin/env node
import { runCli } from "./run-cli.js";

// Tile and engine writes fsync many files concurrently on libuv's pool; its
// default of 4 threads makes them queue. Takes effect as long as no pool work
// has started yet, which is the case here.
process.env.UV_THREADPOOL_SIZE ??= "16";

const code = await runCli(process.argv.slice(2));
// A pipe takes 64 KiB at once; the rest of a large result is queued. Exiting
// before it drains would cut the output (a tile listing, a report) short.
await Promise.all([drain(process.stdout), drain(process.stderr)]);
process.exit(code);

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write("", () => resolve());
  });
}
