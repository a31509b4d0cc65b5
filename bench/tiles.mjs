#!/usr/bin/env node
// 20 000 tiles from a loopback tile server: `operator-tool tiles download`
// against `curl --parallel` with the same URLs and the same concurrency, each
// into a fresh directory. An untimed warm-up, then two rounds, alternating,
// best of each. Then the time of a re-run with every tile cached.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTileServer } from "@operator-tool/test-helpers";
import { timed, writeCurlConfig } from "./lib/tile-bench.mjs";

const cli = fileURLToPath(new URL("../apps/operator-tool/dist/cli.js", import.meta.url));
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
const work = mkdtempSync(join(tmpdir(), "bench-tiles-"));
const server = await startTileServer({ tileBytes: 20_000 });
const flight = join(work, "flight.json");
writeFileSync(
  flight,
  JSON.stringify({
    id: "BENCH-TILES",
    name: "bench",
    updatedAt: "2026-01-01T00:00:00Z",
    takeoff: { lat: 50.45, lon: 30.52, altM: 0 },
    waypoints: [{ lat: 50.45, lon: 30.52, altM: 0 }],
  }),
);
const common = [
  "--flight-file",
  flight,
  "--satellite-provider-url",
  server.template,
  "--zoom",
  "18",
  "--coverage",
  "bbox",
];
const sizeArgs = ["--bbox-buffer-m", "6900", "--max-tiles", "30000", "--concurrency", String(concurrency)];

// Each timed run starts with nothing dirty in the page cache: curl never
// syncs, so otherwise the next run would pay for writing curl's files out.
const settle = () => spawnSync("sync");

async function runOurs(staging) {
  settle();
  const { ms, stdout, cpuS } = await timed(process.execPath, [
    cli,
    "tiles",
    "download",
    ...common,
    ...sizeArgs,
    "--staging-root",
    staging,
    "--json",
    "--log-level",
    "warn",
  ]);
  return { ms, cpuS, result: JSON.parse(stdout) };
}

function runCurl(dir, tiles) {
  settle();
  const config = writeCurlConfig(dir, server.url, tiles);
  return timed("curl", [
    "--silent",
    "--fail",
    "--create-dirs",
    "--parallel",
    "--parallel-max",
    String(concurrency),
    "--config",
    config,
  ]);
}

try {
  // Untimed warm-up: the loopback server renders each tile on first request,
  // and that cost must not land on whichever tool happens to go first.
  const warm = await runOurs(join(work, "warm-up"));
  const tiles = JSON.parse(readFileSync(warm.result.tilesetPath, "utf8")).tiles;
  const n = tiles.length;
  const first = await runOurs(join(work, "ours-1"));
  const curl1 = await runCurl(join(work, "curl-1"), tiles);
  const second = await runOurs(join(work, "ours-2"));
  const curl2 = await runCurl(join(work, "curl-2"), tiles);
  const resume = await runOurs(join(work, "ours-2"));
  if (resume.result.counts.fetched !== 0) throw new Error("the re-run fetched tiles");

  const ours = Math.min(first.ms, second.ms);
  const peer = Math.min(curl1.ms, curl2.ms);
  const oursRate = (n * 1000) / ours;
  const curlRate = (n * 1000) / peer;
  console.log(
    `tiles: ${n} at z18, concurrency ${concurrency}; ours ${first.ms.toFixed(0)}/${second.ms.toFixed(0)} ms, curl ${curl1.ms.toFixed(0)}/${curl2.ms.toFixed(0)} ms (ours makes each tile durable before renaming it into place; curl never syncs)`,
  );
  console.log(`tiles-resume: ${resume.ms.toFixed(0)} ms for ${n} cached tiles (whole process, no request)`);
  const cpuPer1000 = (runs) => ((Math.min(...runs.map((r) => r.cpuS)) * 1000) / n).toFixed(2);
  console.log(
    `tiles: ratio=${(oursRate / curlRate).toFixed(2)} (ours ${oursRate.toFixed(0)} tiles/s, ${cpuPer1000([first, second])} CPU s per 1000 tiles; curl ${curlRate.toFixed(0)} tiles/s, ${cpuPer1000([curl1, curl2])} CPU s per 1000 tiles)`,
  );
} finally {
  await server.close();
  rmSync(work, { recursive: true, force: true });
}
