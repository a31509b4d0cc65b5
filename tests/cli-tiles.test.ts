import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import {
  CLI_PATH,
  makeTempDir,
  runOperatorTool,
  startTileServer,
  startTlsTileServer,
  type TileServer,
  waitFor,
} from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const API_KEY = "cli-tile-key-Zx81-secret";
let temp: ReturnType<typeof makeTempDir>;
let server: TileServer | undefined;
let flightFile: string;

beforeEach(() => {
  temp = makeTempDir();
  flightFile = join(temp.path, "flight.json");
  writeFileSync(
    flightFile,
    JSON.stringify({
      id: "F-TILES-1",
      name: "tiles test",
      updatedAt: "2026-05-13T08:00:00Z",
      takeoff: { lat: 50.4501, lon: 30.5234, altM: 180 },
      waypoints: [
        { lat: 50.4562, lon: 30.5388, altM: 120 },
        { lat: 50.4611, lon: 30.5302, altM: 130 },
      ],
    }),
  );
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  temp.cleanup();
});

const env = () => ({ OPERATOR_TOOL_API_KEY: API_KEY });
const args = (command: string, ...extra: string[]) => [
  "tiles",
  command,
  "--flight-file",
  flightFile,
  "--satellite-provider-url",
  server!.template,
  "--staging-root",
  join(temp.path, "staging"),
  "--zoom",
  "15-16",
  "--bbox-buffer-m",
  "300",
  ...extra,
];

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

function expectNoSecretAnywhere(...texts: string[]) {
  for (const text of texts) expect(text).not.toContain(API_KEY);
  for (const file of filesUnder(temp.path)) {
    if (!file.endsWith(".png")) expect(readFileSync(file, "utf8"), file).not.toContain(API_KEY);
  }
}

describe("operator-tool tiles plan", () => {
  it("prints per-zoom counts, then sees the cache after a download", async () => {
    server = await startTileServer({ apiKey: API_KEY });
    const before = await runOperatorTool([...args("plan"), "--json"], { env: env() });
    expect(before.exitCode).toBe(0);
    const plan = JSON.parse(before.stdout) as {
      zooms: Array<Record<string, number>>;
      total: Record<string, number>;
    };
    expect(plan.zooms.map((z) => z.z)).toEqual([15, 16]);
    for (const z of plan.zooms)
      expect(Object.keys(z)).toEqual(["z", "tiles", "cached", "absent", "toFetch", "bytesEstimate"]);
    expect(plan.total.tiles).toBeGreaterThan(4);
    expect(plan.total.toFetch).toBe(plan.total.tiles);
    expect(plan.total.bytesEstimate).toBe(plan.total.tiles! * 25_000);
    expect(server.requests).toHaveLength(0);

    const download = await runOperatorTool(args("download"), { env: env() });
    expect(download.exitCode, download.stderr).toBe(0);
    const after = await runOperatorTool([...args("plan"), "--json"], { env: env() });
    const cached = JSON.parse(after.stdout) as typeof plan;
    expect(cached.total).toMatchObject({ cached: plan.total.tiles, toFetch: 0, bytesEstimate: 0 });
    const human = await runOperatorTool(args("plan"), { env: env() });
    expect(human.stdout).toMatch(/^Flight F-TILES-1: corridor coverage, buffer 300 m/);
    expect(human.stdout).toMatch(/\ntotal\s+\d+\s+\d+\s+0\s+0\s+0 B$/m);
  });

  it("2: refuses a plan above --max-tiles before any request, with the numbers", async () => {
    server = await startTileServer();
    const run = await runOperatorTool([
      ...args("plan"),
      "--zoom",
      "18-20",
      "--coverage",
      "bbox",
      "--max-tiles",
      "100",
    ]);
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(
      /^error: the tile plan needs \d+ \(z18: \d+, z19: \d+, z20: \d+\) tiles, more than --max-tiles 100 — /,
    );
    expect(server.requests).toHaveLength(0);
  });

  it.each([
    [["--zoom", "18-16"], /^error: --zoom "18-16" is not a zoom range/],
    [
      ["--satellite-provider-url", "https://tiles.example/{z}/{x}.png"],
      /must contain \{z\}, \{x\} and \{y\}/,
    ],
    [
      ["--satellite-provider-url", "https://tiles.example/{z}/{x}/{y}.png?k={key}"],
      /unknown placeholder \{key\}/,
    ],
  ])("2: %j", async (extra, line) => {
    server = await startTileServer();
    const run = await runOperatorTool([...args("plan"), ...extra]);
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(line);
  });

  it("2: a template needing {apiKey} without a key", async () => {
    server = await startTileServer({ apiKey: API_KEY });
    const run = await runOperatorTool(args("plan"));
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(
      /needs an API key \(\{apiKey\}\) and none was given — set OPERATOR_TOOL_API_KEY/,
    );
  });
});

