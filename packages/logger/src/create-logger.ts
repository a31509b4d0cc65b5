import { type DestinationStream, destination, type Logger, multistream, pino, type StreamEntry } from "pino";
import type { SecretRedactor } from "./secret-redactor.js";

export type { Logger } from "pino";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
export type LogFormat = "json" | "pretty";

export interface LogFileTarget {
  path: string;
  level: LogLevel;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  redactor: SecretRedactor;
  /** File descriptor for the console stream; stderr by default so stdout stays the command's result. */
  fd?: number;
  /** Extra JSON-lines files (a run's full debug log), each with its own level. */
  files?: LogFileTarget[];
  /** Colour in pretty mode; defaults to whether the fd is a TTY. */
  colorize?: boolean;
  /**
   * Where console records go instead of `fd`, already formatted and redacted,
   * one call per record: a live terminal view prints them above its area.
   */
  write?: (text: string) => void;
}

const LEVEL_ORDER: LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/**
 * Every byte pino writes passes through `streamWrite`, after serialisation, so
 * the redactor sees structured fields, messages and error stacks alike.
 */
export async function createLogger(options: LoggerOptions): Promise<Logger> {
  const fd = options.fd ?? 2;
  const streams: StreamEntry[] = [];
  if (options.level !== "silent") {
    streams.push({ level: options.level, stream: await consoleStream(options, fd) });
  }
  for (const file of options.files ?? []) {
    if (file.level === "silent") continue;
    const stream = destination({ dest: file.path, sync: true, mkdir: true, append: true });
    streams.push({ level: file.level, stream });
  }
  const minLevel = streams.reduce<LogLevel>(
    (min, entry) =>
      LEVEL_ORDER.indexOf(entry.level as LogLevel) < LEVEL_ORDER.indexOf(min)
        ? (entry.level as LogLevel)
        : min,
    "silent",
  );
  const redactor = options.redactor;
  return pino(
    {
      level: minLevel,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: (line) => redactor.redact(line) },
      formatters: { level: (label) => ({ level: label }) },
    },
    streams.length === 0 ? destination({ dest: "/dev/null", sync: true }) : multistream(streams),
  );
}

async function consoleStream(options: LoggerOptions, fd: number): Promise<DestinationStream> {
  const write = options.write;
  if (options.format === "json")
    return write === undefined ? destination({ dest: fd, sync: true }) : { write: (line) => write(line) };
  const prettyOptions = {
    colorize: options.colorize ?? process.stderr.isTTY === true,
    translateTime: "SYS:HH:MM:ss",
    ignore: "pid,hostname",
    // One line per record, its fields inline after the message: a record never
    // spreads over lines of its own, and a live view above which it prints stays whole.
    singleLine: true,
  };
  if (write === undefined) {
    const { build: pretty } = await import("pino-pretty");
    return pretty({ ...prettyOptions, destination: fd, sync: true });
  }
  const { prettyFactory } = await import("pino-pretty");
  const prettify = prettyFactory(prettyOptions);
  return { write: (line) => write(prettify(line)) };
}
