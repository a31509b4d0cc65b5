import type { Readable, Writable } from "node:stream";
import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";
import { LineSplitter, RingBuffer } from "./line-splitter.js";
import { type RemoteEngineReport, remoteEngineReportSchema } from "./report-schema.js";

/** What the invoker needs of a remote process; the app adapts its SSH connection to this. */
export interface RemoteProcessLike {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  exit: Promise<{ code: number | null; signal: string | null }>;
  signal(name: string): void;
  close(): void;
}

export interface InvokeProvisionerOptions {
  exec(command: string): Promise<RemoteProcessLike>;
  /** The full remote command line, e.g. `operator-tool compile-engines --json --corpus …`. Never holds a secret. */
  command: string;
  /** Sent as one JSON line on stdin, never in argv or env. */
  secrets: Record<string, string>;
  /** Applied to every line before it is logged, kept or parsed. */
  redact: (text: string) => string;
  logger?: { debug(fields: object, message: string): void };
  /** Each line as it arrives, redacted: a live view of the remote build (its stderr is JSON log records). */
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
  signal?: AbortSignal;
  /** Lines kept of each stream for error messages. */
  tailLines?: number;
  /** How long Ctrl-C waits for the remote to exit after signalling it. */
  cancelGraceMs?: number;
}

export interface InvokeResult {
  report: RemoteEngineReport;
  exitCode: number;
  durationMs: number;
  stdoutLines: number;
  stderrLines: number;
}

export class RemoteBuildError extends OperatorToolError {
  constructor(
    message: string,
    readonly tail: string[],
    readonly report: RemoteEngineReport | undefined,
    options?: OperatorToolErrorOptions,
  ) {
    super("REMOTE_BUILD_FAILED", message, options);
  }
}

export class RemoteReportError extends OperatorToolError {
  constructor(
    message: string,
    readonly tail: string[],
    options?: OperatorToolErrorOptions,
  ) {
    super("REMOTE_REPORT_INVALID", message, options);
  }
}

/**
 * Runs the provisioning command on the companion: secrets on stdin, stdin then
 * held open as a lifeline, every output line redacted and logged as it
 * arrives, memory bounded, and the last stdout line parsed as the report.
 */
export async function invokeProvisioner(options: InvokeProvisionerOptions): Promise<InvokeResult> {
  const started = Date.now();
  const tail = new RingBuffer<string>(options.tailLines ?? 40);
  // The report is the last non-blank stdout line; a few are kept to find it.
  const lastStdoutLines = new RingBuffer<string>(8);
  let stdoutLines = 0;
  let stderrLines = 0;
  const proc = await options.exec(options.command);
  // Lines arrive already redacted: the splitter runs `redact` over each block of whole lines.
  const stdout = new LineSplitter(
    (line) => {
      stdoutLines++;
      lastStdoutLines.push(line);
      tail.push(line);
      options.logger?.debug({ remote: "stdout" }, line);
      options.onLine?.("stdout", line);
    },
    undefined,
    options.redact,
  );
  const stderr = new LineSplitter(
    (line) => {
      stderrLines++;
      tail.push(`[stderr] ${line}`);
      options.logger?.debug({ remote: "stderr" }, line);
      options.onLine?.("stderr", line);
    },
    undefined,
    options.redact,
  );
  proc.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  proc.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  proc.stdin.on("error", () => undefined); // a remote that exits early closes its stdin; the exit status says why
  proc.stdin.write(`${JSON.stringify(options.secrets)}\n`);

  let cancelled = false;
  const onAbort = () => {
    cancelled = true;
    proc.signal("TERM");
    proc.stdin.end(); // cut the lifeline: compile-engines cancels when stdin closes
    setTimeout(() => proc.close(), options.cancelGraceMs ?? 5_000).unref();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  let status: { code: number | null; signal: string | null };
  try {
    status = await proc.exit;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    proc.stdin.end();
  }
  stdout.end();
  stderr.end();
  if (cancelled) throw options.signal?.reason ?? new Error("cancelled");

  const base = { durationMs: Date.now() - started, stdoutLines, stderrLines };
  const tailLines = tail.toArray();
  const tailText = tailLines.slice(-10).join("\n");
  const lastStdout = lastStdoutLines
    .toArray()
    .reverse()
    .find((line) => line.trim() !== "");
  if (status.code === null) {
    const why =
      status.signal === null
        ? "ended without an exit status (the connection to the companion was lost?)"
        : `was killed by SIG${status.signal.replace(/^SIG/, "")}`;
    throw new RemoteBuildError(
      `the remote engine build ${why}; last output:\n${tailText}`,
      tailLines,
      undefined,
      {
        hint: "check the companion and the link, then re-run; finished engines are kept",
      },
    );
  }
  const report = parseReport(lastStdout);
  if (status.code !== 0) {
    const reason = report.ok && report.value.error !== undefined ? `: ${report.value.error.message}` : "";
    throw new RemoteBuildError(
      `the remote engine build exited ${status.code}${reason}`,
      tailLines,
      report.ok ? report.value : undefined,
      {
        hint: "the streamed remote output is in the log (--log-level debug)",
      },
    );
  }
  if (!report.ok) {
    throw new RemoteReportError(
      `the remote engine build exited 0 but ${report.problem}; last output:\n${tailText}`,
      tailLines,
      {
        hint: "check --remote-command runs an operator-tool that speaks operator-tool/engine-report@1",
        cause: report.cause,
      },
    );
  }
  if (report.value.outcome === "failure") {
    throw new RemoteBuildError(
      `the remote engine build reported failure: ${report.value.error?.message ?? "no detail"}`,
      tailLines,
      report.value,
    );
  }
  return { report: report.value, exitCode: status.code, ...base };
}

function parseReport(
  line: string | undefined,
): { ok: true; value: RemoteEngineReport } | { ok: false; problem: string; cause?: unknown } {
  if (line === undefined) return { ok: false, problem: "printed no report (stdout was empty)" };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    return { ok: false, problem: "its last stdout line is not JSON", cause: error };
  }
  const parsed = remoteEngineReportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      problem: `its report does not match engine-report@1 (${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"})`,
      cause: parsed.error,
    };
  }
  return { ok: true, value: parsed.data };
}
