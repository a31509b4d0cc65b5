#!/usr/bin/env node
// A no-op build-cache against warm caches on loopback (Flights API, tile
// server, real sshd, companion-side compile-engines reusing its engine).
// Overhead = the orchestrator's own share: total minus the phases' time.
// The peer: one OpenSSH `ssh host true` against the same sshd (a connection,
// key exchange, authentication and one remote process); target: the no-op
// within 4x of it.
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_PATH, startWorld } from "@operator-tool/test-helpers";

const world = await startWorld({ tileBytes: 20_000 });
const env = {
  ...process.env,
  OPERATOR_TOOL_API_KEY: "e2e-ApiKey-7Hq2-secret",
  OPERATOR_TOOL_FLIGHTS_API_TOKEN: "e2e-FlightsTok-Z9x4-secret",
  HOME: world.temp.path,
};
const run = () =>
  new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(
      process.execPath,
      [CLI_PATH, ...world.args(["--zoom", "15-17", "--json", "--log-level", "warn"])],
      { env, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) =>
      code === 0
        ? resolve({ wallMs: performance.now() - start, report: JSON.parse(out) })
        : reject(new Error(`build-cache exited ${code}`)),
    );
  });
const knownHosts = join(world.temp.path, "bench-known_hosts");
writeFileSync(knownHosts, `${world.sshd.knownHostsLine}\n`);
const sshTrue = () => {
  const start = performance.now();
  const result = spawnSync(
    "ssh",
    [
      "-q",
      "-F",
      "/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-i",
      world.sshd.identityFile,
      "-p",
      String(world.sshd.port),
      `${world.sshd.user}@127.0.0.1`,
      "true",
    ],
    { stdio: "inherit" },
  );
  if (result.status !== 0) throw new Error(`ssh host true exited ${result.status}`);
  return performance.now() - start;
};
try {
  const first = await run();
  if (first.report.outcome !== "success") throw new Error(`warm-up run: ${first.report.outcome}`);
  const runs = [];
  const sshRuns = [];
  for (let i = 0; i < 5; i++) {
    runs.push(await run());
    sshRuns.push(sshTrue());
  }
  const sshMs = [...sshRuns].sort((a, b) => a - b)[2];
  for (const r of runs)
    if (r.report.outcome !== "no-op") throw new Error(`expected no-op, got ${r.report.outcome}`);
  const best = runs.sort((a, b) => a.report.totalDurationMs - b.report.totalDurationMs)[
    Math.floor(runs.length / 2)
  ];
  const phasesMs = Object.values(best.report.phases).reduce((n, p) => n + p.durationMs, 0);
  const total = best.report.totalDurationMs;
  const phaseList = Object.entries(best.report.phases)
    .map(([name, p]) => `${name} ${p.durationMs}`)
    .join(", ");
  console.log(
    `build-cache-noop: ${best.report.tilePlan.total.tiles} tiles, median of 5; process wall ${best.wallMs.toFixed(0)} ms; phases (ms): ${phaseList}`,
  );
  console.log(
    `build-cache-noop: ratio=${(best.wallMs / sshMs).toFixed(2)} (ours ${best.wallMs.toFixed(0)} ms for the whole no-op process, ssh host true ${sshMs.toFixed(0)} ms; medians of 5, target <= 4)`,
  );
  console.log(
    `build-cache-noop: overhead=${(((total - phasesMs) / total) * 100).toFixed(1)}% (total ${total} ms, phases ${phasesMs} ms)`,
  );
} finally {
  await world.close();
}
