import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTempDir, REPO_ROOT } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_SCRIPT, type CompanionBundle, prepareCompanionBundle } from "./companion-bundle.js";
import { elfArch, PINNED_NODE_VERSION, resolveNodeRuntime } from "./node-runtime.js";

const COMPANION_ENTRY = join(REPO_ROOT, "apps/operator-tool/dist/companion-main.js");
/** Fetched runtimes outlive one test run: the registry is asked once per machine, as the tool's own cache does. */
const RUNTIME_CACHE = join(tmpdir(), "operator-tool-test-node-runtimes");

let temp: ReturnType<typeof makeTempDir>;
let arm64: CompanionBundle;

beforeAll(async () => {
  temp = makeTempDir("operator-tool-bundle-");
  arm64 = await prepareCompanionBundle({
    stagingRoot: temp.path,
    version: "0.1.0",
    arch: "arm64",
    companionEntry: COMPANION_ENTRY,
  });
});
afterAll(() => temp?.cleanup());

const fileType = (path: string) => execFileSync("file", ["-b", "-L", path], { encoding: "utf8" });

describe("the companion bundle", () => {
  it("for arm64 carries onnxruntime's aarch64 native library only, and stays under 40 MiB without the runtime", () => {
    const paths = arm64.files.map((f) => f.path);
    const native = "node_modules/onnxruntime-node/bin/napi-v6/linux/arm64";
    expect(paths).toContain(`${native}/onnxruntime_binding.node`);
    expect(paths).toContain(`${native}/libonnxruntime.so.1`);
    expect(
      paths.filter((p) => p.includes("/linux/x64/") || p.includes("/darwin/") || p.includes("/win32/")),
    ).toEqual([]);
    expect(fileType(join(arm64.dir, native, "onnxruntime_binding.node"))).toMatch(/ARM aarch64/);
    expect(fileType(join(arm64.dir, native, "libonnxruntime.so.1"))).toMatch(/ARM aarch64/);
    expect(paths).toEqual(
      expect.arrayContaining([
        BUNDLE_SCRIPT,
        "lib/read-ahead-worker.js",
        "lib/write-worker.js",
        "package.json",
      ]),
    );
    expect(JSON.parse(readFileSync(join(arm64.dir, "package.json"), "utf8"))).toMatchObject({
      version: "0.1.0",
      type: "module",
    });
    expect(arm64.bytes).toBeLessThan(40 * 1024 * 1024);
  });

  it("gets the arm64 Node runtime from the npm registry once, an aarch64 executable", async () => {
    const runtime = await resolveNodeRuntime({
      arch: "arm64",
      cacheDir: RUNTIME_CACHE,
      reuseWorkstationNode: false,
    });
    expect(runtime.path).toBe(join(RUNTIME_CACHE, `node-${PINNED_NODE_VERSION}-arm64`, "node"));
    expect(fileType(runtime.path)).toMatch(/ELF 64-bit LSB .*ARM aarch64/);
    expect(elfArch(runtime.path)).toBe("arm64");
    expect(elfArch(process.execPath)).toBe("x64");
  });

  it("bundles no workstation-only code: no SSH or HTTP client, no test helpers, no workstation command help", () => {
    const script = readFileSync(join(arm64.dir, BUNDLE_SCRIPT), "utf8");
    // esbuild heads each bundled module with its source path: the companion's own packages are there...
    expect(script).toMatch(/^\/\/ packages\/engine-compiler\/dist\//m);
    expect(script).toMatch(/^\/\/ packages\/companion-bringup\/dist\/tile-receiver\.js/m);
    // ...and none of these.
    for (const absent of [
      /^\/\/ .*node_modules\/ssh2\//m,
      /^\/\/ .*node_modules\/undici\//m,
      /^\/\/ .*node_modules\/cpu-features\//m,
      /^\/\/ packages\/test-helpers\//m,
      /^\/\/ packages\/flights-api\//m,
      /^\/\/ packages\/tile-downloader\//m,
      /^\/\/ packages\/remote-provisioner-invoker\//m,
      /^\/\/ apps\/operator-tool\/dist\/(program|run-cli|commands\/(build-cache|demo|companion-check|flights-show))\.js/m,
      /the whole job: resolve the flight/,
      /see it all work on loopback/,
    ])
      expect(script).not.toMatch(absent);
  });

  it("is reused while its inputs are unchanged", async () => {
    const built = statSync(join(arm64.dir, ".bundle-files.json")).mtimeMs;
    const again = await prepareCompanionBundle({
      stagingRoot: temp.path,
      version: "0.1.0",
      arch: "arm64",
      companionEntry: COMPANION_ENTRY,
    });
    expect(again.files).toEqual(arm64.files);
    expect(statSync(join(arm64.dir, ".bundle-files.json")).mtimeMs).toBe(built);
  });
});
