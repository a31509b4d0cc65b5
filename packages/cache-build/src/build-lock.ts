import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, rename, rm, utimes } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { processAlive } from "@operator-tool/atomic-file";
import { OperatorToolError } from "@operator-tool/errors";

/** Who holds a lock: inside the lock directory, so the lock never exists without it. */
export interface LockOwner {
  lockId: string;
  pid: number;
  hostname: string;
  user: string;
  command: string;
  flightId: string;
  runId: string;
  startedAt: string;
  /** The holder's start time as the kernel counts it (Linux): tells its pid from a reused one. */
  processStart?: string;
}

export interface LockStatus {
  path: string;
  owner: LockOwner | undefined;
  /** alive / dead (same host, process gone) / unknown (another host, or no owner record) */
  liveness: "alive" | "dead" | "unknown";
  heldForMs: number | undefined;
  /** Its holder stopped refreshing it: dead, frozen, or on a host that lost the staging root. */
  stale: boolean;
}

export class LockHeldError extends OperatorToolError {
  constructor(message: string, hint: string) {
    super("LOCK_HELD", message, { hint });
  }
}

export class LockCompromisedError extends OperatorToolError {
  constructor(message: string, cause?: unknown) {
    super("LOCK_COMPROMISED", message, {
      hint: "another process may have taken the lock; check `operator-tool locks list`, then re-run",
      cause,
    });
  }
}

/** A holder refreshes its lock's mtime every REFRESH_MS; one older than STALE_MS is abandoned. */
const REFRESH_MS = 2_000;
const STALE_MS = 30_000;

export const lockPaths = (stagingRoot: string, name = "build") => ({
  lockDir: join(stagingRoot, `${name}.lock`),
  owner: join(stagingRoot, `${name}.lock`, "owner.json"),
  /** A directory beside the lock, named as atomic-file names temp files: a sweep removes a dead pid's. */
  temp: (purpose: string) =>
    join(stagingRoot, `.${name}.lock.tmp-${process.pid}-${purpose}-${randomBytes(4).toString("hex")}`),
});

export interface HeldLock {
  owner: LockOwner;
  release(): Promise<void>;
}

export interface AcquireLockOptions {
  stagingRoot: string;
  /** `build` for the staging root's build lock. */
  name?: string;
  flightId: string;
  runId: string;
  /** Wait this long for a live holder to finish; 0 fails at once. */
  waitSeconds: number;
  /** Called, never thrown, if the lock is taken away while held. */
  onCompromised: (error: LockCompromisedError) => void;
  warn: (fields: object, message: string) => void;
}

/**
 * The staging root's exclusive lock. It appears by renaming a directory that
 * already holds its owner record onto `<name>.lock` (a rename onto a
 * non-empty directory fails), and disappears by renaming it aside before it
 * is removed. So at every instant the lock either does not exist or names its
 * owner: a holder on this host whose pid is dead is reclaimed at once, and a
 * holder that stopped refreshing the lock's mtime (another host, a reused
 * pid) once it is stale.
 */
export async function acquireBuildLock(options: AcquireLockOptions): Promise<HeldLock> {
  const paths = lockPaths(options.stagingRoot, options.name);
  await mkdir(options.stagingRoot, { recursive: true });
  const owner: LockOwner = {
    lockId: randomUUID(),
    pid: process.pid,
    hostname: hostname(),
    user: userInfo().username,
    command: process.argv.slice(1).join(" "),
    flightId: options.flightId,
    runId: options.runId,
    startedAt: new Date().toISOString(),
    ...optional("processStart", processStartTime(process.pid)),
  };
  const deadline = Date.now() + options.waitSeconds * 1000;
  for (;;) {
    if (await tryTake(paths, owner)) break;
    const holder = readLockStatus(options.stagingRoot, options.name);
    if (holder === undefined) continue; // released meanwhile
    // Liveness decides on this host; staleness only where liveness cannot be known.
    if (holder.liveness === "dead" || (holder.liveness === "unknown" && holder.stale)) {
      options.warn(
        { owner: holder.owner },
        holder.owner === undefined
          ? `reclaiming the build lock ${paths.lockDir}: it has no owner record and has not been refreshed for ${STALE_MS / 1000}s`
          : `reclaiming the build lock of pid ${holder.owner.pid} (run ${holder.owner.runId}), which is no longer running on this host`,
      );
      await reclaim(paths, holder.owner);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LockHeldError(describeHolder(holder, options.stagingRoot), holderHint(holder));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, deadline - Date.now())));
  }
  return holdLock(paths, owner, options.onCompromised);
}

