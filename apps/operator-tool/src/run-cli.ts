import type { CliIo } from "./context.js";
import { buildProgram } from "./program.js";
import { runProgram } from "./run-program.js";

export type { CliIo } from "./context.js";

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
};

/** The workstation's command tree under the one error boundary (`runProgram`). */
export function runCli(args: string[], io: CliIo = processIo): Promise<number> {
  return runProgram(args, io, buildProgram);
}
