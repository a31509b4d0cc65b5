import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireBuildLock, type LockCompromisedError, type LockOwner, readLockStatus } from "./build-lock.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const warnings: string[] = [];
const acquire = (extra: { waitSeconds?: number; onCompromised?: (e: LockCompromisedError) => void } = {}) =>
  acquireBuildLock({
    stagingRoot: temp.path,
    flightId: "F-1",
    runId: "20260101T000000Z-abcdef",
    waitSeconds: extra.waitSeconds ?? 0,
    onCompromised: extra.onCompromised ?? (() => undefined),
    warn: (_fields, message) => warnings.push(message),
  });

/** A pid that has just exited: certainly not running. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

function plantLock(owner: Partial<LockOwner>, mtime?: Date): void {
  const dir = join(temp.path, "build.lock");
  mkdirSync(dir);
  writeFileSync(
    join(dir, "owner.json"),
    JSON.stringify({
      lockId: "planted",
      pid: 1,
      hostname: "elsewhere.example",
      user: "ops",
      command: "operator-tool build-cache",
      flightId: "F-0",
      runId: "20250101T000000Z-000000",
      startedAt: new Date().toISOString(),
      ...owner,
    }),
  );
  if (mtime !== undefined) utimesSync(dir, mtime, mtime);
}

describe("the build lock", () => {
  it("exists exactly while held, always with its owner record; release leaves nothing behind", async () => {
    const lock = await acquire();
    const held = readLockStatus(temp.path);
    expect(held).toMatchObject({
      liveness: "alive",
      stale: false,
      owner: { pid: process.pid, flightId: "F-1" },
    });
    await expect(acquire()).rejects.toMatchObject({ code: "LOCK_HELD" });
    await lock.release();
    expect(readLockStatus(temp.path)).toBeUndefined();
    expect(readdirSync(temp.path)).toEqual([]);
  });

  it("a dead holder on this host is reclaimed at once", async () => {
    plantLock({ pid: await deadPid(), hostname: hostname() });
    expect(readLockStatus(temp.path)?.liveness).toBe("dead");
    const lock = await acquire();
    expect(warnings.at(-1)).toMatch(/reclaiming the build lock of pid \d+ .*no longer running on this host/);
    await lock.release();
  });

  it("a holder on another host is trusted until it stops refreshing the lock", async () => {
    plantLock({ pid: 4242 });
    const error = await acquire().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "LOCK_HELD" });
    expect((error as Error).message).toMatch(/held by pid 4242 \(ops@elsewhere\.example, another host/);

    utimesSync(join(temp.path, "build.lock"), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    expect(readLockStatus(temp.path)).toMatchObject({ liveness: "unknown", stale: true });
    const lock = await acquire();
    await lock.release();
  });

  it("removed while held: the holder is told (LOCK_COMPROMISED), never crashes", async () => {
    let told: (error: LockCompromisedError) => void = () => undefined;
    const compromised = new Promise<LockCompromisedError>((resolve) => {
      told = resolve;
    });
    const lock = await acquire({ onCompromised: (error) => told(error) });
    rmSync(join(temp.path, "build.lock"), { recursive: true });
    const error = await compromised;
    await lock.release(); // not its lock any more: nothing to remove, no error
    expect(error.code).toBe("LOCK_COMPROMISED");
    expect(error.message).toMatch(/was removed while this build held it/);
  });
});
