// Shared by the tile benches: each tool timed alike (wall time, CPU seconds), and curl given the same URL list.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Runs a command under bash so `times` can report its user+system CPU seconds.
 * Async: a tile server living in the bench's own process must keep answering.
 */
export function timed(command, args) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn("bash", ["-c", '"$@"; s=$?; times >&2; exit $s', "bash", command, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (status !== 0) reject(new Error(`${command} exited ${status}: ${stderr.slice(-2000)}`));
      else resolve({ ms, stdout, cpuS: childCpuSeconds(stderr) });
    });
  });
}

/** The second line of bash's `times`: children's user and system time, e.g. `0m1.234s 0m0.567s`. */
function childCpuSeconds(stderr) {
  const seconds = (t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t ?? "");
    return m === null ? Number.NaN : Number(m[1]) * 60 + Number(m[2]);
  };
  const [user, sys] = (stderr.trim().split("\n").at(-1) ?? "").trim().split(/\s+/);
  return seconds(user) + seconds(sys);
}

/** A `curl --config` file fetching each tile from `baseUrl` into `dir/z/x/y.png`; returns its path. */
export function writeCurlConfig(dir, baseUrl, tiles) {
  const config = join(dir, "curl.cfg");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    config,
    tiles
      .map(
        (t) =>
          `url = "${baseUrl}/tiles/${t.z}/${t.x}/${t.y}.png"\noutput = "${join(dir, String(t.z), String(t.x), `${t.y}.png`)}"\n`,
      )
      .join(""),
  );
  return config;
}
