import { isOperatorToolError } from "@operator-tool/errors";
import { CommanderError } from "commander";
import type { CommandResult } from "./command-result.js";
import type { CommandContext } from "./context.js";
import { EXIT_CODES, exitCodeFor } from "./exit-codes.js";
import { buildProgram } from "./program.js";
import { currentLogFilePath, interrupt, interruptSignal, redact } from "./runtime.js";

export interface CliStreams {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processStreams: CliStreams = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * The only error boundary: runs the command and turns every outcome into an
 * exit code from the one table. Operator mistakes get one line and a hint;
 * anything unexpected gets its stack and where the log is.
 */
export async function runCli(args: string[], streams: CliStreams = processStreams): Promise<number> {
  let exitCode: number = EXIT_CODES.SUCCESS;
  let json = args.includes("--json");
  const onSignal = (name: NodeJS.Signals) => {
    if (interruptSignal.aborted) process.exit(130); // a second Ctrl-C means now
    streams.stderr(`\noperator-tool: ${name} received, stopping…\n`);
    interrupt(name);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const program = buildProgram({
    writeOut: (text) => streams.stdout(text),
    writeErr: (text) => streams.stderr(text),
    onResult(result: CommandResult, ctx: CommandContext) {
      json = ctx.json;
      const out = json
        ? JSON.stringify(ctx.redactor.redactValue(result.data))
        : ctx.redactor.redact(result.text);
      if (out !== "") streams.stdout(`${out}\n`);
      if (result.errorLine !== undefined)
        streams.stderr(`${ctx.redactor.redact(`error: ${result.errorLine}`)}\n`);
      exitCode = result.exitCode;
    },
  });

  try {
    await program.parseAsync(args, { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, streams);
    const code = interruptSignal.aborted
      ? "INTERRUPTED"
      : isOperatorToolError(error)
        ? error.code
        : undefined;
    if (code !== undefined) {
      const exit = exitCodeFor(code);
      const { message, hint } = error as { message: string; hint?: string };
      const shown = interruptSignal.aborted ? (interruptSignal.reason as Error).message : message;
      streams.stderr(`${redact(`error: ${shown}${hint ? ` — ${hint}` : ""}`)}\n`);
      if (json)
        streams.stdout(
          `${redact(JSON.stringify({ error: { code, exitCode: exit, message: shown, hint } }))}\n`,
        );
      if (exit !== EXIT_CODES.INTERNAL) return exit;
    }
    const log = currentLogFilePath();
    streams.stderr(
      redact(
        `internal error (a bug in operator-tool): ${(error as Error)?.stack ?? String(error)}\n${log ? `full log: ${log}\n` : ""}`,
      ),
    );
    return EXIT_CODES.INTERNAL;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function commanderExit(error: CommanderError, streams: CliStreams): number {
  if (error.code === "commander.helpDisplayed" || error.code === "commander.version")
    return EXIT_CODES.SUCCESS;
  // Commander has already printed its one-line reason; add where to look.
  if (error.code !== "commander.help")
    streams.stderr("(run `operator-tool --help`, or add --help after a command, for usage)\n");
  return EXIT_CODES.USAGE;
}
