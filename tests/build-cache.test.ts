import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  API_KEY,
  CLI_PATH,
  fakeRemote,
  freePort,
  REPO_ROOT,
  readAll,
  runOperatorTool,
  startFlightsApi,
  startWorld,
  TOKEN,
  type World,
  waitFor,
} from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world.close();
});

const lockDir = () => join(world.staging, "build.lock");
type Report = {
  outcome: string;
  failurePhase: string | null;
  exitCode: number;
  error: { code: string; message: string } | null;
  runId: string;
  sync: { sent: number; skipped: number } | null;
  tiles: { fetched: number } | null;
  remote: { summary: { built: number; reused: number } } | null;
  phases: Record<string, { status: string }>;
};
const report = (stdout: string) => JSON.parse(stdout) as Report;

describe("build-cache end to end (loopback Flights API, tile server, real sshd)", () => {
  it("succeeds, then a second run is a no-op that fetches, sends and compiles nothing", async () => {
    const first = await world.run(["--json"]);
    expect(first.exitCode, first.stderr).toBe(0);
    const r1 = report(first.stdout);
    expect(r1).toMatchObject({ outcome: "success", failurePhase: null, exitCode: 0 });
    expect(Object.keys(r1.phases)).toEqual([
      "flight-resolve",
      "lock",
      "tile-download",
      "companion-bringup",
      "remote-provision",
    ]);
    expect(r1.remote!.summary.built).toBe(1);
    expect(r1.sync!.sent).toBeGreaterThan(1);
    const tileRequests = world.tiles.requests.length;

    const second = await world.run(["--json"]);
    expect(second.exitCode).toBe(0);
    const r2 = report(second.stdout);
    expect(r2.outcome).toBe("no-op");
    expect(r2.tiles!.fetched).toBe(0);
    expect(r2.sync!.sent).toBe(0);
    expect(r2.remote!.summary).toMatchObject({ built: 0, reused: 1 });
    expect(world.tiles.requests.length).toBe(tileRequests);
    expect(existsSync(lockDir())).toBe(false);

    // The run records: status, report and the full debug log.
    const runDir = join(world.staging, "runs", r2.runId);
    expect(JSON.parse(readFileSync(join(runDir, "status.json"), "utf8"))).toMatchObject({
      outcome: "no-op",
      exitCode: 0,
    });
    expect(JSON.parse(readFileSync(join(runDir, "report.json"), "utf8")).outcome).toBe("no-op");
    expect(readFileSync(join(runDir, "log.jsonl"), "utf8")).toContain('"level":"debug"');
  });

  it("one operator-tool process on the companion per build: a no-op starts no other; an older tool still works, a process per step", async () => {
    /** A companion operator-tool that notes each start (its first argument) in `log`; `withSession` false refuses the session as an older one does. */
    const counting = (name: string, withSession: boolean) => {
      const log = join(world.temp.path, `${name}.log`);
      const path = join(world.temp.path, `${name}.sh`);
      writeFileSync(
        path,
        [
          "#!/bin/sh",
          `echo "$1" >> ${log}`,
          withSession
            ? ""
            : `if [ "$1" = session ]; then echo "error: unknown command 'session'" >&2; exit 2; fi`,
          `exec ${process.execPath} ${CLI_PATH} "$@"`,
          "",
        ].join("\n"),
      );
      chmodSync(path, 0o755);
      return { path, starts: () => readFileSync(log, "utf8").trim().split("\n") };
    };
    const fresh = (name: string) => ["--companion-cache-root", join(world.temp.path, name)];

    const current = counting("counting-current", true);
    const first = await world.run([
      "--json",
      "--remote-command",
      current.path,
      ...fresh("counted-companion"),
    ]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(report(first.stdout).sync!.sent).toBeGreaterThan(1);
    // The tiles cross into a receiver of their own; everything else is asked of the session.
    expect(current.starts()).toEqual(["session", "tiles"]);
    // A receiver manifest lost (a power cut before it reached the disk) is written again by the no-op's listing.
    const tilesRoot = join(world.temp.path, "counted-companion", "tiles");
    const manifest = join(tilesRoot, readdirSync(tilesRoot)[0]!, ".sync-manifest.json");
    rmSync(manifest);
    const noOp = await world.run(["--json", "--remote-command", current.path, ...fresh("counted-companion")]);
    expect(existsSync(manifest)).toBe(true);
    expect(report(noOp.stdout).outcome, noOp.stderr).toBe("no-op");
    expect(current.starts()).toEqual(["session", "tiles", "session"]);
    // Through the session too, no secret reaches the output or the companion.
    const seen = [
      first.stdout,
      first.stderr,
      noOp.stdout,
      noOp.stderr,
      readAll(join(world.temp.path, "counted-companion")),
    ];
    for (const secret of [API_KEY, TOKEN]) expect(seen.join("\n")).not.toContain(secret);

    const older = counting("counting-older", false);
    const oldFirst = await world.run(["--json", "--remote-command", older.path, ...fresh("older-companion")]);
    expect(oldFirst.exitCode, oldFirst.stderr).toBe(0);
    const oldNoOp = await world.run(["--json", "--remote-command", older.path, ...fresh("older-companion")]);
    expect(report(oldNoOp.stdout).outcome, oldNoOp.stderr).toBe("no-op");
    expect(older.starts().slice(-4)).toEqual(["session", "--version", "tiles", "compile-engines"]);
  });

  it("--dry-run plans, checks the companion and asks for engine decisions; no lock, no record, no download", async () => {
    const runsBefore = existsSync(join(world.staging, "runs"))
      ? readdirSync(join(world.staging, "runs")).length
      : 0;
    const requests = world.tiles.requests.length;
    const run = await world.run(["--dry-run", "--json"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout) as Report & {
      tilePlan: { total: { tiles: number } };
      remote: { dryRun: boolean };
    };
    expect(r.runId).toBeNull();
    expect(r.tilePlan.total.tiles).toBeGreaterThan(0);
    expect(r.remote.dryRun).toBe(true);
    expect(world.tiles.requests.length).toBe(requests);
    expect(
      existsSync(join(world.staging, "runs")) ? readdirSync(join(world.staging, "runs")).length : 0,
    ).toBe(runsBefore);
  });

  it.each([
    ["90 flight not found", ["--flight-id", "F-404"], {}, 90],
    ["91 token rejected", [], { OPERATOR_TOOL_FLIGHTS_API_TOKEN: "wrong" }, 91],
    ["94 flight file missing", ["--flight-file", "/nonexistent/f.plan", "--flight-id", ""], {}, 94],
  ])("%s: exits before touching the lock, or anything on the companion", async (_, extra, env, code) => {
    // The companion's connection opens ahead of the flight, but only looks until the run has its lock.
    const companionRoot = join(world.temp.path, `untouched-${code}`);
    const args = [
      ...(extra[0] === "--flight-file"
        ? world
            .args(["--log-level", "error"])
            .filter((a, i, all) => a !== "--flight-id" && all[i - 1] !== "--flight-id")
            .concat(["--flight-file", "/nonexistent/f.plan"])
        : world.args([...extra, "--log-level", "error"])),
      "--companion-cache-root",
      companionRoot,
    ];
    const run = await runOperatorTool(args, {
      env: {
        OPERATOR_TOOL_API_KEY: API_KEY,
        OPERATOR_TOOL_FLIGHTS_API_TOKEN: TOKEN,
        HOME: world.temp.path,
        ...env,
      },
    });
    expect(run.exitCode).toBe(code);
    expect(existsSync(lockDir())).toBe(false);
    expect(existsSync(companionRoot)).toBe(false);
  });

  it("92 and 93 from the Flights API, 95 from a bad flight file", async () => {
    const port = await freePort();
    const unreachable = await world.run([
      "--flights-api-url",
      `http://127.0.0.1:${port}`,
      "--flights-api-timeout",
      "0.5",
      "--log-level",
      "error",
    ]);
    expect(unreachable.exitCode).toBe(92);
    const badApi = await startFlightsApi({
      flights: [],
      always: { body: JSON.stringify({ id: "F-2024-0042", waypoints: "many" }) },
    });
    try {
      const invalidPayload = await world.run(["--flights-api-url", badApi.url, "--log-level", "error"]);
      expect(invalidPayload.exitCode).toBe(93);
      expect(invalidPayload.firstErrorLine).toMatch(
        /^error: the Flights API returned flight "F-2024-0042" in a shape operator-tool cannot use: /,
      );
    } finally {
      await badApi.close();
    }
    const bad = join(world.temp.path, "bad.json");
    writeFileSync(bad, "{ nope");
    const args = world.args(["--log-level", "error"]);
    args.splice(args.indexOf("--flight-id"), 2, "--flight-file", bad);
    const invalid = await runOperatorTool(args, { env: world.env });
    expect(invalid.exitCode, invalid.stderr).toBe(95);
    expect(existsSync(lockDir())).toBe(false);
  });

  it("20 when the tile provider rejects the key; the report names the phase and the lock is released", async () => {
    const run = await world.run(
      ["--json", "--log-level", "silent", "--staging-root", join(world.temp.path, "staging-20")],
      {
        OPERATOR_TOOL_API_KEY: "not-the-key",
      },
    );
    expect(run.exitCode).toBe(20);
    expect(report(run.stdout)).toMatchObject({
      outcome: "failure",
      failurePhase: "tile-download",
      error: { code: "TILE_DOWNLOAD_FAILED" },
    });
    expect(run.stderr).toMatch(/^error: tile download stopped: the provider rejected the API key/m);
    expect(existsSync(join(world.temp.path, "staging-20", "build.lock"))).toBe(false);
  });

  it("30 when the companion rejects the key, 31 when its host key is unknown", async () => {
    const auth = await world.run([
      "--identity-file",
      world.sshd.wrongIdentityFile,
      "--json",
      "--log-level",
      "silent",
    ]);
    expect(auth.exitCode).toBe(30);
    expect(report(auth.stdout)).toMatchObject({
      failurePhase: "companion-bringup",
      error: { code: "COMPANION_AUTH_FAILED" },
    });
    const empty = join(world.temp.path, "empty_known_hosts");
    writeFileSync(empty, "");
    const unknown = await world.run(["--known-hosts", empty, "--log-level", "silent"]);
    expect(unknown.exitCode).toBe(31);
    expect(unknown.firstErrorLine).toMatch(
      /^error: the host key of .* \(SHA256:.{43}\) is not in .*; refusing to connect — verify the fingerprint/,
    );
    expect(existsSync(lockDir())).toBe(false);
  });

  it("30 with the readiness table when a check fails", async () => {
    const run = await world.run([
      "--remote-command",
      "/nonexistent/operator-tool",
      "--json",
      "--log-level",
      "silent",
    ]);
    expect(run.exitCode).toBe(30);
    const r = report(run.stdout);
    expect(r.error).toMatchObject({ code: "COMPANION_NOT_READY" });
    expect(r.error!.message).toMatch(/FAIL\s+operator-tool/);
    expect(run.firstErrorLine).toMatch(
      /^error: companion not ready: operator-tool \(.*command not found\) — run `operator-tool companion install`/,
    );
  });

  it("40 when the companion cannot store the tiles, naming the path there", async () => {
    const root = join(world.temp.path, "companion-40");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "tiles"), "a file where the tiles directory should be");
    const run = await world.run(["--companion-cache-root", root, "--json", "--log-level", "silent"]);
    expect(run.exitCode).toBe(40);
    expect(report(run.stdout)).toMatchObject({
      failurePhase: "companion-bringup",
      error: { code: "TILE_SYNC_FAILED" },
    });
    // The companion's side names the file in the way in one line: no stack from it.
    const { message } = report(run.stdout).error!;
    expect(message).toContain(`${join(root, "tiles")} is a file, where a directory belongs (ENOTDIR)`);
    expect(message).not.toMatch(/internal error|\n\s+at /);
  });

  it("21 when the remote build fails, 22 when its report is garbage", async () => {
    const missingModel = join(world.temp.path, "corpus-missing.json");
    writeFileSync(
      missingModel,
      JSON.stringify({
        cacheRoot: join(world.companionRoot, "engines"),
        backbones: [
          { modelName: "gone", onnxPath: "/nonexistent.onnx", inputName: "input", inputShape: [1] },
        ],
      }),
    );
    const failed = await world.run(["--remote-corpus", missingModel, "--json", "--log-level", "silent"]);
    expect(failed.exitCode).toBe(21);
    expect(report(failed.stdout)).toMatchObject({
      failurePhase: "remote-provision",
      error: { code: "REMOTE_BUILD_FAILED" },
    });
    expect(report(failed.stdout).error!.message).toContain("exited 61");

    const garbage = fakeRemote(world, "garbage", "echo 'this is not a report'");
    const bad = await world.run(["--remote-command", garbage, "--json", "--log-level", "silent"]);
    expect(bad.exitCode).toBe(22);
    expect(report(bad.stdout).error).toMatchObject({ code: "REMOTE_REPORT_INVALID" });
    expect(existsSync(lockDir())).toBe(false);
  });

  it("an unexpected exception still releases the lock, writes the report, and exits 1 with the log path", async () => {
    const staging = join(world.temp.path, "staging-broken");
    // A plain TypeError where the run record's status.json is renamed into place as the tile phase
    // begins: a bug, as far as operator-tool can tell.
    const hook = {
      match: "status\\.json$",
      occurrence: 6,
      action: "throw",
      marker: join(world.temp.path, "unused"),
    };
    const run = await world.run(
      ["--staging-root", staging, "--log-level", "silent"],
      { RENAME_HOOK: JSON.stringify(hook) },
      { nodeArgs: ["--import", join(REPO_ROOT, "tests/fixtures/rename-hook.mjs")] },
    );
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/internal error \(a bug in operator-tool\): TypeError: injected fault/);
    expect(run.stderr).toMatch(/full log: .*runs\/.*\/log\.jsonl/);
    expect(existsSync(join(staging, "build.lock"))).toBe(false);
    const runId = readdirSync(join(staging, "runs"))[0]!;
    expect(JSON.parse(readFileSync(join(staging, "runs", runId, "report.json"), "utf8"))).toMatchObject({
      outcome: "failure",
      exitCode: 1,
      failurePhase: "tile-download",
      error: { code: "INTERNAL", class: "TypeError" },
    });
  });

  it.each([
    ["a bad --zoom", ["--zoom", "18-16"], /^error: --zoom "18-16" is not a zoom range/],
    [
      "no tile provider",
      ["--satellite-provider-url", undefined],
      /^error: --satellite-provider-url is not set — pass --satellite-provider-url/,
    ],
    ["no companion", ["--companion-host", undefined], /^error: --companion-host is not set/],
    [
      "no corpus",
      ["--remote-corpus", undefined],
      /^error: no corpus given — pass --corpus FILE .* or --remote-corpus FILE/,
    ],
    ["a bad flight id", ["--flight-id", "no/slash"], /^error: --flight-id "no\/slash" is not a flight id/],
  ])("2 for %s, before any request, phase or run record", async (_, [flag, value], line) => {
    const staging = join(world.temp.path, "staging-usage");
    const args = world.args(["--staging-root", staging]);
    const at = args.indexOf(flag!);
    if (value === undefined) args.splice(at, 2);
    else args[at + 1] = value;
    const apiRequests = world.api.requests.length;
    const tileRequests = world.tiles.requests.length;
    const run = await runOperatorTool(args, { env: world.env });
    expect(run.exitCode, run.stderr).toBe(2);
    expect(run.firstErrorLine).toMatch(line);
    expect(world.api.requests.length).toBe(apiRequests);
    expect(world.tiles.requests.length).toBe(tileRequests);
    expect(existsSync(join(staging, "runs"))).toBe(false);
  });

  it("2 for a staging root it cannot write (immutable, or not this user's), named with the fix, before any request", async () => {
    const staging = join(world.temp.path, "staging-locked");
    mkdirSync(staging);
    // root ignores permission bits, not the immutable attribute.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) execFileSync("chattr", ["+i", staging]);
    else chmodSync(staging, 0o555);
    try {
      const apiRequests = world.api.requests.length;
      const run = await world.run(["--staging-root", staging, "--json", "--log-level", "silent"]);
      expect(run.exitCode, run.stderr).toBe(2);
      expect(run.firstErrorLine).toMatch(
        new RegExp(
          `^error: the staging root ${staging} \\(--staging-root\\) cannot be used: ${
            asRoot
              ? `${staging} is immutable or protected \\(EPERM\\)`
              : `permission denied on ${staging} \\(EACCES\\)`
          } — .*${staging}.*or choose another location$`,
        ),
      );
      expect(run.stderr).not.toMatch(/internal error| {4}at /);
      expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: "PATH_UNUSABLE", exitCode: 2 } });
      expect(world.api.requests.length).toBe(apiRequests);
    } finally {
      if (asRoot) execFileSync("chattr", ["-i", staging]);
      else chmodSync(staging, 0o755);
    }
  });

  it("2 for a file where the tile cache belongs, naming that file", async () => {
    const staging = join(world.temp.path, "staging-file");
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, "tiles"), "not a directory");
    const run = await world.run(["--staging-root", staging, "--log-level", "silent"]);
    expect(run.exitCode, run.stderr).toBe(2);
    expect(run.firstErrorLine).toBe(
      `error: the staging root ${staging} (--staging-root) cannot be used: ${join(staging, "tiles")} is a file, where a directory belongs (ENOTDIR) — move ${join(staging, "tiles")} out of the way, or choose another location`,
    );
  });

  it("secrets appear nowhere: stdout, stderr, run records, logs, tiles, companion files", async () => {
    const echoing = fakeRemote(
      world,
      "echo-secrets",
      [
        // Show the secrets line, then hand it on with stdin (the lifeline) to the real compile-engines.
        'read -r secrets; echo "remote saw $secrets" >&2',
        'fifo=$(mktemp -u); mkfifo "$fifo"',
        // A background job's stdin is /dev/null unless redirected: hand it the channel explicitly.
        'exec 3<&0; ( printf "%s\\n" "$secrets"; exec cat <&3 ) > "$fifo" & feeder=$!',
        `${process.execPath} ${CLI_PATH} "$@" < "$fifo"; rc=$?`,
        'kill $feeder 2>/dev/null; rm -f "$fifo"; exit $rc',
      ].join("; "),
    );
    const run = await world.run(["--remote-command", echoing, "--json", "--log-level", "debug", "--force"]);
    expect(run.exitCode, run.stderr).toBe(0);
    // The companion is sent none of the workstation's secrets: only the lifeline's empty object.
    expect(run.stderr).toContain("remote saw {}");
    const everything = [
      run.stdout,
      run.stderr,
      readAll(world.staging),
      readAll(world.companionRoot),
      readAll(world.temp.path),
    ].join("\n");
    for (const secret of [API_KEY, TOKEN]) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(encodeURIComponent(secret));
    }
  });
});

