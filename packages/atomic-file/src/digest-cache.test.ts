import { createHash } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileDigestCache } from "./digest-cache.js";

let temp: ReturnType<typeof makeTempDir>;
let cacheFile: string;
beforeEach(() => {
  temp = makeTempDir("operator-tool-digest-cache-");
  cacheFile = join(temp.path, "file-digests.json");
});
afterEach(() => temp.cleanup());

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/**
 * A clock 10 s ahead: files a test has just written count as settled, as
 * they would on a real re-run long after the model was written. Tests that
 * use it and then rewrite a file give the rewrite its own mtime, since inside
 * one timestamp tick a rewrite is exactly what the racy rule guards against.
 */
const settled = () => Date.now() + 10_000;

function writeData(name: string, content: string): string {
  const path = join(temp.path, name);
  writeFileSync(path, content);
  return path;
}

/** Moves a file's mtime by `seconds`, so that a rewrite cannot share the previous write's timestamp. */
function shiftMtime(path: string, seconds: number): void {
  const { atime, mtimeMs } = statSync(path);
  utimesSync(path, atime, new Date(mtimeMs + seconds * 1000));
}

/** A cache file that says `path` (as it is now) has digest `digest`, hashed `afterChangeS` after its last change. */
function writeCacheEntry(path: string, digest: string, afterChangeS: number): void {
  const s = statSync(path, { bigint: true });
  let latest = s.mtimeNs;
  if (s.ctimeNs > latest) latest = s.ctimeNs;
  const entry = {
    dev: s.dev.toString(),
    ino: s.ino.toString(),
    size: s.size.toString(),
    mtimeNs: s.mtimeNs.toString(),
    ctimeNs: s.ctimeNs.toString(),
    hashedAtNs: (latest + BigInt(afterChangeS * 1e9)).toString(),
    sha256: digest,
  };
  writeFileSync(
    cacheFile,
    JSON.stringify({ schema: "operator-tool/file-digests@1", files: { [path]: entry } }),
  );
}

const NOT_THE_CONTENT = "0".repeat(64);

describe("a remembered digest is reused only while the file's identity is unchanged", () => {
  it("answers an unchanged file from the cache, without reading it, in this run and after a re-open", async () => {
    const model = writeData("model.onnx", "weights v1");
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    expect(await cache.digest(model)).toEqual({ sha256: sha256("weights v1"), bytes: 10 });
    expect(await cache.digest(model)).toEqual({ sha256: sha256("weights v1"), bytes: 10 });
    expect(cache.stats).toEqual({ reused: 1, hashed: 1 });
    expect(await cache.save()).toBe(true);

    // Proof that the file is not read: a remembered digest that is not the
    // file's content comes back as long as the identity matches.
    writeCacheEntry(model, NOT_THE_CONTENT, 3);
    const reopened = await FileDigestCache.open(cacheFile);
    expect(await reopened.digest(model)).toEqual({ sha256: NOT_THE_CONTENT, bytes: 10 });
    expect(reopened.stats).toEqual({ reused: 1, hashed: 0 });
  });

  it("a relative path and its absolute form are one entry", async () => {
    const model = writeData("model.onnx", "weights");
    writeCacheEntry(model, NOT_THE_CONTENT, 3);
    const cache = await FileDigestCache.open(cacheFile);
    const relative = join(temp.path, "sub", "..", "model.onnx");
    expect((await cache.digest(relative)).sha256).toBe(NOT_THE_CONTENT);
  });

  it("a file whose size changed is read again", async () => {
    const model = writeData("model.onnx", "weights");
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    await cache.digest(model);
    appendFileSync(model, " and more");
    expect(await cache.digest(model)).toEqual({ sha256: sha256("weights and more"), bytes: 16 });
    expect(cache.stats).toEqual({ reused: 0, hashed: 2 });
  });

  it("a same-size rewrite in place (same inode, new mtime) is read again", async () => {
    const model = writeData("model.onnx", "weights v1");
    const ino = statSync(model).ino;
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    await cache.digest(model);
    writeFileSync(model, "weights v2");
    shiftMtime(model, 5);
    expect(statSync(model).ino).toBe(ino);
    expect(await cache.digest(model)).toEqual({ sha256: sha256("weights v2"), bytes: 10 });
    expect(cache.stats.hashed).toBe(2);
  });

  it("a file replaced by a rename (new inode, same size and mtime) is read again", async () => {
    // Whole seconds: a time that survives utimes exactly, so only the inode tells the files apart.
    const stamp = 1_700_000_000;
    const model = writeData("model.onnx", "weights v1");
    utimesSync(model, stamp, stamp);
    const before = statSync(model, { bigint: true });
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    await cache.digest(model);
    const next = writeData("model.onnx.new", "weights v2");
    utimesSync(next, stamp, stamp);
    renameSync(next, model);
    const after = statSync(model, { bigint: true });
    expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
    expect(after.ino).not.toBe(before.ino);
    expect(await cache.digest(model)).toEqual({ sha256: sha256("weights v2"), bytes: 10 });
    expect(cache.stats.hashed).toBe(2);
  });

  it("a digest remembered for a file that is gone is forgotten, and the lookup is the filesystem's error", async () => {
    const model = writeData("model.onnx", "weights");
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    await cache.digest(model);
    expect(cache.size).toBe(1);
    unlinkSync(model);
    await expect(cache.digest(model)).rejects.toMatchObject({ code: "ENOENT" });
    expect(cache.size).toBe(0);
  });

  it("lookups of one path at the same time share one read", async () => {
    const model = writeData("model.onnx", "weights");
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    const answers = await Promise.all([cache.digest(model), cache.digest(model), cache.digest(model)]);
    expect(new Set(answers.map((a) => a.sha256))).toEqual(new Set([sha256("weights")]));
    expect(cache.stats).toEqual({ reused: 0, hashed: 1 });
  });
});

