import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { processAlive, writeJsonAtomic } from "@operator-tool/atomic-file";
import { OperatorToolError } from "@operator-tool/errors";

/** Who holds the build lock: written atomically beside it once it is taken. */
export interface LockOwner {
  lockId: string;
  pid: number;
  hostname: string;
  user: string;
  command: string;
  flightId: string;
  runId: string;
  startedAt: string;
}

export interface LockStatus {
  path: string;
  owner: LockOwner | undefined;
  /** alive / dead (same host, pid gone) / unknown (another host) */
  liveness: "alive" | "dead" | "unknown";
  heldForMs: number | undefined;
  /** The library's own staleness: the lock's mtime stopped being refreshed. */
  stale: boolean;
}

export class LockHeldError extends OperatorToolError {
  constructor(message: string, hint: string) {
    super("LOCK_HELD", message, { hint });
  }
}

export class LockCompromisedError extends OperatorToolError {
  constructor(message: string) {
    super("LOCK_COMPROMISED", message, {
      hint: "another process may have taken the lock; check `operator-tool locks list`, then re-run",
    });
  }
}

const LOCK_NAME = "build";
/** proper-lockfile refreshes the lock's mtime at half this; older means its holder stalled or died. */
const STALE_MS = 30_000;

export const lockPaths = (stagingRoot: string) => ({
  target: join(stagingRoot, LOCK_NAME),
  lockDir: join(stagingRoot, `${LOCK_NAME}.lock`),
  owner: join(stagingRoot, `${LOCK_NAME}.lock.owner.json`),
});

export interface HeldLock {
  owner: LockOwner;
  release(): Promise<void>;
}

/**
 * The staging root's exclusive lock (proper-lockfile: an atomic mkdir, its
 * mtime refreshed while held). A holder on this host whose pid is dead is
 * reclaimed at once; otherwise the library's staleness rule applies.
 * `onCompromised` is called, never thrown, if the lock is lost mid-build.
 */
export async function acquireBuildLock(options: {
  stagingRoot: string;
  flightId: string;
  runId: string;
  waitSeconds: number;
  onCompromised: (error: LockCompromisedError) => void;
  warn: (fields: object, message: string) => void;
}): Promise<HeldLock> {
  const lockfile = await import("proper-lockfile");
  const paths = lockPaths(options.stagingRoot);
  await mkdir(options.stagingRoot, { recursive: true });
  if (!existsSync(paths.target))
    await writeJsonAtomic(paths.target, { purpose: "operator-tool build lock target" });

  const status = readLockStatus(options.stagingRoot);
  if (status.owner !== undefined && existsSync(paths.lockDir) && status.liveness === "dead") {
    options.warn(
      { owner: status.owner },
      `reclaiming the build lock of pid ${status.owner.pid} (run ${status.owner.runId}), which is no longer running on this host`,
    );
    await rm(paths.lockDir, { recursive: true, force: true });
  }

  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(paths.target, {
      lockfilePath: paths.lockDir,
      stale: STALE_MS,
      update: STALE_MS / 3,
      realpath: false,
      retries:
        options.waitSeconds > 0
          ? { retries: Math.ceil(options.waitSeconds), minTimeout: 1000, maxTimeout: 1000, factor: 1 }
          : 0,
      onCompromised: (error: Error) =>
        options.onCompromised(
          new LockCompromisedError(`the build lock was lost while the build ran: ${error.message}`),
        ),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    // The holder writes its owner record just after taking the lock: give it a
    // moment, so the message can name who holds it.
    let holder = readLockStatus(options.stagingRoot);
    for (let waited = 0; holder.owner === undefined && waited < 2_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      holder = readLockStatus(options.stagingRoot);
    }
    throw new LockHeldError(describeHolder(holder, options.stagingRoot), holderHint(holder));
  }

  const owner: LockOwner = {
    lockId: randomUUID(),
    pid: process.pid,
    hostname: hostname(),
    user: userInfo().username,
    command: process.argv.slice(1).join(" "),
    flightId: options.flightId,
    runId: options.runId,
    startedAt: new Date().toISOString(),
  };
  await writeJsonAtomic(paths.owner, owner);
  let released = false;
  return {
    owner,
    async release() {
      if (released) return;
      released = true;
      await rm(paths.owner, { force: true });
      await release().catch(() => undefined);
    },
  };
}

export function readLockStatus(stagingRoot: string): LockStatus {
  const paths = lockPaths(stagingRoot);
  let owner: LockOwner | undefined;
  try {
    owner = JSON.parse(readFileSync(paths.owner, "utf8")) as LockOwner;
  } catch {
    owner = undefined;
  }
  const lockStat = statSync(paths.lockDir, { throwIfNoEntry: false });
  const liveness: LockStatus["liveness"] =
    owner === undefined
      ? "unknown"
      : owner.hostname !== hostname()
        ? "unknown"
        : processAlive(owner.pid)
          ? "alive"
          : "dead";
  return {
    path: paths.lockDir,
    owner: lockStat === undefined ? undefined : owner,
    liveness: lockStat === undefined ? "dead" : liveness,
    heldForMs:
      owner === undefined || lockStat === undefined ? undefined : Date.now() - Date.parse(owner.startedAt),
    stale: lockStat !== undefined && Date.now() - lockStat.mtimeMs > STALE_MS,
  };
}

export function isLocked(stagingRoot: string): boolean {
  return existsSync(lockPaths(stagingRoot).lockDir);
}

/** Removes the lock; the caller has checked the id and the owner's liveness. */
export async function removeLock(stagingRoot: string): Promise<void> {
  const paths = lockPaths(stagingRoot);
  await rm(paths.lockDir, { recursive: true, force: true });
  await rm(paths.owner, { force: true });
}

function describeHolder(status: LockStatus, stagingRoot: string): string {
  const o = status.owner;
  if (o === undefined)
    return `the build lock on ${stagingRoot} is held by another process (its owner record is not written yet)`;
  return `the build lock on ${stagingRoot} is held by pid ${o.pid} (${o.user}@${o.hostname}, flight ${o.flightId}, run ${o.runId}) for ${formatDuration(status.heldForMs ?? 0)}`;
}

function holderHint(status: LockStatus): string {
  const o = status.owner;
  if (o === undefined) return "wait a moment and re-run";
  return `wait for it (\`operator-tool runs watch ${o.runId}\`), or if it is stuck: \`operator-tool locks unlock --id ${o.lockId}\``;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