describe("the build lock", () => {
  const env = (w: World) => ({
    OPERATOR_TOOL_API_KEY: API_KEY,
    OPERATOR_TOOL_FLIGHTS_API_TOKEN: TOKEN,
    HOME: w.temp.path,
  });
  const ownerFile = (w: World) => join(w.staging, "build.lock", "owner.json");
  const locksList = async (w: World) =>
    JSON.parse((await runOperatorTool(["locks", "list", "--staging-root", w.staging, "--json"])).stdout)
      .locks[0];

  it("two real build-cache processes started together: one runs, the other exits 50 naming it", async () => {
    const slow = await startWorld({ tileLatencyMs: 150 });
    try {
      const [a, b] = await Promise.all([
        runOperatorTool(slow.args(["--log-level", "error"]), { env: env(slow) }),
        runOperatorTool(slow.args(["--log-level", "error"]), { env: env(slow) }),
      ]);
      expect([a.exitCode, b.exitCode].sort()).toEqual([0, 50]);
      const loser = a.exitCode === 50 ? a : b;
      expect(loser.firstErrorLine).toMatch(
        /^error: the build lock on .* is held by pid \d+ \(.*@.*, flight F-2024-0042, run \d{8}T\d{6}Z-[0-9a-f]{6}\) for \d+s — wait for it/,
      );
    } finally {
      await slow.close();
    }
  });

  it("kill -9 the holder: the next run reclaims the lock and succeeds; locks list/unlock around it", async () => {
    const slow = await startWorld({ tileLatencyMs: 300 });
    try {
      const holder = slow.spawnBuild(["--log-level", "silent"]);
      await waitFor(() => existsSync(ownerFile(slow)), 30_000, "the holder's owner record");
      const held = await locksList(slow);
      expect(held).toMatchObject({
        liveness: "alive",
        owner: { pid: holder.child.pid, flightId: "F-2024-0042" },
      });

      const unlock = (...extra: string[]) =>
        runOperatorTool(["locks", "unlock", "--staging-root", slow.staging, ...extra]);
      const wrongId = await unlock("--id", "not-the-id");
      expect(wrongId.exitCode).toBe(2);
      expect(wrongId.firstErrorLine).toMatch(/does not match the held lock/);
      const alive = await unlock("--id", held.owner.lockId);
      expect(alive.exitCode).toBe(50);
      expect(alive.firstErrorLine).toMatch(
        /is still running; refusing to unlock — wait for it, or pass --force/,
      );

      holder.child.kill("SIGKILL");
      await holder.exited;
      expect((await locksList(slow)).liveness).toBe("dead");

      const next = await runOperatorTool(slow.args(["--log-format", "json"]), {
        env: env(slow),
        timeoutMs: 90_000,
      });
      expect(next.exitCode, next.stderr).toBe(0);
      expect(next.stderr).toMatch(/reclaiming the build lock of pid \d+ .*no longer running on this host/);
      expect(existsSync(join(slow.staging, "build.lock"))).toBe(false);
    } finally {
      await slow.close();
    }
  });

  it("locks unlock --force removes a live owner's lock", async () => {
    const slow = await startWorld({ tileLatencyMs: 300 });
    try {
      const holder = slow.spawnBuild(["--log-level", "silent"]);
      await waitFor(() => existsSync(ownerFile(slow)), 30_000, "the holder's owner record");
      const id = JSON.parse(readFileSync(ownerFile(slow), "utf8")).lockId as string;
      const forced = await runOperatorTool([
        "locks",
        "unlock",
        "--staging-root",
        slow.staging,
        "--id",
        id,
        "--force",
      ]);
      expect(forced.exitCode).toBe(0);
      expect(existsSync(join(slow.staging, "build.lock"))).toBe(false);
      holder.child.kill("SIGKILL");
      await holder.exited;
    } finally {
      await slow.close();
    }
  });

  it("a compromised lock aborts the build cleanly with a report (exit 50), never a crash", async () => {
    const slow = await startWorld({ tileLatencyMs: 400 });
    try {
      const build = slow.spawnBuild(["--json", "--log-level", "silent", "--zoom", "16-18"]);
      await waitFor(() => slow.tiles.requests.length > 0, 30_000, "the first tile request");
      // Someone removes the lock under the running build: the holder notices at its next refresh.
      rmSync(join(slow.staging, "build.lock"), { recursive: true, force: true });
      expect(await build.exited, build.stderr()).toBe(50);
      expect(build.stderr()).not.toMatch(/internal error|Unhandled/);
      expect(JSON.parse(build.stdout())).toMatchObject({
        outcome: "failure",
        failurePhase: "tile-download",
        error: { code: "LOCK_COMPROMISED" },
      });
    } finally {
      await slow.close();
    }
  }, 60_000);
});