describe("racy files: a change within 2 s of the hash cannot be ruled out", () => {
  /** A clock that reads `seconds` after the file's last change (its ctime). */
  const afterChange = (path: string, seconds: number) => () =>
    Number(statSync(path, { bigint: true }).ctimeNs / 1_000_000n) + seconds * 1000;

  it("a file hashed 1 s after its last change is not remembered; 3 s after, it is", async () => {
    const model = writeData("model.onnx", "weights");
    const racy = await FileDigestCache.open(cacheFile, { now: afterChange(model, 1) });
    expect(await racy.digest(model)).toEqual({ sha256: sha256("weights"), bytes: 7 });
    expect(await racy.digest(model)).toEqual({ sha256: sha256("weights"), bytes: 7 });
    expect(racy.stats).toEqual({ reused: 0, hashed: 2 });
    expect(racy.size).toBe(0);
    expect(await racy.save()).toBe(false);
    expect(existsSync(cacheFile)).toBe(false);

    const settledCache = await FileDigestCache.open(cacheFile, { now: afterChange(model, 3) });
    await settledCache.digest(model);
    await settledCache.digest(model);
    expect(settledCache.stats).toEqual({ reused: 1, hashed: 1 });
  });

  it("with the real clock, a file just written is read on every lookup", async () => {
    const model = writeData("model.onnx", "weights");
    const cache = await FileDigestCache.open(cacheFile);
    await cache.digest(model);
    await cache.digest(model);
    expect(cache.stats).toEqual({ reused: 0, hashed: 2 });
  });

  it("a racy entry found in the cache file is not trusted", async () => {
    const model = writeData("model.onnx", "weights");
    writeCacheEntry(model, NOT_THE_CONTENT, 1);
    const cache = await FileDigestCache.open(cacheFile);
    expect(await cache.digest(model)).toEqual({ sha256: sha256("weights"), bytes: 7 });
    expect(cache.stats).toEqual({ reused: 0, hashed: 1 });
  });

  it("a file whose mtime is in the future is never remembered", async () => {
    const model = writeData("model.onnx", "weights");
    const { atime } = statSync(model);
    utimesSync(model, atime, new Date(Date.now() + 3_600_000));
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    await cache.digest(model);
    expect(cache.size).toBe(0);
  });
});

