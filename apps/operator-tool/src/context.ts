import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { InvalidArgumentError } from "@operator-tool/errors";
import {
  createLogger,
  type LogFormat,
  type Logger,
  type LogLevel,
  SecretRedactor,
} from "@operator-tool/logger";
import type { ConfigFile } from "./config/config-schema.js";
import { type LoadedConfig, loadConfig } from "./config/load-config.js";
import type { CliRuntime } from "./runtime.js";
import { Terminal } from "./terminal.js";

/** Where a CLI call reads and writes: the process's, or a test's. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal: live progress bars, pretty logs. */
  stderrIsTTY?: boolean;
  /** The terminal's width, read at each redraw (it may be resized). */
  stderrColumns?: () => number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** SIGINT/SIGTERM, or a test's own cancellation. */
  signal?: AbortSignal;
}

/** The logger methods phases use; a pino logger, or a run's logger that also writes its file. */
export interface LogSink {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What one piece of work runs under: the cancellation and the logger of its command or run. */
export interface RunScope {
  signal: AbortSignal;
  logger: LogSink;
}

/** What every command gets: merged options, secrets, a redacting logger, cancellation, output. */
export interface CommandContext {
  config: LoadedConfig;
  logger: Logger;
  redactor: SecretRedactor;
  secrets: Secrets;
  json: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Cancels this command (a lifeline cut): it stops, and exits 130. */
  interrupt(reason: string): void;
  /** Tells the error boundary where this run's full log is. */
  setLogPath(path: string): void;
  /** Text on stdout, redacted, as it happens (ahead of the result). */
  out(text: string): void;
  /** Text on stderr, redacted. */
  err(text: string): void;
  stderrIsTTY: boolean;
  /** stderr's log records and, on a live terminal, the live area below them. */
  terminal: Terminal;
  /** Flag value if given, else the config file's, else the built-in default. */
  option<K extends keyof OptionValues>(key: K): OptionValues[K];
  /** A logger like `logger` that also writes every record (debug and up) to a JSON-lines file. */
  loggerWithFile(path: string): Promise<Logger>;
  /** One JSON line on stdout, redacted: progress events ahead of a `--json` result. */
  writeLine(value: unknown): void;
  /** Like `option`, but an operator-facing error naming flag and config key when unset. */
  requireOption<K extends keyof OptionValues>(key: K): NonNullable<OptionValues[K]>;
}

export interface Secrets {
  flightsApiToken: string | undefined;
  apiKey: string | undefined;
  sshPassphrase: string | undefined;
}

export type OptionValues = ConfigFile & typeof DEFAULTS;

export const DEFAULTS = {
  bboxBufferM: 500,
  coverage: "corridor" as "corridor" | "bbox",
  maxTiles: 50_000,
  concurrency: 8,
  zoom: "16-18",
  flightsApiTimeout: 15,
  lockTimeout: 0,
  companionCacheRoot: "/var/cache/operator-tool",
  engineMarginMb: 2048,
  stagingRoot: defaultStagingRoot(),
};

export const SECRET_ENV = {
  apiKey: "OPERATOR_TOOL_API_KEY",
  flightsApiToken: "OPERATOR_TOOL_FLIGHTS_API_TOKEN",
  sshPassphrase: "OPERATOR_TOOL_SSH_PASSPHRASE",
} as const;

export interface RawCommandOptions extends Partial<Record<string, unknown>> {
  config?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  json?: boolean;
  apiKey?: string;
}

export async function createContext(
  raw: RawCommandOptions,
  runtime: CliRuntime,
  io: CliIo,
): Promise<CommandContext> {
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  // Secrets from the environment are known before anything can fail and print.
  const redactor = new SecretRedactor([
    env[SECRET_ENV.apiKey],
    env[SECRET_ENV.flightsApiToken],
    env[SECRET_ENV.sshPassphrase],
    raw.apiKey,
  ]);
  runtime.setRedaction((text) => redactor.redact(text));

  const config = await loadConfig(raw.config, cwd);
  const option = <K extends keyof OptionValues>(key: K): OptionValues[K] => {
    const fromFlag = raw[key];
    if (fromFlag !== undefined) return fromFlag as OptionValues[K];
    const fromConfig = config.values[key as keyof ConfigFile];
    if (fromConfig !== undefined) return fromConfig as OptionValues[K];
    return (DEFAULTS as Partial<OptionValues>)[key] as OptionValues[K];
  };
  const requireOption = <K extends keyof OptionValues>(key: K): NonNullable<OptionValues[K]> => {
    const value = option(key);
    if (value === undefined || value === null) {
      throw new InvalidArgumentError(`${flagName(String(key))} is not set`, {
        hint: `pass ${flagName(String(key))}, or set "${String(key)}" in operator-tool.config.json`,
      });
    }
    return value as NonNullable<OptionValues[K]>;
  };

  const secrets: Secrets = {
    flightsApiToken: await secretFrom(
      option("flightsApiTokenFile"),
      "--flights-api-token-file",
      env[SECRET_ENV.flightsApiToken],
    ),
    apiKey: raw.apiKey ?? (await secretFrom(option("apiKeyFile"), "--api-key-file", env[SECRET_ENV.apiKey])),
    sshPassphrase: env[SECRET_ENV.sshPassphrase] || undefined,
  };
  for (const value of Object.values(secrets)) redactor.add(value);

  const logLevel = raw.logLevel ?? config.values.logLevel ?? "info";
  const stderrIsTTY = io.stderrIsTTY === true;
  const logFormat = raw.logFormat ?? config.values.logFormat ?? (stderrIsTTY ? "pretty" : "json");
  // A live area only on a terminal a person watches: not in CI, not under --json (a script reads it).
  const ci = env.CI === "true" || env.CI === "1";
  const live = stderrIsTTY && raw.json !== true && !ci;
  // Colour only for a person at a terminal: CI logs keep no escape codes.
  const colorize = stderrIsTTY && !ci;
  const terminal = new Terminal((text) => io.stderr(redactor.redact(text)), live, io.stderrColumns);
  // Log records go through the terminal when it may hold a live area, so they print above it.
  const write = live ? (text: string) => terminal.log(text) : undefined;
  const logger = await createLogger({
    level: logLevel,
    format: logFormat,
    redactor,
    colorize,
    ...(write === undefined ? {} : { write }),
  });
  if (raw.apiKey !== undefined) {
    logger.warn(
      "--api-key is visible to every user of this machine (ps, shell history); prefer OPERATOR_TOOL_API_KEY or --api-key-file",
    );
  }
  if (config.path !== undefined) logger.debug({ config: config.path }, "loaded config file");

  return {
    config,
    logger,
    redactor,
    secrets,
    json: raw.json === true,
    cwd,
    env,
    signal: runtime.signal,
    interrupt: (reason) => runtime.interrupt(reason),
    setLogPath: (path) => {
      runtime.logPath = path;
    },
    out: (text) => io.stdout(redactor.redact(text)),
    err: (text) => io.stderr(redactor.redact(text)),
    stderrIsTTY,
    option,
    requireOption,
    terminal,
    loggerWithFile: (path) =>
      createLogger({
        level: logLevel,
        format: logFormat,
        redactor,
        files: [{ path, level: "debug" }],
        colorize,
        ...(write === undefined ? {} : { write }),
      }),
    writeLine: (value) => io.stdout(`${JSON.stringify(redactor.redactValue(value))}\n`),
  };
}

/** A secret file wins over the environment: it was named explicitly for this run. */
async function secretFrom(
  file: string | undefined,
  flag: string,
  fromEnv: string | undefined,
): Promise<string | undefined> {
  if (file === undefined) return fromEnv || undefined;
  let text: string;
  try {
    text = await readFile(resolve(file), "utf8");
  } catch (error) {
    throw new InvalidArgumentError(
      `${flag} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      { hint: `check the path given to ${flag}`, cause: error },
    );
  }
  const value = text.trim();
  if (value === "")
    throw new InvalidArgumentError(`${flag} ${file} is empty`, {
      hint: "put the secret on the file's first line",
    });
  return value;
}

export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function defaultStagingRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "operator-tool");
}
