import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { findExecutable } from "@operator-tool/executable-lookup";
import { fsyncEachSync } from "./temp-file-sync.js";

let lookedUp: { searchPath: string | undefined; sync: string | undefined } | undefined;

/**
 * Where `sync` lives (for `sync -f`, a syncfs of one filesystem), looked up
 * once per PATH: a search per group costs a few failed stats. Undefined when
 * there is none.
 */
export function syncCommand(): string | undefined {
  const searchPath = process.env.PATH;
  if (lookedUp === undefined || lookedUp.searchPath !== searchPath)
    lookedUp = { searchPath, sync: findExecutable("sync") };
  return lookedUp.sync;
}

type Shell = ChildProcessByStdio<Writable, Readable, null>;

// Reads one path per line and answers each with `sync -f`'s exit status.
const LOOP = 'while IFS= read -r p; do "$0" -f "$p" 2>/dev/null; echo $?; done';

/**
 * syncfs(2), which Node has no binding for, through one long-lived `sh` that
 * runs `sync -f` per request. Spawning `sync` straight from Node forks the
 * whole Node process each time: several milliseconds per group for a process
 * of a few hundred MiB, on the thread that asked. `sh` forks in a fraction.
 * Requests are answered in order; the shell is started on first use and
 * holds the event loop open only while a request is outstanding.
 */
export class SyncfsRunner {
  #child: Shell | undefined;
  #pending: Array<(synced: boolean) => void> = [];
  #output = "";
  #broken = false;

  /**
   * Resolves true once the filesystem holding `path` is synced; false where
   * that cannot be done here (no `sync` or `sh`, a failing `sync -f`): the
   * caller then fsyncs each file itself.
   */
  syncfs(path: string): Promise<boolean> {
    const child = path.includes("\n") ? undefined : this.#start();
    if (child === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      if (this.#pending.length === 0) this.#hold(child, true);
      this.#pending.push(resolve);
      child.stdin.write(`${path}\n`);
    });
  }

  /**
   * Makes files written but not yet synced durable before their rename: one
   * syncfs for all of them, or, where that cannot run, one fsync each. False
   * in that second case: the caller should fsync each file as it writes it
   * from then on.
   */
  async makeDurable(paths: readonly string[]): Promise<boolean> {
    if (paths.length === 0) return true;
    if (await this.syncfs(paths[0]!)) return true;
    fsyncEachSync(paths);
    return false;
  }

  /** Lets the shell exit once it has answered what is outstanding. */
  close(): void {
    this.#child?.stdin.end();
    this.#child = undefined;
  }

  #start(): Shell | undefined {
    if (this.#child !== undefined || this.#broken) return this.#child;
    const sync = syncCommand();
    if (sync === undefined) {
      this.#broken = true;
      return undefined;
    }
    const child = spawn("/bin/sh", ["-c", LOOP, sync], { stdio: ["pipe", "pipe", "ignore"] });
    const fail = () => {
      this.#broken = true;
      if (this.#child === child) this.#child = undefined;
      for (const resolve of this.#pending.splice(0)) resolve(false);
    };
    child.once("error", fail);
    child.once("exit", fail);
    child.stdin.on("error", fail);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text: string) => {
      this.#output += text;
      for (let newline = this.#output.indexOf("\n"); newline >= 0; newline = this.#output.indexOf("\n")) {
        const status = this.#output.slice(0, newline);
        this.#output = this.#output.slice(newline + 1);
        this.#pending.shift()?.(status === "0");
      }
      if (this.#pending.length === 0) this.#hold(child, false);
    });
    this.#hold(child, false);
    this.#child = child;
    return child;
  }

  /** Keeps the event loop alive for the shell only while it owes an answer. */
  #hold(child: Shell, held: boolean): void {
    // The pipes are sockets underneath, with ref/unref, though not typed so.
    const pipes = [child.stdin, child.stdout] as unknown as Array<{ ref(): void; unref(): void }>;
    if (held) {
      child.ref();
      for (const pipe of pipes) pipe.ref();
    } else {
      child.unref();
      for (const pipe of pipes) pipe.unref();
    }
  }
}