describe("the cache file", () => {
  it.each([
    ["empty", ""],
    ["not JSON", "{ this is not json"],
    ["an array", "[1, 2]"],
    ["another schema", JSON.stringify({ schema: "operator-tool/file-digests@9", files: {} })],
    ["files not an object", JSON.stringify({ schema: "operator-tool/file-digests@1", files: [] })],
  ])("%s reads as an empty cache", async (_name, content) => {
    writeFileSync(cacheFile, content);
    const model = writeData("model.onnx", "weights");
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    expect(cache.size).toBe(0);
    expect(await cache.digest(model)).toEqual({ sha256: sha256("weights"), bytes: 7 });
    expect(await cache.save()).toBe(true);
    expect((await FileDigestCache.open(cacheFile)).size).toBe(1);
  });

  it("missing, or a directory where the file should be, reads as an empty cache", async () => {
    expect((await FileDigestCache.open(cacheFile)).size).toBe(0);
    mkdirSync(cacheFile);
    expect((await FileDigestCache.open(cacheFile)).size).toBe(0);
  });

  it("wrong-shaped entries are left out, well-formed ones kept", async () => {
    const model = writeData("model.onnx", "weights");
    writeCacheEntry(model, NOT_THE_CONTENT, 3);
    const good = JSON.parse(readFileSync(cacheFile, "utf8"));
    const entry = good.files[model];
    good.files["relative/path"] = entry;
    good.files[join(temp.path, "short-sha")] = { ...entry, sha256: "abc" };
    good.files[join(temp.path, "number-size")] = { ...entry, size: 7 };
    good.files[join(temp.path, "negative-ino")] = { ...entry, ino: "-1" };
    good.files[join(temp.path, "no-ctime")] = { ...entry, ctimeNs: undefined };
    good.files[join(temp.path, "null")] = null;
    writeFileSync(cacheFile, JSON.stringify(good));
    const cache = await FileDigestCache.open(cacheFile);
    expect(cache.size).toBe(1);
    expect((await cache.digest(model)).sha256).toBe(NOT_THE_CONTENT);
  });

  it("save writes only when something changed, by an atomic replace, and a re-open sees the entries", async () => {
    const a = writeData("a.onnx", "model a");
    const b = writeData("b.onnx", "model b");
    const nested = join(temp.path, "staging", "file-digests.json");
    const cache = await FileDigestCache.open(nested, { now: settled });
    expect(await cache.save()).toBe(false);
    expect(existsSync(nested)).toBe(false);

    await cache.digest(a);
    expect(await cache.save()).toBe(true);
    const first = statSync(nested);
    await cache.digest(a);
    expect(await cache.save()).toBe(false);
    expect(statSync(nested).ino).toBe(first.ino);

    await cache.digest(b);
    expect(await cache.save()).toBe(true);
    // A new inode at the path: renamed into place, never rewritten where a reader could see half of it.
    expect(statSync(nested).ino).not.toBe(first.ino);
    expect(readdirSync(join(temp.path, "staging"))).toEqual(["file-digests.json"]);

    const reopened = await FileDigestCache.open(nested);
    expect(reopened.size).toBe(2);
    expect(await reopened.digest(a)).toEqual({ sha256: sha256("model a"), bytes: 7 });
    expect(await reopened.digest(b)).toEqual({ sha256: sha256("model b"), bytes: 7 });
    expect(reopened.stats).toEqual({ reused: 2, hashed: 0 });
  });

  it("a save forgets files that are gone or have changed since they were hashed", async () => {
    const paths = ["a", "b", "c"].map((name) => writeData(`${name}.onnx`, `model ${name}`));
    const cache = await FileDigestCache.open(cacheFile, { now: settled });
    for (const path of paths) await cache.digest(path);
    expect(await cache.save()).toBe(true);

    unlinkSync(paths[0]!);
    appendFileSync(paths[1]!, " changed");
    const later = await FileDigestCache.open(cacheFile, { now: settled });
    expect(later.size).toBe(3);
    const d = writeData("d.onnx", "model d");
    await later.digest(d);
    expect(await later.save()).toBe(true);
    const kept = Object.keys(JSON.parse(readFileSync(cacheFile, "utf8")).files);
    expect(kept.sort()).toEqual([paths[2]!, d].sort());
  });

  it("past maxEntries, the files hashed last are kept", async () => {
    let clock = Date.now() + 10_000;
    const paths = ["a", "b", "c"].map((name) => writeData(`${name}.onnx`, `model ${name}`));
    const cache = await FileDigestCache.open(cacheFile, { now: () => clock++, maxEntries: 2 });
    for (const path of paths) await cache.digest(path);
    expect(await cache.save()).toBe(true);
    const kept = Object.keys(JSON.parse(readFileSync(cacheFile, "utf8")).files);
    expect(kept.sort()).toEqual([paths[1]!, paths[2]!]);
    expect(cache.size).toBe(2);
  });
});
