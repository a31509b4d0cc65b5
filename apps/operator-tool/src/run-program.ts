import { describeFailure, EXIT_CODES, type FailureDescription } from "@operator-tool/errors";
import { type Command, CommanderError } from "commander";
import type { CommandResult } from "./command-result.js";
import type { CliIo, CommandContext } from "./context.js";
import type { ProgramIo } from "./program-parts.js";
import { createRuntime } from "./runtime.js";

/**
 * The only error boundary: runs one command of the tree `build` makes and turns every outcome into an
 * exit status, through `describeFailure` and the one table. Operator mistakes
 * get one line and a hint; anything unexpected gets its stack and where the
 * log is. Everything it needs lives in this call, so tests may run several
 * side by side in one process.
 */
export async function runProgram(
  args: string[],
  io: CliIo,
  build: (io: ProgramIo) => Command,
): Promise<number> {
  const runtime = createRuntime(io.signal);
  let exitCode: number = EXIT_CODES.SUCCESS;
  let json = args.includes("--json");
  const print = (failure: FailureDescription) => {
    if (!failure.internal) {
      io.stderr(`${runtime.redact(`error: ${failure.line}`)}\n`);
      return;
    }
    const stack = failure.error instanceof Error ? (failure.error.stack ?? failure.message) : failure.message;
    io.stderr(
      runtime.redact(
        `internal error (a bug in operator-tool): ${stack}\n${runtime.logPath ? `full log: ${runtime.logPath}\n` : ""}`,
      ),
    );
  };

  const program = build({
    writeOut: (text) => io.stdout(text),
    writeErr: (text) => io.stderr(text),
    onResult(result: CommandResult, ctx: CommandContext) {
      json = ctx.json;
      const out = json
        ? JSON.stringify(ctx.redactor.redactValue(result.data))
        : ctx.redactor.redact(result.text);
      if (out !== "") io.stdout(`${out}\n`);
      if (result.failure !== undefined) print(result.failure);
      if (result.passThrough?.errorLine !== undefined)
        io.stderr(`${ctx.redactor.redact(`error: ${result.passThrough.errorLine}`)}\n`);
      exitCode = result.failure?.exitCode ?? result.passThrough?.exitCode ?? EXIT_CODES.SUCCESS;
    },
    runtime,
    cli: io,
  });

  try {
    await program.parseAsync(args, { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error);
    const failure = describeFailure(error, { signal: runtime.signal });
    print(failure);
    if (json && !failure.internal) {
      const { code, exitCode: exit, message, hint } = failure;
      io.stdout(`${runtime.redact(JSON.stringify({ error: { code, exitCode: exit, message, hint } }))}\n`);
    }
    return failure.exitCode;
  }
}

function commanderExit(error: CommanderError): number {
  if (error.code === "commander.helpDisplayed" || error.code === "commander.version")
    return EXIT_CODES.SUCCESS;
  // Commander has already printed its one line: the reason and where to look.
  return EXIT_CODES.USAGE;
}
