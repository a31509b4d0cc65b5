#!/usr/bin/env node
// A fleet of 8 companions on loopback (8 real sshd), each running
// compile-engines against a fake Jetson root whose fake trtexec takes
// FLEET_BENCH_BUILD_MS per build, as a Jetson's takes minutes: 6 identical
// Orin NX (TensorRT 10.3) and 2 Orin Nano (TensorRT 8.6), so 2 distinct
// identities. Compares one `build-cache --inventory` (5 forks) with 8
// sequential single-companion build-cache runs, cold (fresh companions and
// staging root) and no-op (everything already there).
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_PATH, jetsonBinDir, startSshd, startWorld, writeJetsonRoot } from "@operator-tool/test-helpers";

const COMPANIONS = 8;
const FORKS = 5;
const BUILD_MS = Number(process.env.FLEET_BENCH_BUILD_MS ?? 3000);
const release = (i) => (i < 6 ? "10.3" : "8.6");

const world = await startWorld();
const sshds = [world.sshd];
for (let i = 1; i < COMPANIONS; i++) sshds.push(await startSshd());
writeFileSync(world.knownHosts, `${sshds.map((s) => s.knownHostsLine).join("\n")}\n`);
const env = { ...process.env, ...world.env };

/** Fresh companions (empty cache roots) under `set`. */
function companions(set) {
  return sshds.map((sshd, i) => {
    const name = `jetson-${String(i + 1).padStart(2, "0")}`;
    const dir = join(world.temp.path, set, name);
    const jetson = writeJetsonRoot(join(world.temp.path, "jetsons", name), { release: release(i) });
    const cacheRoot = join(dir, "cache");
    mkdirSync(cacheRoot, { recursive: true });
    const calls = join(dir, "calls.jsonl");
    writeFileSync(calls, "");
    const corpus = join(dir, "corpus.json");
    const base = JSON.parse(readFileSync(world.corpus, "utf8"));
    writeFileSync(corpus, JSON.stringify({ ...base, cacheRoot: join(cacheRoot, "engines") }));
    const wrapper = join(dir, "operator-tool.sh");
    writeFileSync(
      wrapper,
      [
        "#!/bin/sh",
        `PATH=${jetsonBinDir(jetson)}:$PATH; export PATH`,
        `FAKE_TRTEXEC_CALLS=${calls}; export FAKE_TRTEXEC_CALLS`,
        `FAKE_TRTEXEC_DELAY_MS=${BUILD_MS}; export FAKE_TRTEXEC_DELAY_MS`,
        // For compile-engines, whether run by itself or by the companion session.
        `OPERATOR_TOOL_HOST_ROOT=${jetson}; export OPERATOR_TOOL_HOST_ROOT`,
        `exec ${process.execPath} ${CLI_PATH} "$@"`,
        "",
      ].join("\n"),
    );
    chmodSync(wrapper, 0o755);
    return { name, sshd, cacheRoot, calls, corpus, wrapper };
  });
}

function common(staging) {
  const args = world.args(["--json", "--log-level", "warn"]);
  for (const flag of [
    "--companion-host",
    "--companion-port",
    "--companion-user",
    "--identity-file",
    "--companion-cache-root",
    "--remote-command",
    "--remote-corpus",
    "--staging-root",
  ])
    args.splice(args.indexOf(flag), 2);
  return [...args, "--staging-root", staging];
}

function run(args) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("exit", (code) =>
      code === 0
        ? resolve({ s: (performance.now() - start) / 1000, report: JSON.parse(out) })
        : reject(new Error(`build-cache exited ${code}: ${out.slice(-400)}`)),
    );
  });
}

function inventory(set, path) {
  writeFileSync(
    path,
    set
      .map(
        (c) =>
          `${c.name} ansible_host=127.0.0.1 ansible_port=${c.sshd.port} ansible_user=${c.sshd.user} ansible_ssh_private_key_file=${c.sshd.identityFile} companion_cache_root=${c.cacheRoot} remote_corpus=${c.corpus} remote_command=${c.wrapper}`,
      )
      .join("\n"),
  );
  return path;
}

const builds = (set) =>
  set.reduce(
    (n, c) =>
      n +
      readFileSync(c.calls, "utf8")
        .split("\n")
        .filter((l) => l.includes("saveEngine")).length,
    0,
  );

async function fleet(label) {
  const set = companions(label);
  const staging = join(world.temp.path, `staging-${label}`);
  const args = [
    ...common(staging),
    "--inventory",
    inventory(set, join(world.temp.path, `${label}.ini`)),
    "--forks",
    String(FORKS),
  ];
  const cold = await run(args);
  if (cold.report.outcome !== "success") throw new Error(`fleet cold: ${cold.report.outcome}`);
  const noop = await run(args);
  if (noop.report.outcome !== "no-op") throw new Error(`fleet no-op: ${noop.report.outcome}`);
  return { cold: cold.s, noop: noop.s, builds: builds(set) };
}

async function sequential(label) {
  const set = companions(label);
  const staging = join(world.temp.path, `staging-${label}`);
  const one = (c) =>
    run([
      ...common(staging),
      "--companion-host",
      "127.0.0.1",
      "--companion-port",
      String(c.sshd.port),
      "--companion-user",
      c.sshd.user,
      "--identity-file",
      c.sshd.identityFile,
      "--companion-cache-root",
      c.cacheRoot,
      "--remote-corpus",
      c.corpus,
      "--remote-command",
      c.wrapper,
    ]);
  let cold = 0;
  for (const c of set) cold += (await one(c)).s;
  let noop = 0;
  for (const c of set) {
    const r = await one(c);
    if (r.report.outcome !== "no-op") throw new Error(`sequential no-op: ${r.report.outcome}`);
    noop += r.s;
  }
  return { cold, noop, builds: builds(set) };
}

try {
  const seq = await sequential("sequential");
  const fl = await fleet("fleet");
  console.log(
    `fleet: ${COMPANIONS} companions, ${FORKS} forks, 2 identities, ${BUILD_MS} ms per engine build; builds: fleet ${fl.builds}, sequential ${seq.builds}`,
  );
  console.log(
    `fleet: no-op ratio=${(fl.noop / seq.noop).toFixed(2)} (fleet ${fl.noop.toFixed(1)} s, sequential ${seq.noop.toFixed(1)} s)`,
  );
  console.log(
    `fleet: ratio=${(fl.cold / seq.cold).toFixed(2)} (fleet ${fl.cold.toFixed(1)} s, sequential ${seq.cold.toFixed(1)} s)`,
  );
} finally {
  for (const s of sshds.slice(1)) await s.stop();
  await world.close();
}