/** One attempt: prepare the owner record in a directory of our own, then rename it into place. */
async function tryTake(paths: ReturnType<typeof lockPaths>, owner: LockOwner): Promise<boolean> {
  const prepared = paths.temp("acquire");
  await mkdir(prepared);
  try {
    const handle = await open(join(prepared, "owner.json"), "wx", 0o644);
    try {
      await handle.writeFile(`${JSON.stringify(owner, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(prepared, paths.lockDir);
    return true;
  } catch (error) {
    await rm(prepared, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") return false;
    throw error;
  }
}

/**
 * Moves a dead holder's lock aside and removes it. If what was moved is not
 * the lock judged dead (someone took the lock in between), it goes back.
 */
async function reclaim(paths: ReturnType<typeof lockPaths>, judged: LockOwner | undefined): Promise<void> {
  const aside = paths.temp("reclaim");
  try {
    await rename(paths.lockDir, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // released or reclaimed meanwhile
    throw error;
  }
  const moved = readOwner(join(aside, "owner.json"));
  if (moved?.lockId !== judged?.lockId) {
    // A live holder's lock: put it back. Should a third process have taken the
    // lock meanwhile, the displaced holder finds its lock gone at its next
    // refresh and stops (LOCK_COMPROMISED).
    await rename(aside, paths.lockDir).catch(() => undefined);
  }
  await rm(aside, { recursive: true, force: true });
}

function holdLock(
  paths: ReturnType<typeof lockPaths>,
  owner: LockOwner,
  onCompromised: (error: LockCompromisedError) => void,
): HeldLock {
  let released = false;
  const refresh = setInterval(() => {
    void (async () => {
      const current = readOwner(paths.owner);
      if (released) return;
      if (current?.lockId !== owner.lockId) {
        clearInterval(refresh);
        onCompromised(
          new LockCompromisedError(
            `the build lock ${paths.lockDir} was ${current === undefined ? "removed" : `taken by pid ${current.pid}`} while this build held it`,
          ),
        );
        return;
      }
      const now = new Date();
      await utimes(paths.lockDir, now, now).catch(() => undefined);
    })();
  }, REFRESH_MS);
  refresh.unref();
  return {
    owner,
    async release() {
      if (released) return;
      released = true;
      clearInterval(refresh);
      if (readOwner(paths.owner)?.lockId !== owner.lockId) return; // not ours any more
      const aside = paths.temp("release");
      try {
        await rename(paths.lockDir, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw error;
      }
      await rm(aside, { recursive: true, force: true });
    },
  };
}

/** Every lock held under the staging root: the build lock and each companion's (a fleet's). */
export function listLockStatuses(stagingRoot: string): Array<LockStatus & { name: string }> {
  let names: string[];
  try {
    names = readdirSync(stagingRoot).filter((n) => n.endsWith(".lock") && !n.startsWith("."));
  } catch {
    return [];
  }
  return names
    .sort((a, b) => (a === "build.lock" ? -1 : b === "build.lock" ? 1 : a.localeCompare(b)))
    .flatMap((n) => {
      const name = n.slice(0, -".lock".length);
      const status = readLockStatus(stagingRoot, name);
      return status === undefined ? [] : [{ ...status, name }];
    });
}

/** The lock as it stands, or undefined when nobody holds it. */
export function readLockStatus(stagingRoot: string, name = "build"): LockStatus | undefined {
  const paths = lockPaths(stagingRoot, name);
  const lockStat = statSync(paths.lockDir, { throwIfNoEntry: false });
  if (lockStat === undefined) return undefined;
  const owner = readOwner(paths.owner);
  const liveness: LockStatus["liveness"] =
    owner === undefined || owner.hostname !== hostname() ? "unknown" : ownerAlive(owner) ? "alive" : "dead";
  return {
    path: paths.lockDir,
    owner,
    liveness,
    heldForMs: owner === undefined ? undefined : Date.now() - Date.parse(owner.startedAt),
    stale: Date.now() - lockStat.mtimeMs > STALE_MS,
  };
}

export function isLocked(stagingRoot: string, name = "build"): boolean {
  return existsDir(lockPaths(stagingRoot, name).lockDir);
}

/** Removes the lock by hand (`locks unlock`); the caller has checked the id and the owner's liveness. */
export async function removeLock(stagingRoot: string, name = "build"): Promise<void> {
  const paths = lockPaths(stagingRoot, name);
  const aside = paths.temp("unlock");
  try {
    await rename(paths.lockDir, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as LockOwner;
    return typeof value?.lockId === "string" && typeof value.pid === "number" ? value : undefined;
  } catch {
    return undefined;
  }
}

function existsDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

function ownerAlive(owner: LockOwner): boolean {
  if (!processAlive(owner.pid)) return false;
  const start = processStartTime(owner.pid);
  return owner.processStart === undefined || start === undefined || start === owner.processStart;
}

/** Field 22 of /proc/<pid>/stat (Linux); undefined elsewhere. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function describeHolder(status: LockStatus, stagingRoot: string): string {
  const o = status.owner;
  if (o === undefined)
    return `the build lock on ${stagingRoot} is held by a process that left no owner record (${status.path})`;
  const where =
    status.liveness === "unknown" ? `${o.user}@${o.hostname}, another host` : `${o.user}@${o.hostname}`;
  return `the build lock on ${stagingRoot} is held by pid ${o.pid} (${where}, flight ${o.flightId}, run ${o.runId}) for ${formatDuration(status.heldForMs ?? 0)}`;
}

function holderHint(status: LockStatus): string {
  const o = status.owner;
  if (o === undefined)
    return `wait ${STALE_MS / 1000}s for it to go stale, or remove ${status.path} if nothing runs`;
  return `wait for it (\`operator-tool runs watch ${o.runId}\`), or if it is stuck: \`operator-tool locks unlock --id ${o.lockId}\``;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
