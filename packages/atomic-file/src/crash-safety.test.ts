import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTempFile, removeStaleTempFiles } from "./atomic-file.js";
import { builtScript } from "./built-script.js";

// Each test runs a writer in a child process (the built package), freezes it
// at a moment it has a write in flight, and kills it there: the kill lands
// mid-write by construction, not by timing.

let temp: ReturnType<typeof makeTempDir>;
const children: Array<{ kill(signal: NodeJS.Signals): boolean }> = [];
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  temp.cleanup();
});

// The built package (refused when older than its sources): a child process cannot run TypeScript.
const distIndex = () => JSON.stringify(builtScript("index.js", import.meta.url).href);

/** Starts `script` (ESM) in a node process; resolves once it has printed its first line. */
async function startWriter(script: string) {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    void exited.then(() => reject(new Error("the writer exited before it started writing")));
  });
  return { child, exited };
}

describe("a kill -9 in the middle of a write", () => {
  it("writeFileAtomic leaves the old or the new content whole, and the sweep removes the debris", async () => {
    const path = join(temp.path, "big.bin");
    writeFileSync(path, Buffer.alloc(1024, 1));
    // Rewrites the file in a loop with 8 MiB payloads; says when the first rewrite is in place.
    const { child, exited } = await startWriter(`
      import { writeFileAtomic } from ${distIndex()};
      for (let i = 2; ; i++) {
        await writeFileAtomic(${JSON.stringify(path)}, Buffer.alloc(8 * 1024 * 1024, i % 250));
        if (i === 2) process.stdout.write("rewritten\\n");
      }
    `);
    const frozen = await freezeWithTempFiles(child.pid!, temp.path);
    child.kill("SIGKILL");
    await exited;
    expect(readdirSync(temp.path).sort()).toEqual(frozen.sort());

    const content = readFileSync(path);
    expect(content.length).toBe(8 * 1024 * 1024);
    expect(content.every((b) => b === content[0])).toBe(true);
    expect(await removeStaleTempFiles(temp.path)).toBe(1);
    expect(readdirSync(temp.path)).toEqual(["big.bin"]);
  });

  it("GroupCommitWriter leaves only whole files in place; the sweep removes the temp files", async () => {
    const dir = join(temp.path, "out");
    mkdirSync(dir);
    // Large groups keep many files between write and rename.
    const { child, exited } = await startWriter(`
      import { GroupCommitWriter } from ${distIndex()};
      const writer = new GroupCommitWriter({ durability: "group", groupMaxFiles: 64 });
      let committed = 0;
      for (let i = 0; ; i++)
        await writer.write(${JSON.stringify(dir)} + "/" + i, Buffer.alloc(64 * 1024, i % 251), () => {
          if (++committed === 200) process.stdout.write("committed\\n");
        });
    `);
    const frozen = await freezeWithTempFiles(child.pid!, dir);
    child.kill("SIGKILL");
    await exited;
    expect(readdirSync(dir).sort()).toEqual(frozen.sort());

    const finals = readdirSync(dir).filter((name) => !isTempFile(name));
    expect(finals.length).toBeGreaterThanOrEqual(200);
    // Buffer.equals: toEqual on thousands of 64 KiB buffers would crawl.
    const damaged = finals.filter(
      (name) => !readFileSync(join(dir, name)).equals(Buffer.alloc(64 * 1024, Number(name) % 251)),
    );
    expect(damaged).toEqual([]);
    expect(await removeStaleTempFiles(dir)).toBeGreaterThan(0);
    expect(readdirSync(dir).sort()).toEqual(finals.sort());
  });
});

/**
 * Stops the process (SIGSTOP) at a moment when `dir` holds temp files, i.e.
 * with writes started and not yet renamed; returns what `dir` holds then.
 */
async function freezeWithTempFiles(pid: number, dir: string): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    process.kill(pid, "SIGSTOP");
    await waitUntilStopped(pid);
    const names = readdirSync(dir);
    if (names.some(isTempFile)) return names;
    expect(Date.now(), "the writer never had a temp file in flight").toBeLessThan(deadline);
    process.kill(pid, "SIGCONT");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves once the kernel reports the process stopped (state T in /proc/<pid>/stat). */
async function waitUntilStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!/^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) {
    expect(Date.now(), `process ${pid} did not stop`).toBeLessThan(deadline);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