describe("interrupts and watching", () => {
  it("SIGINT during the tile download: report with the phase, lock released, exit 130; runs watch mirrors it", async () => {
    const slow = await startWorld({ tileLatencyMs: 400 });
    try {
      const build = slow.spawnBuild(["--json", "--log-level", "silent"]);
      await waitFor(() => slow.tiles.requests.length > 0, 30_000, "the first tile request");
      // However late the watcher starts, it is shown every transition the run recorded.
      const watch = runOperatorTool(["runs", "watch", "--staging-root", slow.staging]);
      build.child.kill("SIGINT");
      expect(await build.exited).toBe(130);
      expect(report(build.stdout())).toMatchObject({
        outcome: "failure",
        failurePhase: "tile-download",
        exitCode: 130,
        error: { code: "INTERRUPTED" },
      });
      expect(existsSync(join(slow.staging, "build.lock"))).toBe(false);
      const watched = await watch;
      expect(watched.exitCode).toBe(130);
      expect(watched.stdout).toMatch(
        /flight-resolve\s+running\nflight-resolve\s+done[\s\S]*tile-download\s+running\ntile-download\s+failed/,
      );
      const list = await runOperatorTool(["runs", "list", "--staging-root", slow.staging]);
      expect(list.stdout).toMatch(/F-2024-0042\s+failure \(exit 130\)/);
    } finally {
      await slow.close();
    }
  });

  it("runs watch after the run ended still prints each phase's begin and end, then exits with its code", async () => {
    const staging = join(world.temp.path, "staging-watch");
    const run = await world.run(["--staging-root", staging, "--json", "--log-level", "silent"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const { runId } = report(run.stdout);
    const watched = await runOperatorTool(["runs", "watch", runId, "--staging-root", staging, "--json"]);
    expect(watched.exitCode).toBe(0);
    const events = watched.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { phase?: string; status?: string });
    const phases = ["flight-resolve", "lock", "tile-download", "companion-bringup", "remote-provision"];
    expect(events.slice(0, -1).map((e) => `${e.phase} ${e.status}`)).toEqual(
      phases.flatMap((p) => [`${p} running`, `${p} done`]),
    );
    expect(events.at(-1)).toMatchObject({ runId, outcome: "success", exitCode: 0 });
  });
});
