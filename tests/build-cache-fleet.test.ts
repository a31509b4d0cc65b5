import { execFileSync, spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  CLI_PATH,
  jetsonBinDir,
  runOperatorTool,
  type SshdFixture,
  startSshd,
  startWorld,
  type World,
  waitFor,
  writeJetsonRoot,
} from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Three companions behind three real sshd on loopback: a and b are the same
 * Jetson (Orin NX, TensorRT 10.3), c another (Orin Nano, TensorRT 8.6). Each
 * runs compile-engines against its fake Jetson root with the fake trtexec,
 * whose calls each companion records in its own file.
 */
let world: World;
const sshds: SshdFixture[] = [];
beforeAll(async () => {
  world = await startWorld();
  sshds.push(world.sshd, await startSshd(), await startSshd());
  writeFileSync(world.knownHosts, `${sshds.map((s) => s.knownHostsLine).join("\n")}\n`);
}, 60_000);
afterAll(async () => {
  for (const s of sshds.slice(1)) await s.stop();
  await world?.close();
});

const NAMES = ["a", "b", "c"] as const;
const RELEASES = { a: "10.3", b: "10.3", c: "8.6" } as const;

interface Companion {
  name: (typeof NAMES)[number];
  sshd: SshdFixture;
  cacheRoot: string;
  calls: string;
  corpus: string;
  wrapper: string;
}

/** A set of companions with fresh cache roots (a fresh drone each), under `set`. */
function companions(set: string, options: { delayMs?: number } = {}): Companion[] {
  return NAMES.map((name, i) => {
    const dir = join(world.temp.path, set, name);
    const jetson = writeJetsonRoot(join(world.temp.path, "jetsons", name), { release: RELEASES[name] });
    const cacheRoot = join(dir, "cache");
    mkdirSync(cacheRoot, { recursive: true });
    const calls = join(dir, "trtexec-calls.jsonl");
    writeFileSync(calls, "");
    const corpus = join(dir, "corpus.json");
    const worldCorpus = JSON.parse(readFileSync(world.corpus, "utf8")) as Record<string, unknown>;
    writeFileSync(corpus, JSON.stringify({ ...worldCorpus, cacheRoot: join(cacheRoot, "engines") }));
    const wrapper = join(dir, "operator-tool.sh");
    writeFileSync(
      wrapper,
      [
        "#!/bin/sh",
        `PATH=${jetsonBinDir(jetson)}:$PATH; export PATH`,
        `FAKE_TRTEXEC_CALLS=${calls}; export FAKE_TRTEXEC_CALLS`,
        options.delayMs === undefined
          ? ""
          : `FAKE_TRTEXEC_DELAY_MS=${options.delayMs}; export FAKE_TRTEXEC_DELAY_MS`,
        // For compile-engines, whether run by itself or by the session.
        `OPERATOR_TOOL_HOST_ROOT=${jetson}; export OPERATOR_TOOL_HOST_ROOT`,
        `exec ${process.execPath} ${CLI_PATH} "$@"`,
        "",
      ].join("\n"),
    );
    chmodSync(wrapper, 0o755);
    return { name, sshd: sshds[i]!, cacheRoot, calls, corpus, wrapper };
  });
}

function hostVars(c: Companion): Record<string, string | number> {
  return {
    ansible_host: "127.0.0.1",
    ansible_port: c.sshd.port,
    ansible_user: c.sshd.user,
    ansible_ssh_private_key_file: c.sshd.identityFile,
    companion_cache_root: c.cacheRoot,
    remote_corpus: c.corpus,
    remote_command: c.wrapper,
  };
}

/** The same inventory in Ansible's INI form: a and b in `orin_nx`, c in `orin_nano`, both in `jetsons`. */
function iniInventory(set: Companion[], path: string): string {
  const line = (c: Companion) =>
    `${c.name} ${Object.entries(hostVars(c))
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`;
  writeFileSync(
    path,
    [
      "[orin_nx]",
      ...set.filter((c) => c.name !== "c").map(line),
      "",
      "[orin_nano]",
      ...set.filter((c) => c.name === "c").map(line),
      "",
      "[jetsons:children]",
      "orin_nx",
      "orin_nano",
      "",
    ].join("\n"),
  );
  return path;
}

