import { PassThrough, type Readable } from "node:stream";
import type { CompanionConnection, RemoteProcess } from "./connection.js";
import {
  type PushedListing,
  SESSION_PROTOCOL,
  type SessionHello,
  type SessionRequest,
  type SessionResponse,
} from "./session-protocol.js";
import { shellQuote } from "./shell-quote.js";

/** The wrapper `companion install` writes, as a companion shell finds it. */
export const INSTALLED_WRAPPER = "$HOME/.local/bin/operator-tool";

/** How long a companion may take to start operator-tool and say hello (a cold Jetson's disk is slow). */
const HELLO_TIMEOUT_MS = 60_000;

/**
 * Sets `$c` to the command that runs operator-tool there: the given one, else
 * the wrapper `companion install` puts in ~/.local/bin when it is there (a
 * non-login shell's PATH seldom has it, and it is the one the operator
 * installed on purpose), else `operator-tool` on the PATH an SSH command gets.
 */
export function findCommandFragment(remoteCommand: string | undefined): string {
  return remoteCommand === undefined
    ? // The wrapper's path comes back quoted, so a home with a space in it still runs.
      `if [ -x "${INSTALLED_WRAPPER}" ]; then c=$(printf "'%s'" "${INSTALLED_WRAPPER}"); else c=operator-tool; fi`
    : `c=${shellQuote(remoteCommand)}`;
}

export interface SessionStart {
  /** The command that runs operator-tool there: the given one, or the one found (a shell fragment). */
  remoteCommand: string;
  /** Present when the companion's operator-tool speaks the session protocol. */
  hello: SessionHello | undefined;
  /** Open while `hello` is present; close it when done. */
  session: CompanionSession | undefined;
  /** Why there is no session (the last stderr line, or the exit status), for the log. */
  noSessionReason: string | undefined;
}

/**
 * Starts `operator-tool session` on the companion in one exec: its hello
 * carries the readiness facts. A companion without operator-tool, or with
 * one that predates the session, answers no hello; the caller then falls
 * back to asking the shell.
 */
export async function startSession(
  conn: CompanionConnection,
  options: { remoteCommand: string | undefined; cacheRoot: string; dryRun: boolean },
): Promise<SessionStart> {
  const args = ["session", "--cache-root", options.cacheRoot, ...(options.dryRun ? ["--dry-run"] : [])];
  const script = [
    findCommandFragment(options.remoteCommand),
    `printf 'command=%s\\n' "$c"`,
    `set -- ${args.map(shellQuote).join(" ")}`,
    // $c is expanded here, the arguments by eval: a command given as a shell fragment still runs.
    `eval "$c \\"\\$@\\""`,
  ].join("\n");
  const proc = await conn.exec(`sh -c ${shellQuote(script)}`);
  const session = new CompanionSession(proc);
  const commandLine = await session.nextLine(HELLO_TIMEOUT_MS);
  const remoteCommand =
    options.remoteCommand ??
    (commandLine?.startsWith("command=") ? commandLine.slice("command=".length) : "operator-tool");
  const helloLine = commandLine === undefined ? undefined : await session.nextLine(HELLO_TIMEOUT_MS);
  const hello = helloLine === undefined ? undefined : parseHello(helloLine);
  if (hello !== undefined) return { remoteCommand, hello, session, noSessionReason: undefined };
  session.close();
  const status = await Promise.race([
    proc.exit,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000).unref()),
  ]);
  // Still running (it never said hello, nor ended with its stdin): the channel goes.
  if (status === undefined) proc.close();
  const why =
    session.stderrTail() ||
    (helloLine !== undefined
      ? `it printed ${JSON.stringify(helloLine.slice(0, 80))}`
      : `exit ${status?.code ?? status?.signal ?? "unknown"}`);
  return { remoteCommand, hello: undefined, session: undefined, noSessionReason: why };
}

function parseHello(line: string): SessionHello | undefined {
  try {
    const value = JSON.parse(line) as Partial<SessionHello>;
    if (
      value?.protocol !== SESSION_PROTOCOL ||
      typeof value.version !== "string" ||
      typeof value.arch !== "string" ||
      typeof value.tegra !== "string" ||
      typeof value.writable !== "boolean" ||
      !(value.availKb === null || typeof value.availKb === "number")
    )
      return undefined;
    return value as SessionHello;
  } catch {
    return undefined;
  }
}

/** A request the companion answered with an error (its code, message and hint). */
export class SessionRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | undefined,
  ) {
    super(message);
    this.name = "SessionRequestError";
  }
}

/**
 * The workstation's end of a companion session: one request at a time, each
 * answered by one stdout line; `handOver` ends it by turning the process into
 * compile-engines.
 */
export class CompanionSession {
  readonly #proc: RemoteProcess;
  /** The start of a line not yet ended: kept as chunks, joined once its newline arrives. */
  #partial: Buffer[] = [];
  readonly #lines: string[] = [];
  #waiter: ((line: string | undefined) => void) | undefined;
  #ended = false;
  #done = false;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #stderr: string[] = [];

