#!/usr/bin/env node
// Cold start of `operator-tool --help` against a bare `node -e 0`, the floor
// any Node CLI pays. Interleaved runs so machine noise hits both alike.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../apps/operator-tool/dist/cli.js", import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 20);

function time(args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
time([cli, "--help"]); // warm the file cache for both
time(["-e", "0"]);
const ours = [];
const peer = [];
for (let i = 0; i < runs; i++) {
  ours.push(time([cli, "--help"]));
  peer.push(time(["-e", "0"]));
}
const a = median(ours);
const b = median(peer);
console.log(`runs: ${runs} each, median`);
console.log(`cold-start: ratio=${(a / b).toFixed(2)} (ours ${a.toFixed(1)} ms, node ${b.toFixed(1)} ms)`);
