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
  it("lands every file whole, renamed only when its group commits (group durability)", async () => {
    // One group syncing at a time: a write that fills a group returns once that group is in place.
    const writer = new GroupCommitWriter({
      durability: "group",
      groupMaxFiles: 16,
      groupDelayMs: 60_000,
      maxCommitting: 1,
    });
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
    // 40 files in groups of 16: the last 8 wait for close, as temp files.
    expect(readdirSync(temp.path).filter(isTempFile)).toHaveLength(8);
    expect(existsSync(join(temp.path, "39.bin"))).toBe(false);
    await writer.close();
    expect(committed.size).toBe(40);
    for (const [path, mtimeMs] of committed) expect(statSync(path).mtimeMs).toBe(mtimeMs);
    for (let i = 0; i < 40; i++) expect(readFileSync(join(temp.path, `${i}.bin`))).toEqual(body(i));
    expect(readdirSync(temp.path).filter(isTempFile)).toEqual([]);
  });

  for (const durability of ["file", "none"] as const) {
    it(`renames each file as soon as it is written (${durability} durability)`, async () => {
      const writer = new GroupCommitWriter({ durability });
      let committed = 0;
      for (let i = 0; i < 10; i++) {
        await writer.write(join(temp.path, `${i}.bin`), body(i), (error) => {
          if (error) throw error;
          committed++;
        });
        expect(committed).toBe(i + 1);
        expect(readFileSync(join(temp.path, `${i}.bin`))).toEqual(body(i));
      }
      await writer.close();
      expect(readdirSync(temp.path).filter(isTempFile)).toEqual([]);
    });
  }

  it("commits a group that does not fill once groupDelayMs has passed, without close", async () => {
    const writer = new GroupCommitWriter({ durability: "group", groupMaxFiles: 1000, groupDelayMs: 50 });
    const landed = new Promise<Error | undefined>((resolve) => {
      void writer.write(join(temp.path, "a"), body(1), (error) => resolve(error));
    });
    expect(existsSync(join(temp.path, "a"))).toBe(false);
    // Nothing but the timer can commit it: close is not called until after.
    expect(await landed).toBeUndefined();
    expect(readFileSync(join(temp.path, "a"))).toEqual(body(1));
    await writer.close();
  });

  it("holds the caller back while maxCommitting groups are syncing", async () => {
    const writer = new GroupCommitWriter({ durability: "group", groupMaxFiles: 1, maxCommitting: 1 });
    const events: string[] = [];
    for (let i = 0; i < 3; i++) {
      await writer.write(join(temp.path, String(i)), body(i), () => events.push(`committed ${i}`));
      events.push(`accepted ${i}`);
    }
    await writer.close();
    // One group at a time: each write waits for the one before it to be in place.
    expect(events).toEqual([
      "committed 0",
      "accepted 0",
      "committed 1",
      "accepted 1",
      "committed 2",
      "accepted 2",
    ]);
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
