import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_CODES, InterruptedError, OperatorToolError } from "@operator-tool/errors";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BuildLogger, TileJobRef } from "./build-cache.js";
import { acquireBuildLock } from "./build-lock.js";
import {
  buildFleet,
  type FleetDeps,
  type FleetEngineReport,
  type FleetOptions,
  type FleetSession,
  type FleetTarget,
} from "./fleet.js";

/**
 * The fleet's own decisions with each phase a plain function: shared phases
 * once, at most `forks` companions at once, a stuck companion blocking no
 * other, shared failures keeping their code, every host's record written.
 * Engines, sshd and the store are tested end to end in tests/.
 */
let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const quiet: BuildLogger = { debug() {}, info() {}, warn() {}, error() {} };
const staging = () => join(temp.path, "staging");

function targets(names: string[]): FleetTarget[] {
  return names.map((name) => ({
    name,
    address: `ops@${name}:22`,
    flightId: undefined,
    companionCacheRoot: "/var/cache/operator-tool",
    corpus: { location: "companion", path: "/opt/corpus.json" },
  }));
}

function options(names: string[], forks: number): FleetOptions {
  return {
    stagingRoot: staging(),
    tileDirs: [join(staging(), "tiles", "p")],
    dryRun: false,
    force: false,
    allowAbsent: false,
    lockWaitSeconds: 0,
    installCompanion: false,
    engineMarginBytes: 0,
    targets: targets(names),
    forks,
  };
}

interface Probe {
  calls: string[];
  active: number;
  maxActive: number;
}

function deps(
  probe: Probe,
  overrides: Partial<FleetDeps<{ id: string }, TileJobRef, FleetSession, FleetEngineReport>> = {},
  hostGate: (name: string) => Promise<void> = async () => undefined,
): FleetDeps<{ id: string }, TileJobRef, FleetSession, FleetEngineReport> {
  const tilesetPath = join(staging(), "tiles", "p", "tilesets", "F-1.json");
  return {
    signal: new AbortController().signal,
    logger: quiet,
    openRunLog: async () => quiet,
    redact: (text) => text,
    redactValue: (value) => value,
    async resolveFlight() {
      probe.calls.push("resolve");
      return { id: "F-1" };
    },
    planTiles: async () => ({
      providerCacheDir: join(staging(), "tiles", "p"),
      providerId: "p",
      tilesetPath,
    }),
    summarizeTiles: async () => ({
      flightId: "F-1",
      provider: "p",
      coverage: "corridor",
      bufferM: 0,
      cacheDir: "",
      zooms: [],
      total: { tiles: 1, cached: 1, absent: 0, toFetch: 0, bytesEstimate: 0 },
    }),
    async downloadTiles() {
      probe.calls.push("download");
      return {
        outcome: "complete",
        counts: { planned: 1, fetched: 0, cached: 1, absent: 0, failed: 0 },
        bytesFetched: 0,
        failedTiles: [],
      };
    },
    readTileset: async () => [{ path: "1/0/0.png", bytes: 3, sha256: "a".repeat(64) }],
    describeFile: async (_path, as) => ({ path: as, bytes: 2, sha256: "b".repeat(64) }),
    async connectCompanion(target, run) {
      probe.active++;
      probe.maxActive = Math.max(probe.maxActive, probe.active);
      probe.calls.push(`connect ${target.name}`);
      try {
        await Promise.race([
          hostGate(target.name),
          new Promise((_, reject) =>
            run.signal.addEventListener("abort", () => reject(run.signal.reason), { once: true }),
          ),
        ]);
      } catch (error) {
        probe.active--;
        throw error;
      }
      return {
        host: target.address,
        hostKeyFingerprint: "SHA256:x",
        remoteCommand: "operator-tool",
        checkReadiness: async () => ({ checks: [], notReady: undefined, toolUnusable: false }),
        installTool: async () => {
          throw new Error("not asked");
        },
        pushModels: async () => {
          throw new Error("not asked");
        },
        syncTiles: async ({ files }) => ({
          planned: files.length,
          sent: 0,
          skipped: files.length,
          bytesSent: 0,
        }),
        pullFile: async () => {
          throw new Error("nothing built");
        },
        pushFile: async () => {
          throw new Error("nothing to import");
        },
        close() {
          probe.active--;
        },
      };
    },
    async provisionEngines(_session, args) {
      const dryRun = args.includes("--dry-run");
      return {
        outcome: "success",
        host: { backend: "tensorrt", sm: 87, jetpack: "6.2", tensorrt: "10.3" },
        summary: { built: 0, reused: dryRun ? 0 : 1, failed: 0 },
        results: [
          {
            modelName: "m",
            outcome: dryRun ? "would-reuse" : "reused",
            reasons: [],
            enginePath: "/e/m.engine",
            sha256: "c".repeat(64),
          },
        ],
      };
    },
    ...overrides,
  };
}

const newProbe = (): Probe => ({ calls: [], active: 0, maxActive: 0 });

