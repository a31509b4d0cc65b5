#!/usr/bin/env node
/**
 * operator-tool as installed on a companion (`companion install` bundles this
 * entry): only what runs there — `--version`, `tiles receive` and
 * `compile-engines` — so the bundle carries none of the workstation's code
 * (SSH client, HTTP client, tile downloader, their help).
 */
import { isOperatorToolError } from "@operator-tool/errors";
import { Command, CommanderError, Option } from "commander";
import type { CommandResult } from "./command-result.js";
import type { CommandContext, RawCommandOptions } from "./context.js";
import { EXIT_CODES, exitCodeFor } from "./exit-codes.js";
import { engineOptions } from "./options.js";
import { interrupt, interruptSignal, redact } from "./runtime.js";
import { toolVersion } from "./version.js";

// As in cli.ts: engine and tile writes fsync on libuv's pool, 4 threads by default.
process.env.UV_THREADPOOL_SIZE ??= "16";

type Handler = (ctx: CommandContext, options: never) => Promise<CommandResult>;

export async function runCompanionCli(args: string[]): Promise<number> {
  let exitCode: number = EXIT_CODES.SUCCESS;
  let json = args.includes("--json");
  const onSignal = (name: NodeJS.Signals) => {
    if (interruptSignal.aborted) process.exit(130);
    interrupt(name);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const action =
    (load: () => Promise<Handler>) =>
    async (...received: unknown[]): Promise<void> => {
      const command = received.at(-1) as Command;
      const raw = { ...command.optsWithGlobals<RawCommandOptions>(), args: received.slice(0, -2) };
      const [{ createContext }, handler] = await Promise.all([import("./context.js"), load()]);
      const ctx = await createContext(raw);
      const result = await handler(ctx, raw as never);
      json = ctx.json;
      const out = json
        ? JSON.stringify(ctx.redactor.redactValue(result.data))
        : ctx.redactor.redact(result.text);
      if (out !== "") process.stdout.write(`${out}\n`);
      if (result.errorLine !== undefined)
        process.stderr.write(`${ctx.redactor.redact(`error: ${result.errorLine}`)}\n`);
      exitCode = result.exitCode;
    };

  const program = new Command("operator-tool")
    .description("operator-tool on the companion: receives tiles and compiles engines for the workstation")
    .version(toolVersion(), "-V, --version", "print the version")
    .exitOverride()
    .addOption(new Option("--config <file>", "config file"))
    .addOption(
      new Option("--log-level <level>", "log level").choices([
        "trace",
        "debug",
        "info",
        "warn",
        "error",
        "silent",
      ]),
    )
    .addOption(new Option("--log-format <format>", "log format on stderr").choices(["json", "pretty"]))
    .addOption(new Option("--json", "print the command's result as one JSON document on stdout"));
  program
    .command("tiles")
    .description("the companion side of the tile sync")
    .command("receive")
    .description("receive verified tiles on stdin (run by build-cache over SSH)")
    .requiredOption("--root <dir>", "directory the tiles land in")
    .option("--list", "print the files already here, with sha256, as JSON, and exit")
    .option("--list-first", "print that listing as the first line, then receive")
    .action(action(async () => (await import("./commands/tiles-receive.js")).tilesReceive as Handler));
  const compile = program
    .command("compile-engines")
    .description("compile or reuse the engines of a model corpus (exit 60/61/62 on failure)");
  for (const option of engineOptions()) compile.addOption(option);
  compile.action(
    action(async () => (await import("./commands/compile-engines.js")).compileEnginesCommand as Handler),
  );

  try {
    await program.parseAsync(args, { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError)
      return error.code === "commander.helpDisplayed" || error.code === "commander.version"
        ? EXIT_CODES.SUCCESS
        : EXIT_CODES.USAGE;
    const code = interruptSignal.aborted
      ? "INTERRUPTED"
      : isOperatorToolError(error)
        ? error.code
        : undefined;
    if (code !== undefined && exitCodeFor(code) !== EXIT_CODES.INTERNAL) {
      const { message, hint } = error as { message: string; hint?: string };
      const shown = interruptSignal.aborted ? (interruptSignal.reason as Error).message : message;
      process.stderr.write(`${redact(`error: ${shown}${hint ? ` — ${hint}` : ""}`)}\n`);
      if (json)
        process.stdout.write(
          `${redact(JSON.stringify({ error: { code, exitCode: exitCodeFor(code), message: shown, hint } }))}\n`,
        );
      return exitCodeFor(code);
    }
    process.stderr.write(
      redact(`internal error (a bug in operator-tool): ${(error as Error)?.stack ?? String(error)}\n`),
    );
    return EXIT_CODES.INTERNAL;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

const code = await runCompanionCli(process.argv.slice(2));
await Promise.all([drain(process.stdout), drain(process.stderr)]);
process.exit(code);

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write("", () => resolve());
  });
}
