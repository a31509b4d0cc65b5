#!/usr/bin/env node
// 5 000 tiles from a TLS tile server on loopback that speaks HTTP/2 and
// HTTP/1.1 (ALPN), holds every response 40 ms (a round trip's worth, so
// loopback behaves like a link an operator has); each client may use at most 8
// connections. The server counts them rather than dropping the ninth: curl
// 7.88 over HTTP/2 opens ~18 connections before it learns it can multiplex,
// and a server that closed them would make curl fail (exit 35), not go
// slower; the line reports how many each tool opened. Ours: `tiles download --concurrency 64
// --max-connections 8 --ca-file`, HTTP/2 as negotiated. Peers on the same URL
// list: curl over HTTP/1.1 with 8 transfers (one per connection) and curl over
// HTTP/2 with 64 streams. An untimed warm-up, then three rounds, alternating;
// the medians are compared, against the better curl.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTlsTileServer } from "@operator-tool/test-helpers";
import { timed, writeCurlConfig } from "./lib/tile-bench.mjs";

const cli = fileURLToPath(new URL("../apps/operator-tool/dist/cli.js", import.meta.url));
const HOLD_MS = 40;
const MAX_CONNECTIONS = 8;
const STREAMS = 64;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const curlVersion = spawnSync("curl", ["--version"], { encoding: "utf8" }).stdout;
if (!/\bHTTP2\b/.test(curlVersion))
  throw new Error("this curl lacks HTTP2: the peer would not be the real one");

const work = mkdtempSync(join(tmpdir(), "bench-tiles-wan-"));
const server = await startTlsTileServer({ tileBytes: 20_000, latencyMs: HOLD_MS });
/** Runs `run` and adds how many connections it opened to its result. */
async function counted(run) {
  const before = server.connections.length;
  const result = await run();
  return { ...result, connections: server.connections.length - before };
}
const flight = join(work, "flight.json");
writeFileSync(
  flight,
  JSON.stringify({
    id: "BENCH-TILES-WAN",
    name: "bench",
    updatedAt: "2026-01-01T00:00:00Z",
    takeoff: { lat: 50.45, lon: 30.52, altM: 0 },
    waypoints: [{ lat: 50.45, lon: 30.52, altM: 0 }],
  }),
);

const settle = () => spawnSync("sync");

async function runOurs(staging) {
  settle();
  const { ms, stdout, cpuS } = await timed(process.execPath, [
    cli,
    "tiles",
    "download",
    "--flight-file",
    flight,
    "--satellite-provider-url",
    server.template,
    "--ca-file",
    server.caFile,
    "--zoom",
    "18",
    "--coverage",
    "bbox",
    "--bbox-buffer-m",
    "3450",
    "--max-tiles",
    "30000",
    "--concurrency",
    String(STREAMS),
    "--max-connections",
    String(MAX_CONNECTIONS),
    "--staging-root",
    staging,
    "--json",
    "--log-level",
    "warn",
  ]);
  const result = JSON.parse(stdout);
  if (result.outcome !== "complete") throw new Error(`ours did not complete: ${stdout.slice(0, 500)}`);
  return { ms, cpuS, result };
}

function runCurl(dir, tiles, http) {
  settle();
  const config = writeCurlConfig(dir, server.url, tiles);
  const parallel = http === "1.1" ? MAX_CONNECTIONS : STREAMS;
  return timed("curl", [
    "--silent",
    "--fail",
    "--create-dirs",
    "--cacert",
    server.caFile,
    // Against Node's HTTP/2 server, curl 7.88 now and then fails one stream
    // of 5 000 with "Error in the HTTP2 framing layer" (exit 16); ours retries
    // such a tile, so curl may too.
    "--retry",
    "3",
    "--retry-all-errors",
    http === "1.1" ? "--http1.1" : "--http2",
    "--parallel",
    "--parallel-max",
    String(parallel),
    "--config",
    config,
  ]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const warm = await runOurs(join(work, "warm-up"));
  const tiles = JSON.parse(readFileSync(warm.result.tilesetPath, "utf8")).tiles;
  const n = tiles.length;
  const runs = { ours: [], h1: [], h2: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    runs.ours.push(await counted(() => runOurs(join(work, `ours-${round}`))));
    runs.h1.push(await counted(() => runCurl(join(work, `curl-h1-${round}`), tiles, "1.1")));
    runs.h2.push(await counted(() => runCurl(join(work, `curl-h2-${round}`), tiles, "2")));
    for (const dir of [`ours-${round}`, `curl-h1-${round}`, `curl-h2-${round}`])
      rmSync(join(work, dir), { recursive: true, force: true });
  }
  const protocols = Object.values(runs.ours[0].result.protocols).join(",");
  const rate = (list) => (n * 1000) / median(list.map((r) => r.ms));
  const cpuPer1000 = (list) => (median(list.map((r) => r.cpuS)) * 1000) / n;
  const [ours, h1, h2] = [rate(runs.ours), rate(runs.h1), rate(runs.h2)];
  const best = Math.max(h1, h2);
  const list = (xs) => xs.map((r) => r.ms.toFixed(0)).join("/");
  const conns = (xs) => Math.max(...xs.map((r) => r.connections));
  if (conns(runs.ours) > MAX_CONNECTIONS) throw new Error(`ours opened ${conns(runs.ours)} connections`);
  console.log(
    `tiles-wan: ${n} tiles, ${HOLD_MS} ms hold per response; ours (${protocols}, ${STREAMS} in flight, ${conns(runs.ours)} connections) ${list(runs.ours)} ms, curl http/1.1 x${MAX_CONNECTIONS} (${conns(runs.h1)} connections) ${list(runs.h1)} ms, curl h2 x${STREAMS} (${conns(runs.h2)} connections) ${list(runs.h2)} ms`,
  );
  console.log(
    `tiles-wan: CPU s per 1000 tiles: ours ${cpuPer1000(runs.ours).toFixed(2)}, curl http/1.1 ${cpuPer1000(runs.h1).toFixed(2)}, curl h2 ${cpuPer1000(runs.h2).toFixed(2)} (the tile server shares the machine)`,
  );
  console.log(
    `tiles-wan: ratio=${(ours / best).toFixed(2)} (ours ${ours.toFixed(0)} tiles/s, curl ${h2 >= h1 ? "h2" : "http/1.1"} ${best.toFixed(0)} tiles/s; curl http/1.1 ${h1.toFixed(0)}, curl h2 ${h2.toFixed(0)})`,
  );
} finally {
  await server.close();
  rmSync(work, { recursive: true, force: true });
}
