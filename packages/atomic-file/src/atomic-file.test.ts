import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { removeStaleTempFiles, writeFileAtomic, writeJsonAtomic } from "./atomic-file.js";

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
