import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runOperatorTool, startWorld, type World, waitFor } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * `kill -9` build-cache at chosen instants, then run it again: the next run
 * must recognise a dead lock holder at once (no waiting for staleness), remove
 * every temp file the killed run left, and still list the killed run. Each
 * instant is reached deterministically: tests/fixtures/rename-hook.mjs stops
 * the process at one chosen rename and writes a marker; the test waits for
 * the marker, then kills.
 */
let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world.close();
});

const HOOK = ["--import", join(REPO_ROOT, "tests/fixtures/rename-hook.mjs")];
const tempFilesIn = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((n) => n.includes(".tmp-")) : [];

interface Window {
  /** Regex on the rename's source or destination. */
  match: string;
  occurrence?: number;
  when?: "before" | "after";
}

/** Starts a build that stops at `window`, waits until it is there, kills it with SIGKILL. */
async function killAt(window: Window, staging: string): Promise<{ from: string; to: string }> {
  const marker = join(world.temp.path, `paused-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  const build = world.spawnBuild(
    ["--staging-root", staging, "--log-level", "silent"],
    { RENAME_HOOK: JSON.stringify({ ...window, marker }) },
    { nodeArgs: HOOK },
  );
  await Promise.race([
    waitFor(() => existsSync(marker), 60_000, `the build to reach ${window.match}`),
    build.exited.then((code) => {
      throw new Error(`the build exited (${code}) before the pause point: ${build.stderr()}`);
    }),
  ]);
  build.child.kill("SIGKILL");
  await build.exited;
  return JSON.parse(readFileSync(marker, "utf8")) as { from: string; to: string };
}

async function runAgain(staging: string) {
  const next = await world.run(["--staging-root", staging, "--json", "--log-format", "json"]);
  expect(next.exitCode, next.stderr).toBe(0);
  expect(next.stderr).not.toMatch(/held by/);
  return next;
}

const runsList = async (staging: string) =>
  (
    JSON.parse((await runOperatorTool(["runs", "list", "--staging-root", staging, "--json"])).stdout) as {
      runs: Array<{ runId: string; state: { kind: string } }>;
    }
  ).runs;

describe("kill -9 while the build lock is taken or released", () => {
  it("before the lock appears: its half-made directory is swept and the next run takes the lock", async () => {
    const staging = join(world.temp.path, "staging-acquire");
    const paused = await killAt({ match: "build\\.lock$", when: "before" }, staging);
    expect(paused.from).toMatch(/\.build\.lock\.tmp-\d+-acquire-/);
    expect(existsSync(paused.from)).toBe(true);
    expect(existsSync(join(staging, "build.lock"))).toBe(false);
    await runAgain(staging);
    expect(tempFilesIn(staging)).toEqual([]);
    expect(existsSync(join(staging, "build.lock"))).toBe(false);
  });

  it("the instant the lock appears: it names its dead owner, and the next run reclaims it at once", async () => {
    const staging = join(world.temp.path, "staging-acquired");
    await killAt({ match: "build\\.lock$", when: "after" }, staging);
    expect(existsSync(join(staging, "build.lock", "owner.json"))).toBe(true);
    const next = await runAgain(staging);
    expect(next.stderr).toMatch(/reclaiming the build lock of pid \d+ .*no longer running on this host/);
    expect(tempFilesIn(staging)).toEqual([]);
  });

  it("as the release begins (lock still in place): the next run reclaims it at once", async () => {
    const staging = join(world.temp.path, "staging-before-release");
    await killAt({ match: "\\.build\\.lock\\.tmp-\\d+-release-", when: "before" }, staging);
    expect(existsSync(join(staging, "build.lock", "owner.json"))).toBe(true);
    const next = await runAgain(staging);
    expect(next.stderr).toMatch(/reclaiming the build lock of pid \d+/);
  });

  it("mid-release (lock moved aside, not yet removed): no lock is held, and the next run sweeps the rest", async () => {
    const staging = join(world.temp.path, "staging-mid-release");
    const paused = await killAt({ match: "\\.build\\.lock\\.tmp-\\d+-release-", when: "after" }, staging);
    expect(existsSync(paused.to)).toBe(true);
    expect(existsSync(join(staging, "build.lock"))).toBe(false);
    const locks = JSON.parse(
      (await runOperatorTool(["locks", "list", "--staging-root", staging, "--json"])).stdout,
    ) as { locks: unknown[] };
    expect(locks.locks).toEqual([]);
    await runAgain(staging);
    expect(tempFilesIn(staging)).toEqual([]);
  });
});

describe("kill -9 while a record is written", () => {
  it("the tileset: its temp file is removed by the next run, and the killed run is listed", async () => {
    const staging = join(world.temp.path, "staging-tileset");
    const paused = await killAt({ match: "tilesets/F-2024-0042\\.json$" }, staging);
    const tilesets = join(paused.to, "..");
    expect(tempFilesIn(tilesets)).toHaveLength(1);
    expect(existsSync(paused.to)).toBe(false);
    await runAgain(staging);
    expect(tempFilesIn(tilesets)).toEqual([]);
    expect(existsSync(paused.to)).toBe(true);
    // Run ids order by the second they started in: compare as a set.
    expect((await runsList(staging)).map((r) => r.state.kind).sort()).toEqual(["finished", "stopped"]);
  });

  it("a run's first status.json: the run is still listed, and its temp file is removed by the next run", async () => {
    const staging = join(world.temp.path, "staging-status-first");
    const paused = await killAt({ match: "status\\.json$", occurrence: 1 }, staging);
    const runDir = join(paused.to, "..");
    expect(tempFilesIn(runDir)).toHaveLength(1);
    const before = await runsList(staging);
    expect(before).toMatchObject([{ runId: runDir.split("/").at(-1), state: { kind: "unrecorded" } }]);
    await runAgain(staging);
    expect(tempFilesIn(runDir)).toEqual([]);
    expect((await runsList(staging)).map((r) => r.state.kind).sort()).toEqual(["finished", "unrecorded"]);
    const text = await runOperatorTool(["runs", "list", "--staging-root", staging]);
    expect(text.stdout).toMatch(/no status recorded \(killed as it started\?\)/);
  });

  it("a later status.json: the run keeps its last recorded state and is listed as stopped", async () => {
    const staging = join(world.temp.path, "staging-status-later");
    const paused = await killAt({ match: "status\\.json$", occurrence: 6 }, staging);
    const runDir = join(paused.to, "..");
    expect(tempFilesIn(runDir)).toHaveLength(1);
    expect(JSON.parse(readFileSync(paused.to, "utf8"))).toMatchObject({ phase: "lock" });
    await runAgain(staging);
    expect(tempFilesIn(runDir)).toEqual([]);
    expect((await runsList(staging)).map((r) => r.state.kind).sort()).toEqual(["finished", "stopped"]);
  });
});
