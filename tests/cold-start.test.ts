import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_PATH, makeTempDir, REPO_ROOT } from "@operator-tool/test-helpers";
import { afterAll, describe, expect, it } from "vitest";

const temp = makeTempDir();
afterAll(() => temp.cleanup());

function modulesLoadedBy(args: string[]): string[] {
  const record = join(temp.path, `imports-${args.join("_").replace(/\W/g, "")}.txt`);
  const result = spawnSync(
    process.execPath,
    ["--import", join(REPO_ROOT, "tests/fixtures/record-imports.mjs"), CLI_PATH, ...args],
    { env: { ...process.env, RECORD_IMPORTS_TO: record }, encoding: "utf8", cwd: temp.path },
  );
  expect(result.status, result.stderr).toBe(0);
  return readFileSync(record, "utf8").trim().split("\n");
}

describe("cold start", () => {
  it.each([["--help"], ["flights", "show", "--help"]])("%s loads no heavy module", (...args) => {
    const loaded = modulesLoadedBy(args);
    expect(loaded.some((url) => url.includes("commander"))).toBe(true); // the recorder works
    for (const heavy of ["ssh2", "onnxruntime", "undici", "pino", "zod", "yaml"]) {
      expect(loaded.filter((url) => url.includes(`/node_modules/${heavy}`))).toEqual([]);
    }
  });

  it("the companion's side of a sync starts without the config validator or the SSH and HTTP stacks", () => {
    // `tiles receive` runs once per sync, on the Jetson, with the stream waiting on it.
    const loaded = modulesLoadedBy(["tiles", "receive", "--list", "--root", join(temp.path, "cache")]);
    expect(loaded.some((url) => url.includes("companion-bringup"))).toBe(true); // the recorder works
    for (const heavy of ["ssh2", "onnxruntime", "undici", "zod", "yaml"]) {
      expect(loaded.filter((url) => url.includes(`/node_modules/${heavy}`))).toEqual([]);
    }
  });
});
