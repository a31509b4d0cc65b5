import {
  chmodSync,
  mkdirSync,
  type PathLike,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { basename, join } from "node:path";
import { findExecutable } from "@operator-tool/executable-lookup";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTempFile } from "./atomic-file.js";
import { GroupCommitWriter } from "./group-commit-writer.js";

// The module object itself: what `import { fsyncSync } from "node:fs"` reads, once synced.
const fs = createRequire(import.meta.url)("node:fs") as typeof import("node:fs");

let temp: ReturnType<typeof makeTempDir>;
const restore: Array<() => void> = [];
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => {
  for (const undo of restore.splice(0).reverse()) undo();
  temp.cleanup();
});

/** Puts `dir` first on PATH for this test. */
function prependPath(dir: string): void {
  const saved = process.env.PATH;
  process.env.PATH = `${dir}:${saved ?? ""}`;
  restore.push(() => {
    process.env.PATH = saved;
  });
}

/** Records every fsync (by the path of the file synced) and rename, in the order they happen. */
function recordSyncsAndRenames(): string[] {
  const calls: string[] = [];
  const { fsyncSync, renameSync } = fs;
  fs.fsyncSync = (fd: number) => {
    calls.push(`fsync ${basename(readlinkSync(`/proc/self/fd/${fd}`))}`);
    fsyncSync(fd);
  };
  fs.renameSync = (from: PathLike, to: PathLike) => {
    calls.push(`rename ${basename(String(from))} ${basename(String(to))}`);
    renameSync(from, to);
  };
  syncBuiltinESMExports();
  restore.push(() => {
    fs.fsyncSync = fsyncSync;
    fs.renameSync = renameSync;
    syncBuiltinESMExports();
  });
  return calls;
}

/** Every rename's source was fsynced before it: the data was durable before it got its name. */
function expectFsyncBeforeEachRename(calls: readonly string[], files: number): void {
  const renames = calls.filter((c) => c.startsWith("rename "));
  expect(renames).toHaveLength(files);
  for (const rename of renames) {
    const temp = rename.split(" ")[1]!;
    const synced = calls.indexOf(`fsync ${temp}`);
    expect(synced, `${temp} fsynced before its rename`).toBeGreaterThanOrEqual(0);
    expect(synced).toBeLessThan(calls.indexOf(rename));
  }
}

async function writeFiles(writer: GroupCommitWriter, dir: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await writer.write(join(dir, String(i)), Buffer.alloc(500, i), (error) => {
      if (error) throw error;
    });
  await writer.close();
}

describe("GroupCommitWriter durability", () => {
  it("makes each group durable with one `sync -f` before renaming any of its files", async () => {
    const realSync = findExecutable("sync");
    expect(realSync, "the test needs a real `sync`").toBeDefined();
    const dir = join(temp.path, "out");
    const bin = join(temp.path, "bin");
    const log = join(temp.path, "sync.log");
    mkdirSync(dir);
    mkdirSync(bin);
    // Lists the directory as the sync starts and again as it ends, then answers as sync does.
    writeFileSync(
      join(bin, "sync"),
      `#!/bin/sh
d=$(dirname "$2")
{ echo "start"; ls -a "$d"; } >> ${log}
${realSync} "$@"; rc=$?
{ echo "end"; ls -a "$d"; } >> ${log}
exit $rc
`,
    );
    chmodSync(join(bin, "sync"), 0o755);
    prependPath(bin);

    await writeFiles(
      new GroupCommitWriter({ durability: "group", groupMaxFiles: 16, groupDelayMs: 60_000 }),
      dir,
      40,
    );

    const listings = readFileSync(log, "utf8")
      .split(/^(start|end)\n/m)
      .filter((part) => part !== "")
      .reduce<Array<{ when: string; names: string[] }>>((out, part, i, parts) => {
        if (i % 2 === 0) out.push({ when: part, names: parts[i + 1]!.trim().split("\n") });
        return out;
      }, []);
    // 40 files in groups of 16: three syncs, each seen at its start and its end.
    expect(listings.map((l) => l.when)).toEqual(["start", "end", "start", "end", "start", "end"]);
    const finals = readdirSync(dir).filter((name) => !isTempFile(name));
    expect(finals).toHaveLength(40);
    for (const name of finals) {
      // Some sync ran from start to end while this file was still only a temp file.
      const coveredBy = listings.findIndex(
        (l, i) =>
          l.when === "start" &&
          l.names.some((n) => n.startsWith(`.${name}.tmp-`)) &&
          !l.names.includes(name) &&
          !listings[i + 1]!.names.includes(name),
      );
      expect(coveredBy, `${name} was synced before its rename`).toBeGreaterThanOrEqual(0);
    }
  });

  it("fsyncs each file before its rename under file durability", async () => {
    const dir = join(temp.path, "out");
    mkdirSync(dir);
    const calls = recordSyncsAndRenames();
    await writeFiles(new GroupCommitWriter({ durability: "file" }), dir, 20);
    expectFsyncBeforeEachRename(calls, 20);
    expect(readdirSync(dir)).toHaveLength(20);
  });

  it.each([
    ["`sync -f` fails", "exit 1"],
    ["there is no `sync`", undefined],
  ])("falls back to one fsync per file, before its rename, where %s", async (_, syncBody) => {
    const dir = join(temp.path, "out");
    const bin = join(temp.path, "bin");
    mkdirSync(dir);
    mkdirSync(bin);
    if (syncBody !== undefined) {
      writeFileSync(join(bin, "sync"), `#!/bin/sh\n${syncBody}\n`);
      chmodSync(join(bin, "sync"), 0o755);
    }
    const saved = process.env.PATH;
    process.env.PATH = bin;
    restore.push(() => {
      process.env.PATH = saved;
    });
    const calls = recordSyncsAndRenames();
    await writeFiles(new GroupCommitWriter({ durability: "group", groupMaxFiles: 8 }), dir, 40);
    expectFsyncBeforeEachRename(calls, 40);
    expect(readdirSync(dir)).toHaveLength(40);
  });
});