  constructor(proc: RemoteProcess) {
    this.#proc = proc;
    proc.stdout.on("data", this.#onData);
    proc.stdout.once("end", this.#onEnd);
    proc.stderr.on("data", this.#onStderr);
    proc.stdin.on("error", () => undefined); // a session that exits early; its exit says why
    void proc.exit.then(() => setImmediate(this.#onEnd));
  }

  /** False once handed over or closed: requests then go the old way (one process each). */
  get open(): boolean {
    return !this.#done && !this.#ended;
  }

  readonly #onData = (chunk: Buffer) => {
    // Only the new chunk is searched: a listing line of many MiB arrives in many chunks.
    let rest = chunk;
    for (let at = rest.indexOf(10); at >= 0; at = rest.indexOf(10)) {
      this.#partial.push(rest.subarray(0, at));
      const line = Buffer.concat(this.#partial).toString("utf8");
      this.#partial = [];
      rest = rest.subarray(at + 1);
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (waiter !== undefined) waiter(line);
      else this.#lines.push(line);
    }
    if (rest.length > 0) this.#partial.push(rest);
  };

  readonly #onEnd = () => {
    this.#ended = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(undefined);
  };

  readonly #onStderr = (chunk: Buffer) => {
    this.#stderr.push(
      ...chunk
        .toString("utf8")
        .split("\n")
        .filter((l) => l.trim() !== ""),
    );
    if (this.#stderr.length > 20) this.#stderr.splice(0, this.#stderr.length - 20);
  };

  /** The last line the session printed on stderr (for an error message). */
  stderrTail(): string {
    return this.#stderr.at(-1) ?? "";
  }

  /** The next stdout line; undefined when the session ends (or says nothing for `timeoutMs`). */
  nextLine(timeoutMs?: number): Promise<string | undefined> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.#onEnd(), timeoutMs).unref();
      this.#waiter = (line) => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(line);
      };
    });
  }

  /**
   * Sends one request and waits for its answer; throws `SessionRequestError`
   * for the companion's refusal. An abort ends the session (its process exits)
   * and rejects with the signal's reason.
   */
  request(
    request: Exclude<SessionRequest, { op: "compile-engines" }>,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const next = this.#queue.then(async () => {
      signal?.throwIfAborted();
      if (!this.open)
        throw new SessionRequestError("TILE_SYNC_FAILED", "the companion session is closed", undefined);
      this.#proc.stdin.write(`${JSON.stringify(request)}\n`);
      const onAbort = () => {
        this.close();
        this.#proc.close();
        this.#onEnd();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      let line: string | undefined;
      try {
        line = await this.nextLine();
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
      signal?.throwIfAborted();
      if (line === undefined) {
        const status = await this.#proc.exit;
        throw new SessionRequestError(
          "TILE_SYNC_FAILED",
          `the companion session ended (exit ${status.code ?? status.signal ?? "unknown"}) while answering ${request.op}: ${this.stderrTail() || "no message"}`,
          undefined,
        );
      }
      let response: SessionResponse;
      try {
        response = JSON.parse(line) as SessionResponse;
      } catch {
        throw new SessionRequestError(
          "TILE_SYNC_FAILED",
          `the companion session answered ${request.op} with ${JSON.stringify(line.slice(0, 120))}, not JSON`,
          undefined,
        );
      }
      if (response.ok) return response.result;
      throw new SessionRequestError(response.error.code, response.error.message, response.error.hint);
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** The tiles under `root` with digests: the line `tiles receive --list-first` would print. */
  async listTiles(root: string, signal?: AbortSignal): Promise<string> {
    return JSON.stringify(await this.request({ op: "list-tiles", root }, signal));
  }

  /** A pushed directory's manifest and file stats (see remote-files' listing). */
  async listPushed(dir: string, manifest: string, signal?: AbortSignal): Promise<PushedListing> {
    const result = (await this.request({ op: "list-pushed", dir, manifest }, signal)) as PushedListing;
    if (!Array.isArray(result?.manifest) || !Array.isArray(result?.stat))
      throw new SessionRequestError(
        "MODEL_SYNC_FAILED",
        `the companion's listing of ${dir} is malformed`,
        undefined,
      );
    return result;
  }

  /**
   * Ends the session by running ARGS (`compile-engines …`) in its process: the
   * returned process is that run's (stdin takes the secrets line and is its
   * lifeline, stdout ends with the report, the exit status is its own).
   */
  async handOver(args: string[]): Promise<RemoteProcess> {
    await this.#queue;
    if (!this.open) throw new Error("the companion session is no longer open");
    this.#done = true;
    const proc = this.#proc;
    proc.stdout.off("data", this.#onData);
    proc.stdout.off("end", this.#onEnd);
    proc.stderr.off("data", this.#onStderr);
    // Both streams through pipes of their own: nothing arriving before the caller listens is lost.
    const stdout = new PassThrough();
    for (const line of this.#lines.splice(0)) stdout.write(`${line}\n`);
    for (const part of this.#partial.splice(0)) stdout.write(part);
    (proc.stdout as Readable).pipe(stdout);
    const stderr = new PassThrough();
    (proc.stderr as Readable).pipe(stderr);
    proc.stdin.write(`${JSON.stringify({ op: "compile-engines", args } satisfies SessionRequest)}\n`);
    return { ...proc, stdout, stderr };
  }

  /** Ends the session (its process exits when stdin closes). */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#proc.stdin.end();
  }
}