describe("buildFleet", () => {
  it("resolves and downloads once, runs at most --forks companions at once, and reports every host", async () => {
    const probe = newProbe();
    const names = ["a", "b", "c", "d", "e", "f", "g"];
    const { report, failure } = await buildFleet(options(names, 3), deps(probe));
    expect(failure).toBeUndefined();
    expect(report).toMatchObject({ outcome: "no-op", exitCode: EXIT_CODES.SUCCESS, forks: 3 });
    expect(probe.calls.filter((c) => c === "resolve" || c === "download")).toEqual(["resolve", "download"]);
    expect(probe.maxActive).toBeLessThanOrEqual(3);
    expect(report.hosts.map((h) => [h.target, h.outcome])).toEqual(names.map((n) => [n, "no-op"]));
    expect(Object.keys(report.hosts[0]!.phases)).toEqual([
      "flight-resolve",
      "lock",
      "tile-download",
      "companion-bringup",
      "remote-provision",
    ]);
    // The fleet's record and one per companion, each finished; no lock left.
    const runs = readdirSync(join(staging(), "runs"));
    expect(runs).toHaveLength(names.length + 1);
    for (const id of runs)
      expect(JSON.parse(readFileSync(join(staging(), "runs", id, "status.json"), "utf8")).outcome).toBe(
        "no-op",
      );
    expect(readdirSync(staging()).filter((n) => n.endsWith(".lock"))).toEqual([]);
  });

  it("a companion that never answers blocks no other; Ctrl-C then ends it, exit 130, every report written", async () => {
    const probe = newProbe();
    const controller = new AbortController();
    const stuck = new Promise<void>(() => undefined);
    const done: string[] = [];
    const running = buildFleet(
      options(["stuck", "b", "c", "d"], 2),
      deps(
        probe,
        {
          signal: controller.signal,
          onHostUpdate: (u) => {
            if (u.phase === "done") done.push(u.target);
            if (done.length === 3) controller.abort(new InterruptedError("SIGINT"));
          },
        },
        (name) => (name === "stuck" ? stuck : Promise.resolve()),
      ),
    );
    const { report, failure } = await running;
    expect(done.slice(0, 3).sort()).toEqual(["b", "c", "d"]);
    expect(failure?.exitCode).toBe(EXIT_CODES.INTERRUPTED);
    expect(report.hosts.map((h) => [h.target, h.exitCode])).toEqual([
      ["stuck", EXIT_CODES.INTERRUPTED],
      ["b", 0],
      ["c", 0],
      ["d", 0],
    ]);
    for (const h of report.hosts)
      expect(existsSync(join(staging(), "runs", h.runId!, "report.json"))).toBe(true);
    expect(readdirSync(staging()).filter((n) => n.endsWith(".lock"))).toEqual([]);
  });

  it("a failed host makes the fleet exit 70 with each host's own code; the others succeed", async () => {
    const probe = newProbe();
    const { report, failure } = await buildFleet(
      options(["a", "bad", "c"], 5),
      deps(probe, {}, async (name) => {
        if (name === "bad")
          throw new OperatorToolError("COMPANION_UNREACHABLE", "connection refused by bad:22", {
            hint: "is it on?",
          });
      }),
    );
    expect(failure).toMatchObject({ code: "FLEET_HOSTS_FAILED", exitCode: EXIT_CODES.FLEET });
    expect(failure!.message).toBe(
      "1 of 3 companions failed: bad (COMPANION_UNREACHABLE, exit 30 in companion-bringup)",
    );
    expect(report.hosts.map((h) => [h.target, h.outcome, h.exitCode])).toEqual([
      ["a", "no-op", 0],
      ["bad", "failure", EXIT_CODES.COMPANION],
      ["c", "no-op", 0],
    ]);
    expect(report.summary).toMatchObject({ hosts: 3, succeeded: 2, failed: 1 });
  });

  it("a shared phase's failure keeps its own code and marks every host with it; no companion is touched", async () => {
    const probe = newProbe();
    const notFound = await buildFleet(
      options(["a", "b"], 5),
      deps(probe, {
        resolveFlight: async () => {
          throw new OperatorToolError("FLIGHT_NOT_FOUND", "flight F-404 not found");
        },
      }),
    );
    expect(notFound.report).toMatchObject({
      exitCode: EXIT_CODES.FLIGHT_NOT_FOUND,
      failurePhase: "flight-resolve",
    });
    expect(notFound.report.hosts.map((h) => h.exitCode)).toEqual([
      EXIT_CODES.FLIGHT_NOT_FOUND,
      EXIT_CODES.FLIGHT_NOT_FOUND,
    ]);

    // The staging root's lock held by another live process: 50, as for one companion.
    const held = await acquireBuildLock({
      stagingRoot: staging(),
      flightId: "F-1",
      runId: "other",
      waitSeconds: 0,
      onCompromised: () => undefined,
      warn: () => undefined,
    });
    try {
      const locked = await buildFleet(options(["a", "b"], 5), deps(probe));
      expect(locked.report).toMatchObject({ exitCode: EXIT_CODES.LOCK, failurePhase: "lock" });
      expect(locked.report.hosts.every((h) => h.error?.code === "LOCK_HELD")).toBe(true);
    } finally {
      await held.release();
    }
    expect(probe.calls.filter((c) => c.startsWith("connect"))).toEqual([]);
  });

  it("one companion's lock held elsewhere fails that companion only (50), the rest go on", async () => {
    const probe = newProbe();
    const held = await acquireBuildLock({
      stagingRoot: staging(),
      name: "companion-ops_b_22",
      flightId: "F-1",
      runId: "other",
      waitSeconds: 0,
      onCompromised: () => undefined,
      warn: () => undefined,
    });
    try {
      const { report } = await buildFleet(options(["a", "b", "c"], 5), deps(probe));
      expect(report.hosts.map((h) => [h.target, h.exitCode, h.failurePhase])).toEqual([
        ["a", 0, null],
        ["b", EXIT_CODES.LOCK, "lock"],
        ["c", 0, null],
      ]);
      expect(report.exitCode).toBe(EXIT_CODES.FLEET);
    } finally {
      await held.release();
    }
  });
});
