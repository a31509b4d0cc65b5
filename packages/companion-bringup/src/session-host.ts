import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
} from "node:fs";
import { machine } from "node:os";
import { dirname, join, relative } from "node:path";
import type { Readable } from "node:stream";
import { describeFailure, InvalidArgumentError } from "@operator-tool/errors";
import {
  type PushedListing,
  SESSION_PROTOCOL,
  type SessionHello,
  type SessionRequest,
  type SessionResponse,
} from "./session-protocol.js";
import { listReceivedFilesKeepingManifest } from "./tile-receiver.js";

export interface ServeSessionOptions {
  version: string;
  cacheRoot: string;
  /** Only look: the cache root is not created. */
  dryRun: boolean;
  /** The session's stdin; at a `compile-engines` request, what follows it is put back for compile-engines to read. */
  input: Readable;
  write(text: string): void;
  /** Ctrl-C or SIGTERM: an idle session ends. */
  signal?: AbortSignal | undefined;
  /** Where the L4T release line is read (tests point it at fake Jetson files). */
  tegraReleasePath?: string;
}

/** How a session ended: stdin closed, or compile-engines is to run on the same stdio (`args` starts with `compile-engines`). */
export type SessionEnd = { kind: "closed" } | { kind: "compile-engines"; args: string[] };

/**
 * The companion side of the session (see session-protocol.ts): says hello,
 * answers each request line in order, and returns when stdin closes, the
 * signal fires (a signal to an idle session ends it at once), or
 * compile-engines is asked for.
 */
export function serveSession(options: ServeSessionOptions): Promise<SessionEnd> {
  options.write(`${JSON.stringify(sessionHello(options))}\n`);
  const { input, signal } = options;
  return new Promise((resolve) => {
    let pending: Buffer = Buffer.alloc(0);
    // Answers go out in request order; a listing may take a while (it hashes what the manifest lacks).
    let answered: Promise<void> = Promise.resolve();
    let finished = false;
    const finish = (end: SessionEnd) => {
      if (finished) return;
      finished = true;
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onEnd);
      signal?.removeEventListener("abort", onEnd);
      void answered.then(() => resolve(end));
    };
    const onEnd = () => finish({ kind: "closed" });
    const onData = (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (let at = pending.indexOf(10); at >= 0; at = pending.indexOf(10)) {
        const line = pending.subarray(0, at).toString("utf8");
        pending = pending.subarray(at + 1);
        if (line.trim() === "") continue;
        const request = parseRequest(line);
        if (!request.ok) {
          const refusal = failure(request.error);
          answered = answered.then(() => options.write(`${JSON.stringify(refusal)}\n`));
          continue;
        }
        const value = request.value;
        if (value.op === "compile-engines") {
          input.pause();
          // The secrets line and whatever follows belong to compile-engines.
          if (pending.length > 0) input.unshift(pending);
          finish({ kind: "compile-engines", args: value.args });
          return;
        }
        answered = answered.then(async () => {
          options.write(`${JSON.stringify(await answer(value))}\n`);
        });
      }
    };
    input.on("data", onData);
    input.once("end", onEnd);
    input.once("error", onEnd);
    if (signal?.aborted) onEnd();
    else signal?.addEventListener("abort", onEnd, { once: true });
  });
}

/** The readiness facts, read in this process: what the shell checks would print. */
export function sessionHello(
  options: Pick<ServeSessionOptions, "version" | "cacheRoot" | "dryRun" | "tegraReleasePath">,
): SessionHello {
  let dir = options.cacheRoot;
  if (options.dryRun) {
    // Judged on the root, or the nearest directory above it that exists.
    while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  } else {
    try {
      mkdirSync(dir, { recursive: true });
    } catch {
      // judged below: not a writable directory
    }
  }
  let writable = false;
  try {
    writable = statSync(dir).isDirectory();
    accessSync(dir, constants.W_OK);
  } catch {
    writable = false;
  }
  let availKb: number | null = null;
  try {
    const fs = statfsSync(dir);
    availKb = Math.floor((fs.bavail * fs.bsize) / 1024);
  } catch {
    availKb = null;
  }
  let tegra = "";
  try {
    tegra = (
      readFileSync(options.tegraReleasePath ?? "/etc/nv_tegra_release", "utf8").split("\n")[0] ?? ""
    ).trim();
  } catch {
    tegra = "";
  }
  return { protocol: SESSION_PROTOCOL, version: options.version, arch: machine(), tegra, writable, availKb };
}

async function answer(request: Exclude<SessionRequest, { op: "compile-engines" }>): Promise<SessionResponse> {
  try {
    switch (request.op) {
      case "list-tiles":
        return { ok: true, result: { files: await listReceivedFilesKeepingManifest(request.root) } };
      case "list-pushed":
        return { ok: true, result: listPushedFiles(request.dir, request.manifest) };
    }
  } catch (error) {
    return failure(error);
  }
}

function failure(error: unknown): SessionResponse {
  const { code, message, hint } = describeFailure(error);
  return { ok: false, error: { code, message, hint } };
}

function parseRequest(line: string): { ok: true; value: SessionRequest } | { ok: false; error: Error } {
  const bad = (why: string) => ({
    ok: false as const,
    error: new InvalidArgumentError(`session request ${JSON.stringify(line.slice(0, 120))} ${why}`, {
      hint: "the workstation and the companion run different operator-tool versions: run `operator-tool companion install`",
    }),
  });
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return bad("is not JSON");
  }
  const r = value as Record<string, unknown>;
  if (typeof r !== "object" || r === null) return bad("is not an object");
  const isString = (v: unknown) => typeof v === "string" && v !== "";
  if (r.op === "list-tiles" && isString(r.root))
    return { ok: true, value: { op: "list-tiles", root: r.root as string } };
  if (r.op === "list-pushed" && isString(r.dir) && isString(r.manifest))
    return { ok: true, value: { op: "list-pushed", dir: r.dir as string, manifest: r.manifest as string } };
  // Only ever compile-engines: the session runs no other command.
  if (
    r.op === "compile-engines" &&
    Array.isArray(r.args) &&
    r.args[0] === "compile-engines" &&
    r.args.every((a) => typeof a === "string")
  )
    return { ok: true, value: { op: "compile-engines", args: r.args as string[] } };
  return bad("is not one this operator-tool answers");
}

/**
 * A pushed directory's manifest and files, in the shell listing's format:
 * temp files a kill left behind (`*.partial.*`) are removed, symlinks and
 * the manifest itself are not files of the push.
 */
export function listPushedFiles(dir: string, manifestName: string): PushedListing {
  let manifest: string[] = [];
  try {
    manifest = readFileSync(join(dir, manifestName), "utf8")
      .split("\n")
      .filter((l) => l !== "");
  } catch {
    manifest = [];
  }
  const stat: string[] = [];
  const walk = (at: string) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const abs = join(at, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (!entry.isFile()) continue;
      else if (entry.name.includes(".partial.")) rmSync(abs, { force: true });
      else if (entry.name !== manifestName) {
        const info = statSync(abs, { throwIfNoEntry: false });
        if (info !== undefined)
          stat.push(`${info.size} ${Math.floor(info.mtimeMs / 1000)} ./${relative(dir, abs)}`);
      }
    }
  };
  walk(dir);
  return { manifest, stat };
}