describe("operator-tool tiles download", () => {
  it("0: --max-age revalidates old tiles with their ETags (304, no body); 2 for an age it cannot read", async () => {
    server = await startTileServer({ apiKey: API_KEY, validators: "etag" });
    const first = await runOperatorTool([...args("download"), "--json"], { env: env() });
    expect(first.exitCode, first.stderr).toBe(0);
    const { tilesetPath, counts } = JSON.parse(first.stdout) as {
      tilesetPath: string;
      counts: { planned: number };
    };
    const tileset = JSON.parse(readFileSync(tilesetPath, "utf8")) as { tiles: { fetchedAt: string }[] };
    for (const tile of tileset.tiles) tile.fetchedAt = "2025-01-01T00:00:00.000Z";
    writeFileSync(tilesetPath, JSON.stringify(tileset));
    const served = server.served.size;
    const again = await runOperatorTool([...args("download"), "--max-age", "30d", "--json"], { env: env() });
    expect(again.exitCode, again.stderr).toBe(0);
    const result = JSON.parse(again.stdout) as { revalidation: { due: number; notModified: number } };
    expect(result.revalidation).toMatchObject({ due: counts.planned, notModified: counts.planned });
    expect(server.notModified.size).toBe(counts.planned);
    expect(server.served.size).toBe(served);
    const bad = await runOperatorTool([...args("download"), "--max-age", "soon"], { env: env() });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--max-age");
  });

  it("0: over HTTP/2 from a provider behind a private CA given with --ca-file; 2 for a --ca-file that is no certificate", async () => {
    const tls = await startTlsTileServer({ apiKey: API_KEY });
    server = tls;
    const run = await runOperatorTool(
      [
        ...args("download"),
        "--ca-file",
        tls.caFile,
        "--max-connections",
        "1",
        "--concurrency",
        "16",
        "--json",
      ],
      { env: env() },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { outcome: string; protocols: Record<string, string> };
    expect(result.outcome).toBe("complete");
    expect(Object.values(result.protocols)).toEqual(["h2"]);
    expect(tls.connections).toEqual(["h2"]);
    const notPem = join(temp.path, "not-a-ca.pem");
    writeFileSync(notPem, "hello\n");
    const bad = await runOperatorTool([...args("download"), "--ca-file", notPem], { env: env() });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(`--ca-file ${notPem} holds no PEM certificate`);
  });

  it("0: downloads, then a re-run makes no request; the key appears nowhere", async () => {
    server = await startTileServer({ apiKey: API_KEY });
    const first = await runOperatorTool([...args("download"), "--json", "--log-level", "debug"], {
      env: env(),
    });
    expect(first.exitCode, first.stderr).toBe(0);
    const result = JSON.parse(first.stdout) as {
      counts: Record<string, number>;
      tilesetPath: string;
      outcome: string;
    };
    expect(result.outcome).toBe("complete");
    expect(result.counts.fetched).toBe(result.counts.planned);
    expect(existsSync(result.tilesetPath)).toBe(true);
    const requests = server.requests.length;
    const second = await runOperatorTool([...args("download"), "--json"], { env: env() });
    expect(second.exitCode).toBe(0);
    expect(JSON.parse(second.stdout).counts).toMatchObject({ fetched: 0, cached: result.counts.planned });
    expect(server.requests.length).toBe(requests);
    expectNoSecretAnywhere(first.stdout, first.stderr, second.stdout, second.stderr);
  });

  it("2: a staging root it cannot write, named before any tile is asked for", async () => {
    server = await startTileServer({ apiKey: API_KEY });
    const staging = join(temp.path, "staging");
    mkdirSync(staging);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) execFileSync("chattr", ["+i", staging]);
    else chmodSync(staging, 0o555);
    try {
      const run = await runOperatorTool(args("download"), { env: env() });
      expect(run.exitCode, run.stderr).toBe(2);
      expect(run.firstErrorLine).toMatch(
        /^error: the staging root .* \(--staging-root\) cannot be used: .* \((EPERM|EACCES)\) — /,
      );
      expect(server.requests).toHaveLength(0);
    } finally {
      if (asRoot) execFileSync("chattr", ["-i", staging]);
      else chmodSync(staging, 0o755);
    }
  });

  it("20: the provider rejects the key", async () => {
    server = await startTileServer({ apiKey: "another-key" });
    const run = await runOperatorTool([...args("download"), "--log-level", "error"], { env: env() });
    expect(run.exitCode).toBe(20);
    expect(run.stderr).toMatch(
      /^error: tile download stopped: the provider rejected the API key \(HTTP 401 for tile [\d/]+\) — check OPERATOR_TOOL_API_KEY/m,
    );
    expectNoSecretAnywhere(run.stdout, run.stderr);
  });

  it("20 for absent tiles unless --allow-absent", async () => {
    server = await startTileServer({ maxZoom: 15 });
    const strict = await runOperatorTool([...args("download"), "--log-level", "error"]);
    expect(strict.exitCode).toBe(20);
    expect(strict.stderr).toMatch(
      /error: \d+ of \d+ tiles are absent at the provider \(404\/204\) — pass --allow-absent/,
    );
    const lenient = await runOperatorTool([...args("download"), "--allow-absent", "--json"]);
    expect(lenient.exitCode).toBe(0);
    expect(JSON.parse(lenient.stdout).requests).toBe(0);
  });

  it("20 with the failed tiles in --json when tiles keep failing", async () => {
    server = await startTileServer({
      fault: (r) => (r.z === 16 && r.x % 2 === 0 ? { status: 502 } : undefined),
    });
    const run = await runOperatorTool([...args("download"), "--json", "--log-level", "error"]);
    expect(run.exitCode).toBe(20);
    const result = JSON.parse(run.stdout) as {
      outcome: string;
      failedTiles: Array<{ z: number; error: string }>;
    };
    expect(result.outcome).toBe("incomplete");
    expect(result.failedTiles.length).toBeGreaterThan(0);
    expect(result.failedTiles[0]!.error).toBe("HTTP 502 (after 5 attempts)");
    expect(run.stderr).toMatch(
      /^error: tile download incomplete: \d+ of \d+ tiles failed \(first: 16\/\d+\/\d+ HTTP 502 \(after 5 attempts\)\)/m,
    );
  });

  it("kill -9 mid-download leaves only complete tiles; the next run fetches only the rest", async () => {
    server = await startTileServer({ latencyMs: 40, tileBytes: 30_000 });
    const staging = join(temp.path, "staging");
    const child = spawn(
      process.execPath,
      [CLI_PATH, ...args("download", "--zoom", "17-17", "--concurrency", "4")],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        stdio: "ignore",
      },
    );
    const exited = new Promise((r) => child.once("exit", r));
    // Tiles land in batches: wait until some are committed, then kill mid-stream.
    const committed = () =>
      filesUnder(join(staging, "tiles")).filter(
        (f) => f.endsWith(".png") && !f.split("/").some((p) => p.startsWith(".")),
      ).length;
    await waitFor(() => committed() >= 10 || child.exitCode !== null, 60_000, "ten committed tiles");
    expect(child.exitCode, "still downloading when killed").toBeNull();
    child.kill("SIGKILL");
    await exited;

    const tileDir = join(staging, "tiles");
    const finals = filesUnder(tileDir).filter(
      (f) =>
        f.endsWith(".png") &&
        !relative(tileDir, f)
          .split("/")
          .some((p) => p.startsWith(".")),
    );
    expect(finals.length).toBeGreaterThan(0);
    for (const file of finals) {
      const [z, x, y] = relative(tileDir, file)
        .split("/")
        .slice(1)
        .map((p) => Number.parseInt(p, 10)) as [number, number, number];
      expect(readFileSync(file), `${file} is complete`).toEqual(server.tileBody(z, x, y));
    }
    expect(existsSync(join(staging, "tiles", `127.0.0.1-${server.port}`, "tilesets", "F-TILES-1.json"))).toBe(
      false,
    );

    const servedBefore = new Map(server.served);
    const mtimes = new Map(finals.map((f) => [f, statSync(f).mtimeMs]));
    const resume = await runOperatorTool([...args("download", "--zoom", "17-17"), "--json"]);
    expect(resume.exitCode, resume.stderr).toBe(0);
    const result = JSON.parse(resume.stdout) as { counts: Record<string, number> };
    expect(result.counts.cached).toBe(finals.length);
    expect(result.counts.fetched).toBe(result.counts.planned! - finals.length);
    for (const [key, count] of servedBefore) {
      const [z, x, y] = key.split("/");
      const path = join(tileDir, `127.0.0.1-${server.port}`, z!, x!, `${y}.png`);
      if (mtimes.has(path)) expect(server.served.get(key), `${key} was not fetched again`).toBe(count);
    }
    const leftovers = filesUnder(tileDir).filter((f) => f.includes(".tmp-"));
    expect(leftovers).toEqual([]);
  });
});

