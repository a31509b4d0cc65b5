import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTempFile, removeStaleTempFiles, writeFileAtomic, writeJsonAtomic } from "./atomic-file.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

describe("writeFileAtomic", () => {
  it("replaces content whole and leaves no temp file", async () => {
    const path = join(temp.path, "a.json");
    writeFileSync(path, "old");
    await writeJsonAtomic(path, { n: 1 });
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ n: 1 });
    expect(readdirSync(temp.path)).toEqual(["a.json"]);
  });

  it("fails cleanly when the directory is missing", async () => {
    await expect(writeFileAtomic(join(temp.path, "no/such/dir/x"), "x")).rejects.toThrow(/ENOENT/);
  });

  it("a kill -9 in the middle of writes leaves the old or the new content, and the sweep removes the debris", async () => {
    const path = join(temp.path, "big.bin");
    writeFileSync(path, Buffer.alloc(1024, 1));
    // A child rewrites the file in a loop with 8 MiB payloads; we kill it mid-flight.
    const script = `
      import { writeFileAtomic } from ${JSON.stringify(new URL("../dist/atomic-file.js", import.meta.url).href)};
      for (let i = 2; ; i++) await writeFileAtomic(${JSON.stringify(path)}, Buffer.alloc(8 * 1024 * 1024, i % 250));
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: "ignore",
    });
    const exited = new Promise((r) => child.once("exit", r));
    await new Promise((r) => setTimeout(r, 700));
    expect(child.exitCode, "the writer must still be running when killed").toBeNull();
    child.kill("SIGKILL");
    await exited;
    const content = readFileSync(path);
    expect([1024, 8 * 1024 * 1024]).toContain(content.length);
    expect(content.every((b) => b === content[0])).toBe(true);
    await removeStaleTempFiles(temp.path);
    expect(readdirSync(temp.path).filter(isTempFile)).toEqual([]);
    expect(existsSync(path)).toBe(true);
  });

  it("the sweep removes temp files of dead writers only", async () => {
    const dead = join(temp.path, ".t.png.tmp-999999-aaaa");
    const mine = join(temp.path, `.t.png.tmp-${process.pid}-bbbb`);
    writeFileSync(dead, "x");
    writeFileSync(mine, "x");
    writeFileSync(join(temp.path, "t.png"), "x");
    expect(await removeStaleTempFiles(temp.path)).toBe(1);
    expect(readdirSync(temp.path).sort()).toEqual([`.t.png.tmp-${process.pid}-bbbb`, "t.png"]);
  });
});
