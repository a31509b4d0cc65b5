import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTempFile } from "./atomic-file.js";
import { builtScript } from "./built-script.js";
import { PipelinedAtomicWriter, type PipelinedCommit, PipelinedWriteError } from "./pipelined-writer.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const body = (i: number, size = 3000) => Buffer.alloc(size, i % 251);

/** Writes `count` files through `writer`; resolves with what each callback saw. */
async function writeMany(writer: PipelinedAtomicWriter, dir: string, count: number) {
  const seen = new Map<string, { error?: Error; committed?: PipelinedCommit }>();
  for (let i = 0; i < count; i++) {
    const path = join(dir, `${i}.bin`);
    await writer.write(path, body(i), (error, committed) => seen.set(path, { error, committed }));
  }
  await writer.close();
  return seen;
}

describe("PipelinedAtomicWriter: GroupCommitWriter on writer threads", () => {
  for (const durability of ["group", "file", "none"] as const) {
    it(`commits every file whole, with its sha256 and mtime (${durability} durability)`, async () => {
      const writer = new PipelinedAtomicWriter({ durability, groupMaxFiles: 16, maxInFlight: 40 });
      const seen = await writeMany(writer, temp.path, 300);
      expect(seen.size).toBe(300);
      for (const [path, { error, committed }] of seen) {
        expect(error).toBeUndefined();
        const data = readFileSync(path);
        expect(committed?.sha256).toBe(sha256(data));
        expect(committed?.mtimeMs).toBe(statSync(path).mtimeMs);
      }
      expect(readFileSync(join(temp.path, "7.bin"))).toEqual(body(7));
      expect(readdirSync(temp.path).filter(isTempFile)).toEqual([]);
    });
  }

  it("refuses a body whose digest is not the expected one, and writes nothing for it", async () => {
    const writer = new PipelinedAtomicWriter();
    const outcomes: Array<Error | undefined> = [];
    const good = body(1);
    await writer.write(join(temp.path, "good"), good, (e) => outcomes.push(e), {
      expectedSha256: sha256(good),
    });
    await writer.write(join(temp.path, "bad"), body(2), (e) => outcomes.push(e), {
      expectedSha256: "0".repeat(64),
    });
    await writer.close();
    expect(outcomes).toHaveLength(2);
    const failure = outcomes.find((e) => e !== undefined) as PipelinedWriteError;
    expect(failure).toBeInstanceOf(PipelinedWriteError);
    expect(failure.code).toBe("EDIGEST");
    expect(failure.message).toMatch(/^sha256 [0-9a-f]{64}, expected 0{64}; not written$/);
    expect(readdirSync(temp.path)).toEqual(["good"]);
  });

  it("reports a filesystem error for the one file, and the others still land", async () => {
    const writer = new PipelinedAtomicWriter();
    const errors: Array<string | undefined> = [];
    const paths: Array<string | undefined> = [];
    await writer.write(join(temp.path, "missing-dir", "x"), body(1), (e) => {
      errors.push((e as PipelinedWriteError)?.code);
      if (e !== undefined) paths.push((e as PipelinedWriteError).path);
    });
    await writer.write(join(temp.path, "ok"), body(2), (e) => errors.push((e as PipelinedWriteError)?.code));
    await writer.close();
    expect(errors.sort()).toEqual(["ENOENT", undefined]);
    // The errno's own path: the temp file it could not create beside the target.
    expect(paths).toEqual([expect.stringMatching(/\/missing-dir\/\.x\.tmp-/)]);
    expect(readdirSync(temp.path)).toEqual(["ok"]);
  });

  it("takes a transferred buffer's memory instead of copying it, and leaves a slice of a larger buffer alone", async () => {
    const writer = new PipelinedAtomicWriter();
    const owned = Buffer.from(new Uint8Array(body(3)).buffer);
    const shared = Buffer.alloc(100, 9);
    const slice = shared.subarray(10, 20);
    await writer.write(join(temp.path, "owned"), owned, () => undefined, { transfer: true });
    await writer.write(join(temp.path, "slice"), slice, () => undefined, { transfer: true });
    await writer.close();
    expect(owned.byteLength).toBe(0);
    expect(shared.byteLength).toBe(100);
    expect(readFileSync(join(temp.path, "owned"))).toEqual(body(3));
    expect(readFileSync(join(temp.path, "slice"))).toEqual(Buffer.alloc(10, 9));
  });

  it("holds the caller back once the bytes in flight reach maxInFlightBytes", async () => {
    const writer = new PipelinedAtomicWriter({ maxInFlightBytes: 10_000 });
    const events: string[] = [];
    for (let i = 0; i < 3; i++) {
      await writer.write(join(temp.path, String(i)), body(i, 6000), () => events.push(`committed ${i}`));
      events.push(`accepted ${i}`);
    }
    await writer.close();
    // 6000 + 6000 > 10 000: each file waits for the one before it.
    expect(events.indexOf("committed 0")).toBeLessThan(events.indexOf("accepted 1"));
    expect(events.indexOf("committed 1")).toBeLessThan(events.indexOf("accepted 2"));
    expect(readdirSync(temp.path).sort()).toEqual(["0", "1", "2"]);
  });
});

describe("builtScript", () => {
  it("is the file beside a built module; run from source, the build, refused when older than a source", () => {
    const source = new URL("./group-commit-writer.ts", import.meta.url);
    const built = new URL("../dist/write-worker.js", import.meta.url);
    expect(builtScript("write-worker.js", "file:///opt/operator-tool/dist/pipelined-writer.js").href).toBe(
      "file:///opt/operator-tool/dist/write-worker.js",
    );
    expect(builtScript("write-worker.js", import.meta.url).href).toBe(built.href);
    const { atime, mtime } = statSync(source);
    try {
      // A source the thread imports, edited after the last build.
      utimesSync(source, atime, new Date(statSync(built).mtimeMs + 60_000));
      expect(() => builtScript("write-worker.js", import.meta.url)).toThrow(
        /dist\/ is older than .*group-commit-writer\.ts: run `pnpm build`$/,
      );
    } finally {
      utimesSync(source, atime, mtime);
    }
  });
});
