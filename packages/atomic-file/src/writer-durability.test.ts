import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTempFile, removeStaleTempFiles } from "./atomic-file.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const distIndex = JSON.stringify(new URL("../dist/index.js", import.meta.url).href);

// Both batch writers share `write(path, data, onCommitted)` and grouped syncs:
// the same crash and fallback checks hold for each, in a child process of its own.
for (const writer of ["PipelinedAtomicWriter", "GroupCommitWriter"]) {
  describe(writer, () => {
    it("falls back to one fsync per file where `sync -f` cannot run", () => {
      const dir = join(temp.path, "out");
      mkdirSync(dir);
      const script = `
        import { ${writer} } from ${distIndex};
        const writer = new ${writer}({ durability: "group", groupMaxFiles: 8 });
        let ok = 0;
        for (let i = 0; i < 40; i++)
          await writer.write(${JSON.stringify(dir)} + "/" + i, Buffer.alloc(500, i), (e) => { if (e) throw e; ok++; });
        await writer.close();
        console.log(ok);
      `;
      // An empty PATH: no `sync` to find; every file must still land.
      const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        env: { PATH: "" },
        encoding: "utf8",
      });
      expect(result.stderr).toBe("");
      expect(result.stdout.trim()).toBe("40");
      expect(readdirSync(dir)).toHaveLength(40);
    });

    it("a kill -9 mid-stream leaves only whole files in place; the sweep removes the temp files", async () => {
      const dir = join(temp.path, "out");
      mkdirSync(dir);
      // Large groups keep many files between write and rename when the kill lands.
      const script = `
        import { ${writer} } from ${distIndex};
        const writer = new ${writer}({ groupMaxFiles: 64 });
        let committed = 0;
        for (let i = 0; ; i++)
          await writer.write(${JSON.stringify(dir)} + "/" + i, Buffer.alloc(64 * 1024, i % 251), () => {
            if (++committed === 200) process.stdout.write("committed\\n");
          });
      `;
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const exited = new Promise((r) => child.once("exit", r));
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      child.kill("SIGKILL");
      await exited;

      const names = readdirSync(dir);
      const finals = names.filter((n) => !isTempFile(n));
      expect(names.some(isTempFile), "the kill should land while files wait for their group's sync").toBe(
        true,
      );
      expect(finals.length).toBeGreaterThanOrEqual(200);
      // Buffer.equals: toEqual on thousands of 64 KiB buffers would crawl.
      const damaged = finals.filter(
        (name) => !readFileSync(join(dir, name)).equals(Buffer.alloc(64 * 1024, Number(name) % 251)),
      );
      expect(damaged).toEqual([]);
      await removeStaleTempFiles(dir);
      expect(readdirSync(dir).filter(isTempFile)).toEqual([]);
      expect(existsSync(join(dir, finals[0]!))).toBe(true);
    });
  });
}