function fleetArgs(staging: string, inventory: string, extra: string[] = []): string[] {
  const args = world.args(["--json", "--log-level", "silent", ...extra]);
  // The world's single-companion options give way to the inventory's.
  for (const flag of [
    "--companion-host",
    "--companion-port",
    "--companion-user",
    "--identity-file",
    "--companion-cache-root",
    "--remote-command",
    "--remote-corpus",
    "--staging-root",
  ]) {
    const at = args.indexOf(flag);
    if (at !== -1) args.splice(at, 2);
  }
  return [...args, "--staging-root", staging, "--inventory", inventory];
}

interface HostReport {
  target: string;
  outcome: string;
  exitCode: number;
  failurePhase: string | null;
  runId: string | null;
  error: { code: string } | null;
  engines: { built: number; imported: number; reused: number; failed: number } | null;
  imports: Array<{ modelName: string; sourceHost: string }>;
  storeRefused: Array<{ modelName: string; reason: string }>;
  sync: { sent: number } | null;
}
interface Fleet {
  schema: string;
  outcome: string;
  exitCode: number;
  runId: string;
  hosts: HostReport[];
  summary: { built: number; imported: number; failed: number };
}

const builds = (c: Companion) =>
  readFileSync(c.calls, "utf8")
    .split("\n")
    .filter((l) => l.includes("saveEngine")).length;
const host = (fleet: Fleet, name: string) => fleet.hosts.find((h) => h.target === name)!;

async function fleet(staging: string, inventory: string, extra: string[] = []) {
  const run = await runOperatorTool(fleetArgs(staging, inventory, extra), {
    env: world.env,
    timeoutMs: 180_000,
  });
  return { run, report: JSON.parse(run.stdout) as Fleet };
}

