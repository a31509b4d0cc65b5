import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findExecutable } from "./find-executable.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

function file(dir: string, name: string, mode: number): string {
  mkdirSync(join(temp.path, dir), { recursive: true });
  const path = join(temp.path, dir, name);
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, mode);
  return path;
}

describe("findExecutable", () => {
  it("returns the first executable regular file on the search path, as execvp picks it", () => {
    file("a", "tool", 0o644); // not executable
    mkdirSync(join(temp.path, "b", "tool"), { recursive: true }); // a directory is not a program
    const wanted = file("c", "tool", 0o755);
    file("d", "tool", 0o755);
    const searchPath = ["a", "b", "c", "d"].map((d) => join(temp.path, d)).join(":");
    expect(findExecutable("tool", { searchPath })).toBe(wanted);
  });

  it("skips empty entries instead of searching the current directory", () => {
    file("cwd", "tool", 0o755);
    const cwd = process.cwd();
    process.chdir(join(temp.path, "cwd"));
    try {
      expect(findExecutable("tool", { searchPath: "::" })).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
  });

  it("tries the fallbacks, in order, only after the search path", () => {
    const onPath = file("bin", "tool", 0o755);
    const fallback = file("opt", "tool", 0o755);
    expect(findExecutable("tool", { searchPath: join(temp.path, "bin"), fallbacks: [fallback] })).toBe(
      onPath,
    );
    expect(
      findExecutable("tool", { searchPath: "", fallbacks: [join(temp.path, "missing"), fallback] }),
    ).toBe(fallback);
  });

  it("searches process.env.PATH by default", () => {
    const onPath = file("bin", "only-here", 0o755);
    const saved = process.env.PATH;
    process.env.PATH = join(temp.path, "bin");
    try {
      expect(findExecutable("only-here")).toBe(onPath);
      expect(findExecutable("sh")).toBeUndefined();
    } finally {
      process.env.PATH = saved;
    }
  });
});
