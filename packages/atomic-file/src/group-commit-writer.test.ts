import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTempFile } from "./atomic-file.js";
import { GroupCommitWriter } from "./group-commit-writer.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const body = (i: number, size = 3000) => Buffer.alloc(size, i % 251);

describe("GroupCommitWriter", () => {
  for (const durability of ["group", "file"] as const) {
    it(`lands every file whole, renamed only when its group commits (${durability} durability)`, async () => {
      const writer = new GroupCommitWriter({ durability, groupMaxFiles: 16, groupDelayMs: 60_000 });
      const committed = new Map<string, number>();
      // One buffer reused for every file: the data must be on disk before write returns.
      const scratch = Buffer.alloc(3000);
      for (let i = 0; i < 40; i++) {
        const path = join(temp.path, `${i}.bin`);
        scratch.fill(i % 251);
        await writer.write(path, scratch, (error, done) => {
          if (error) throw error;
          committed.set(path, done!.mtimeMs);
        });
      }
      // 40 files in groups of 16: the last 8 wait for close.
      expect(readdirSync(temp.path).filter(isTempFile).length).toBeGreaterThanOrEqual(8);
      await writer.close();
      expect(committed.size).toBe(40);
      for (const [path, mtimeMs] of committed) expect(statSync(path).mtimeMs).toBe(mtimeMs);
      expect(readFileSync(join(temp.path, "7.bin"))).toEqual(body(7));
      expect(readdirSync(temp.path).filter(isTempFile)).toEqual([]);
    });
  }

  it("commits a group that does not fill once groupDelayMs has passed, without close", async () => {
    const writer = new GroupCommitWriter({ groupMaxFiles: 1000, groupDelayMs: 50 });
    let committed = 0;
    await writer.write(join(temp.path, "a"), body(1), () => committed++);
    expect(existsSync(join(temp.path, "a"))).toBe(false);
    const deadline = Date.now() + 5_000;
    while (committed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(committed).toBe(1);
    expect(readFileSync(join(temp.path, "a"))).toEqual(body(1));
    await writer.close();
  });

  it("reports a filesystem error for the one file, and the others still land", async () => {
    const writer = new GroupCommitWriter();
    const errors: Array<string | undefined> = [];
    const record = (e: Error | undefined) => errors.push((e as NodeJS.ErrnoException | undefined)?.code);
    await writer.write(join(temp.path, "missing-dir", "x"), body(1), record);
    await writer.write(join(temp.path, "ok"), body(2), record);
    await writer.close();
    expect(errors).toEqual(["ENOENT", undefined]);
    expect(readdirSync(temp.path)).toEqual(["ok"]);
  });
});