describe("build-cache for a fleet (three real sshd companions, two of one identity)", () => {
  let first: Companion[];
  let firstStaging: string;

  it("builds each engine once per identity: b or a imports the other's build, c builds its own", async () => {
    first = companions("forks3");
    firstStaging = join(world.temp.path, "staging-forks3");
    const inventory = iniInventory(first, join(world.temp.path, "forks3.ini"));
    const { run, report } = await fleet(firstStaging, inventory, ["--forks", "3"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(report.schema).toBe("operator-tool/fleet-report@1");
    expect(report.hosts.map((h) => [h.target, h.outcome])).toEqual([
      ["a", "success"],
      ["b", "success"],
      ["c", "success"],
    ]);
    const [a, b, c] = first;
    // One trtexec build between the identical pair, one on c.
    expect(builds(a!) + builds(b!)).toBe(1);
    expect(builds(c!)).toBe(1);
    const builder = builds(a!) === 1 ? "a" : "b";
    const importer = builder === "a" ? "b" : "a";
    expect(host(report, builder).engines).toMatchObject({ built: 1, imported: 0 });
    expect(host(report, importer).engines).toMatchObject({ built: 0, imported: 1 });
    expect(host(report, importer).imports).toEqual([
      expect.objectContaining({ modelName: "dinov2_vpr", sourceHost: builder }),
    ]);
    expect(host(report, "c").engines).toMatchObject({ built: 1, imported: 0 });
    expect(report.summary).toMatchObject({ built: 2, imported: 1, failed: 0 });
    // Each host has its own run record and report; no lock is left.
    for (const h of report.hosts) {
      const status = JSON.parse(readFileSync(join(firstStaging, "runs", h.runId!, "status.json"), "utf8"));
      expect(status).toMatchObject({ companion: h.target, fleetRunId: report.runId, outcome: "success" });
    }
    expect(readdirSync(firstStaging).filter((n) => n.endsWith(".lock"))).toEqual([]);
    // runs watch on the fleet's run follows every companion's phases.
    const watch = await runOperatorTool([
      "runs",
      "watch",
      report.runId,
      "--staging-root",
      firstStaging,
      "--json",
    ]);
    expect(watch.exitCode, watch.stderr).toBe(0);
    const events = watch.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { companion?: string; phase: string; status: string });
    for (const name of ["a", "b", "c"])
      expect(events).toContainEqual(
        expect.objectContaining({ companion: name, phase: "remote-provision", status: "done" }),
      );
    const list = await runOperatorTool(["runs", "list", "--staging-root", firstStaging]);
    expect(list.stdout).toMatch(/companion b \(fleet /);

    // The same fleet again: nothing to fetch, send or build.
    const again = await fleet(firstStaging, inventory, ["--forks", "3"]);
    expect(again.run.exitCode, again.run.stderr).toBe(0);
    expect(again.report.outcome).toBe("no-op");
    expect(builds(a!) + builds(b!) + builds(c!)).toBe(2);
  }, 300_000);

  it("--forks 1 gives the same results as --forks 3", async () => {
    const set = companions("forks1");
    const inventory = iniInventory(set, join(world.temp.path, "forks1.ini"));
    const { run, report } = await fleet(join(world.temp.path, "staging-forks1"), inventory, ["--forks", "1"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const shape = (f: Fleet) =>
      f.hosts.map((h) => ({
        target: h.target,
        outcome: h.outcome,
        made: (h.engines?.built ?? 0) + (h.engines?.imported ?? 0),
      }));
    const forks3 = await fleet(
      firstStaging,
      iniInventory(companions("forks3-again"), join(world.temp.path, "f3.ini")),
      ["--forks", "3"],
    );
    expect(shape(report)).toEqual(shape(forks3.report));
    expect(report.summary.built).toBe(2);
    expect(set.map(builds)).toEqual([1, 0, 1]);
  }, 300_000);

  it("a companion whose host key is wrong fails alone: exit 70, its code in the report", async () => {
    const set = companions("badkey");
    const knownHosts = join(world.temp.path, "badkey_known_hosts");
    // c's entry carries a's key: a changed host key, refused.
    writeFileSync(
      knownHosts,
      `${sshds[0]!.knownHostsLine}\n${sshds[1]!.knownHostsLine}\n[127.0.0.1]:${sshds[2]!.port} ssh-ed25519 ${sshds[0]!.hostKeyBase64}\n`,
    );
    const inventory = iniInventory(set, join(world.temp.path, "badkey.ini"));
    const args = fleetArgs(join(world.temp.path, "staging-badkey"), inventory);
    args.splice(args.indexOf("--known-hosts"), 2, "--known-hosts", knownHosts);
    const run = await runOperatorTool(args, { env: world.env, timeoutMs: 180_000 });
    expect(run.exitCode, run.stderr).toBe(70);
    const report = JSON.parse(run.stdout) as Fleet;
    expect(report).toMatchObject({ outcome: "failure", exitCode: 70 });
    expect(host(report, "c")).toMatchObject({
      outcome: "failure",
      exitCode: 31,
      failurePhase: "companion-bringup",
      error: { code: "HOST_KEY_REJECTED" },
    });
    expect(host(report, "a").outcome).toBe("success");
    expect(host(report, "b").outcome).toBe("success");
    expect(run.stderr).toMatch(/^error: 1 of 3 companions failed: c \(HOST_KEY_REJECTED, exit 31/m);
  }, 300_000);

  it("a tampered engine in the store is refused, and the companion builds its own", async () => {
    const store = join(firstStaging, "engines");
    const engine = (readdirSync(store, { recursive: true }) as string[]).find(
      (f) => f.includes("trt10.3") && f.endsWith(".engine"),
    )!;
    appendFileSync(join(store, engine), "tampered");
    const set = companions("tamper");
    const inventory = iniInventory(set, join(world.temp.path, "tamper.ini"));
    const { run, report } = await fleet(firstStaging, inventory, ["--limit", "a"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(report.hosts.map((h) => h.target)).toEqual(["a"]);
    expect(host(report, "a").storeRefused).toEqual([
      expect.objectContaining({ modelName: "dinov2_vpr", reason: expect.stringMatching(/hashes to/) }),
    ]);
    expect(host(report, "a").engines).toMatchObject({ built: 1, imported: 0 });
    expect(builds(set[0]!)).toBe(1);
    // The rebuilt engine replaced the bad entry: b now imports it.
    const next = await fleet(firstStaging, inventory, ["--limit", "b"]);
    expect(next.run.exitCode, next.run.stderr).toBe(0);
    expect(host(next.report, "b").imports).toEqual([expect.objectContaining({ sourceHost: "a" })]);
    expect(builds(set[1]!)).toBe(0);
  }, 300_000);

  it("Ctrl-C mid-fleet stops every host, releases every lock and writes every report", async () => {
    const set = companions("interrupt", { delayMs: 60_000 });
    const staging = join(world.temp.path, "staging-interrupt");
    const inventory = iniInventory(set, join(world.temp.path, "interrupt.ini"));
    const child = spawn(process.execPath, [CLI_PATH, ...fleetArgs(staging, inventory, ["--forks", "3"])], {
      env: { ...process.env, ...world.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on("data", () => undefined);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      // Mid-build on c and on one of the pair (the other waits for it).
      await waitFor(
        () => builds(set[2]!) === 1 && builds(set[0]!) + builds(set[1]!) === 1,
        90_000,
        "two builds to start",
      );
      // locks list shows the staging lock and each running companion's lock.
      const locks = await runOperatorTool(["locks", "list", "--staging-root", staging, "--json"]);
      const held = (JSON.parse(locks.stdout) as { locks: Array<{ name: string; liveness: string }> }).locks;
      expect(held.map((l) => l.name)).toEqual([
        "build",
        ...set.map((c) => `companion-${c.sshd.user}_127.0.0.1_${c.sshd.port}`).sort(),
      ]);
      expect(held.every((l) => l.liveness === "alive")).toBe(true);
      child.kill("SIGINT");
      expect(await exited).toBe(130);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    const report = JSON.parse(stdout) as Fleet;
    expect(report).toMatchObject({ outcome: "failure", exitCode: 130 });
    expect(report.hosts.map((h) => [h.target, h.exitCode])).toEqual([
      ["a", 130],
      ["b", 130],
      ["c", 130],
    ]);
    expect(readdirSync(staging).filter((n) => n.endsWith(".lock"))).toEqual([]);
    for (const h of report.hosts)
      expect(existsSync(join(staging, "runs", h.runId!, "report.json")), h.target).toBe(true);
    expect(existsSync(join(staging, "runs", report.runId, "report.json"))).toBe(true);
    // Every remote run was signalled: no build of this fleet outlives it (each would sleep 60 s).
    const remoteRuns = () =>
      execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes(join(world.temp.path, "interrupt")));
    await waitFor(() => remoteRuns().length === 0, 30_000, "the remote builds to stop");
  }, 300_000);

  it("--companion-host a,b,c: each entry an ssh config alias, resolved as for one companion (dry run)", async () => {
    const sshConfig = join(world.temp.path, "fleet_ssh_config");
    writeFileSync(
      sshConfig,
      sshds
        .map(
          (s, i) =>
            `Host drone-${i}\n  HostName 127.0.0.1\n  Port ${s.port}\n  User ${s.user}\n  IdentityFile ${s.identityFile}\n`,
        )
        .join("\n"),
    );
    const args = world.args(["--dry-run", "--json", "--log-level", "silent"]);
    for (const flag of [
      "--companion-host",
      "--companion-port",
      "--companion-user",
      "--identity-file",
      "--ssh-config",
    ])
      args.splice(args.indexOf(flag), 2);
    const run = await runOperatorTool(
      [...args, "--companion-host", "drone-0,drone-1,drone-2", "--ssh-config", sshConfig],
      { env: world.env, timeoutMs: 120_000 },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Omit<Fleet, "hosts"> & {
      hosts: Array<HostReport & { companion: { host: string } }>;
    };
    expect(report.hosts.map((h) => [h.target, h.outcome, h.companion.host])).toEqual(
      sshds.map((s, i) => [`drone-${i}`, "success", `${s.user}@127.0.0.1:${s.port}`]),
    );
    expect(report.runId).toBeNull();
  }, 300_000);
});
