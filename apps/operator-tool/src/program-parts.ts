import { Command, Option } from "commander";
import type { CommandResult } from "./command-result.js";
import type { SessionOptions } from "./commands/session.js";
import type { CliIo, CommandContext, RawCommandOptions } from "./context.js";
import { engineOptions, GROUPS } from "./options.js";
import type { CliRuntime } from "./runtime.js";
import { toolVersion } from "./version.js";

/**
 * What the workstation's program and the companion's (the bundle `companion
 * install` pushes) share: the root command with its output options, the two
 * commands that run on the companion, and the action wrapper. Kept apart from
 * program.ts so the companion bundle carries none of the workstation commands.
 */
export type Handler<O> = (ctx: CommandContext, options: O) => Promise<CommandResult>;

export interface ProgramIo {
  writeOut(text: string): void;
  writeErr(text: string): void;
  /** Receives each command's result; the entry point prints it and sets the exit code. */
  onResult(result: CommandResult, ctx: CommandContext): void;
  /** This call's cancellation, redaction and log path. */
  runtime: CliRuntime;
  cli: CliIo;
}

/** commander's "error: unknown option '--zom'\n(Did you mean --zoom?)" as one line with what to do. */
export function usageErrorLine(text: string): string {
  const [first = "", ...rest] = text.trim().split("\n");
  const suggestion = rest
    .map((line) => /^\(Did you mean (.+)\?\)$/.exec(line.trim())?.[1])
    .find((s) => s !== undefined);
  return `${first}${suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`} — run \`operator-tool --help\`, or add --help after a command, for usage`;
}

/** The root command: version, help, and the output options every command takes. */
export function rootCommand(io: ProgramIo, description: string): Command {
  return new Command("operator-tool")
    .description(description)
    .version(toolVersion(), "-V, --version", "print the version")
    .helpOption("-h, --help", "show help for a command")
    .exitOverride()
    .configureOutput({
      writeOut: io.writeOut,
      writeErr: io.writeErr,
      // One line, like every other error: what is wrong (and the likely flag), then what to do.
      outputError: (text, write) => write(`${usageErrorLine(text)}\n`),
    })
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: true })
    .addOption(
      new Option("--config <file>", "config file (default: ./operator-tool.config.json or .yaml)").helpGroup(
        GROUPS.output,
      ),
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["trace", "debug", "info", "warn", "error", "silent"])
        .helpGroup(GROUPS.output),
    )
    .addOption(
      new Option(
        "--log-format <format>",
        "log format on stderr (default: pretty on a terminal, json otherwise)",
      )
        .choices(["json", "pretty"])
        .helpGroup(GROUPS.output),
    )
    .addOption(
      new Option("--json", "print the command's result as one JSON document on stdout").helpGroup(
        GROUPS.output,
      ),
    );
}

/** `tiles receive`: the companion side of the tile sync. */
export function addTilesReceive(tiles: Command, io: ProgramIo): void {
  tiles
    .command("receive")
    .description(
      "companion side of the tile sync: receive verified tiles on stdin (run by build-cache over SSH)",
    )
    .requiredOption("--root <dir>", "directory the tiles land in")
    .option("--list", "print the files already here, with sha256, as JSON, and exit")
    .option(
      "--list-first",
      "print that listing as the first line, then receive: the sender learns what to skip without a second session",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ operator-tool tiles receive --root /var/cache/operator-tool/tiles/esri --list
  $ … | operator-tool tiles receive --root /var/cache/operator-tool/tiles/esri
  $ … | operator-tool tiles receive --root /var/cache/operator-tool/tiles/esri --list-first
`,
    )
    .action(action(io, async () => (await import("./commands/tiles-receive.js")).tilesReceive));
}

/**
 * `session`: the companion side of build-cache's questions, in one process.
 * `build` makes the tree the nested compile-engines runs under.
 */
export function addSession(program: Command, io: ProgramIo, build: (io: ProgramIo) => Command): void {
  program
    .command("session")
    .description(
      "companion side of build-cache: readiness, tile and model listings, then compile-engines, in one process (run over SSH)",
    )
    .requiredOption("--cache-root <dir>", "the companion cache root the readiness checks judge")
    .option("--dry-run", "only look: do not create the cache root")
    .addHelpText(
      "after",
      `
Speaks operator-tool/companion-session@1 on stdin and stdout (docs/machine-output.md).

Examples:
  $ operator-tool session --cache-root /var/cache/operator-tool
`,
    )
    .action(
      action(io, async () => {
        const [{ companionSession }, { runProgram }] = await Promise.all([
          import("./commands/session.js"),
          import("./run-program.js"),
        ]);
        return (ctx, options: SessionOptions) =>
          companionSession(ctx, options, (args) => runProgram(args, io.cli, build));
      }),
    );
}

/** `compile-engines`: runs on the companion. */
export function addCompileEngines(program: Command, io: ProgramIo): void {
  const compile = program
    .command("compile-engines")
    .description(
      "compile or reuse the TensorRT engines of a model corpus, on the companion (exit 60/61/62 on failure)",
    )
    .addHelpText(
      "after",
      `
Each model's engine is reused only if its sidecar digest verifies and it was
built from the same ONNX (weights included), parameters and TensorRT; else it
is rebuilt, and --dry-run says why.

Examples:
  $ operator-tool compile-engines --corpus /opt/models/corpus.json --dry-run
  $ operator-tool compile-engines --corpus corpus.json --force dinov2_vpr --json
`,
    );
  for (const option of engineOptions()) compile.addOption(option);
  compile.action(
    action(io, async () => (await import("./commands/compile-engines.js")).compileEnginesCommand),
  );
}

/** Commander calls actions with (...positionals, options, command); positionals land in `options.args`. */
export function action<O>(io: ProgramIo, load: () => Promise<Handler<O>>) {
  return async (...received: unknown[]): Promise<void> => {
    const command = received.at(-1) as Command;
    const raw = { ...command.optsWithGlobals<RawCommandOptions & O>(), args: received.slice(0, -2) };
    const [{ createContext }, handler] = await Promise.all([import("./context.js"), load()]);
    const ctx = await createContext(raw, io.runtime, io.cli);
    io.onResult(await handler(ctx, raw), ctx);
  };
}