describe("operator-tool tiles receive --list", () => {
  it("prints a listing far larger than a pipe's buffer, whole", async () => {
    const root = join(temp.path, "companion");
    for (let i = 0; i < 1500; i++) {
      const dir = join(root, "17", String(1000 + Math.floor(i / 100)));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${i}.png`), `tile ${i}`);
    }
    const run = await runOperatorTool(["tiles", "receive", "--root", root, "--list"]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(128 * 1024);
    expect(Object.keys((JSON.parse(run.stdout) as { files: object }).files)).toHaveLength(1500);
  });
});

describe("operator-tool tiles receive --list-first", () => {
  it("prints the listing as its first line, then receives the stream and leaves an unchanged manifest alone", async () => {
    const root = join(temp.path, "companion");
    mkdirSync(join(root, "17", "1"), { recursive: true });
    writeFileSync(join(root, "17", "1", "1.png"), "already here");
    const body = "a new tile";
    const sha256 = createHash("sha256").update(body).digest("hex");
    const stream = `${JSON.stringify({ path: "17/1/2.png", bytes: body.length, sha256 })}\n${body}{"end":true}\n`;
    const run = await runOperatorTool(["tiles", "receive", "--root", root, "--list-first"], {
      input: stream,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const [listing, summary] = run.stdout.trim().split("\n");
    expect(Object.keys((JSON.parse(listing!) as { files: object }).files)).toEqual(["17/1/1.png"]);
    expect(JSON.parse(summary!)).toMatchObject({ received: 1, bytes: body.length });
    expect(readFileSync(join(root, "17", "1", "2.png"), "utf8")).toBe(body);

    // Nothing to send: the sender ends the stream at once; the manifest is not rewritten.
    const manifest = join(root, ".sync-manifest.json");
    const before = statSync(manifest).mtimeMs;
    const again = await runOperatorTool(["tiles", "receive", "--root", root, "--list-first"], {
      input: '{"end":true}\n',
    });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(Object.keys((JSON.parse(again.stdout.split("\n")[0]!) as { files: object }).files)).toHaveLength(
      2,
    );
    expect(statSync(manifest).mtimeMs).toBe(before);
  });

  it("SIGTERM mid-stream: stops reading, commits the files received whole, exits 130", async () => {
    const root = join(temp.path, "companion");
    const body = "a whole tile";
    const sha256 = createHash("sha256").update(body).digest("hex");
    const child = spawn(process.execPath, [CLI_PATH, "tiles", "receive", "--root", root, "--list-first"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      await waitFor(() => stdout.includes("\n"));
      // One whole file, then a second cut short: the sender has gone quiet, the channel is still open.
      child.stdin.write(`${JSON.stringify({ path: "17/1/1.png", bytes: body.length, sha256 })}\n${body}`);
      child.stdin.write(`${JSON.stringify({ path: "17/1/2.png", bytes: 1000, sha256 })}\nonly part`);
      await waitFor(() => existsSync(join(root, "17", "1")) && readdirSync(join(root, "17", "1")).length > 0);
      child.kill("SIGTERM");
      const code = await Promise.race([
        exited,
        new Promise((r) => setTimeout(() => r("still running"), 30_000)),
      ]);
      expect(code, stderr).toBe(130);
      expect(stderr).toContain("SIGTERM");
      expect(readdirSync(join(root, "17", "1"))).toEqual(["1.png"]); // committed; no temp file, no partial tile
      expect(readFileSync(join(root, "17", "1", "1.png"), "utf8")).toBe(body);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("a manifest left unreadable (a power cut before it reached the disk) costs a rehash, never a wrong listing", async () => {
    const root = join(temp.path, "companion");
    mkdirSync(join(root, "17", "1"), { recursive: true });
    writeFileSync(join(root, "17", "1", "1.png"), "a tile");
    const sha256 = createHash("sha256").update("a tile").digest("hex");
    for (const damaged of ["", "null", '{"17/1/1.png":', "[]"]) {
      writeFileSync(join(root, ".sync-manifest.json"), damaged);
      const run = await runOperatorTool(["tiles", "receive", "--root", root, "--list"]);
      expect(run.exitCode, run.stderr).toBe(0);
      const { files } = JSON.parse(run.stdout) as { files: Record<string, { sha256: string }> };
      expect(Object.keys(files), JSON.stringify(damaged)).toEqual(["17/1/1.png"]);
      expect(files["17/1/1.png"]!.sha256).toBe(sha256);
    }
  });
});

describe("tile requests identify themselves", () => {
  it("send operator-tool/<version> by default, or --user-agent", async () => {
    server = await startTileServer({ apiKey: API_KEY });
    expect((await runOperatorTool([...args("download"), "--zoom", "15"], { env: env() })).exitCode).toBe(0);
    expect(server.requests[0]?.headers["user-agent"]).toMatch(/^operator-tool\/\d+\.\d+\.\d+$/);
    const custom = await runOperatorTool(
      [...args("download"), "--zoom", "16", "--user-agent", "acme-survey/2.1 (ops@acme.example)"],
      {
        env: env(),
      },
    );
    expect(custom.exitCode).toBe(0);
    expect(server.requests.at(-1)?.headers["user-agent"]).toBe("acme-survey/2.1 (ops@acme.example)");
  });
});
