import { EXIT_CODES, InterruptedError } from "@operator-tool/errors";
import type { CliIo } from "./context.js";

/**
 * Runs a command tree as this process: SIGINT/SIGTERM cancel it (a second one
 * exits at once), stdout and stderr drain, then the process exits with its status.
 */
export async function runAsProcess(run: (args: string[], io: CliIo) => Promise<number>): Promise<never> {
  // Tile and engine writes fsync many files concurrently on libuv's pool; its
  // default of 4 threads makes them queue. Takes effect as long as no pool work
  // has started yet, which is the case here.
  process.env.UV_THREADPOOL_SIZE ??= "16";

  const interrupted = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (interrupted.signal.aborted) process.exit(EXIT_CODES.INTERRUPTED); // a second Ctrl-C means now
    // Abort first: a live view clears its area on abort, so this line is not drawn inside it.
    interrupted.abort(new InterruptedError(name));
    process.stderr.write(`\noperator-tool: ${name} received, stopping…\n`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const code = await run(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTTY: process.stderr.isTTY === true,
    stderrColumns: () => process.stderr.columns ?? 100,
    signal: interrupted.signal,
  });
  // A pipe takes 64 KiB at once; the rest of a large result is queued. Exiting
  // before it drains would cut the output (a tile listing, a report) short.
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit(code);
}

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write("", () => resolve());
  });
}
