import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  FAKE_TRTEXEC_RELEASES,
  installFakeTrtexec,
  JETSON_FIXTURES,
  jetsonBinDir,
  makeTempDir,
  writeJetsonRoot,
  writeOnnxModel,
} from "@operator-tool/test-helpers";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compileEngines, type EngineBuildLogRecord } from "./compile-engines.js";
import { type Corpus, parseCorpus } from "./corpus.js";
import { readBuildRecord, sidecarPath } from "./engine-cache.js";
import { buildEngineFilename, parseEngineFilename } from "./engine-filename.js";
import type { HostInfo } from "./host-probe.js";

let temp: ReturnType<typeof makeTempDir>;
let trtexec: string;
let calls: string;
const savedEnv = { ...process.env };

beforeEach(() => {
  temp = makeTempDir();
  trtexec = installFakeTrtexec(join(temp.path, "bin"));
  calls = join(temp.path, "trtexec-calls.jsonl");
  process.env.FAKE_TRTEXEC_CALLS = calls;
  for (const [name, scale] of [
    ["dinov2_vpr", 2],
    ["lightglue", 3],
    ["aliked", 4],
  ] as const) {
    writeOnnxModel(join(temp.path, `${name}.onnx`), { shape: ["batch", 3, 16, 16], scale });
  }
});
afterEach(() => {
  process.env = { ...savedEnv };
  temp.cleanup();
});

const trtHost = (overrides: Partial<HostInfo> = {}): HostInfo => ({
  backend: "tensorrt",
  arch: "arm64",
  l4t: "36.4.3",
  jetpack: "6.2",
  platform: "tegra234",
  sm: 87,
  tensorrt: "10.3",
  tensorrtFull: "10.3.0",
  cuda: "12.6",
  deviceModel: undefined,
  compatible: undefined,
  trtexecPath: trtexec,
  ortVersion: "1.30.0",
  sources: {},
  ...overrides,
});

function corpus(names = ["dinov2_vpr", "lightglue", "aliked"], extra: Record<string, unknown> = {}): Corpus {
  return parseCorpus(
    {
      workspaceMb: 2048,
      backbones: names.map((modelName) => ({
        modelName,
        onnxPath: `${modelName}.onnx`,
        inputName: "input",
        inputShape: [1, 3, 16, 16],
        precision: "fp16",
        ...extra,
      })),
    },
    join(temp.path, "corpus.json"),
  );
}

const cacheRoot = () => join(temp.path, "engines");
const trtexecCalls = () =>
  existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n").filter(Boolean).length : 0;
const run = (c: Corpus, host = trtHost(), extra: Partial<Parameters<typeof compileEngines>[0]> = {}) =>
  compileEngines({ corpus: c, cacheRoot: cacheRoot(), host, ...extra });

describe("compileEngines (seed acceptance criteria)", () => {
  it("AC-1 cold cache: every backbone built, engine + sidecar on disk, sidecar checks with sha256sum", async () => {
    const { report, error } = await run(corpus());
    expect(error).toBeUndefined();
    expect(report.outcome).toBe("success");
    expect(report.results.map((r) => r.outcome)).toEqual(["built", "built", "built"]);
    expect(report.results.every((r) => r.reasons.includes("no-engine"))).toBe(true);
    expect(trtexecCalls()).toBe(3);
    for (const r of report.results) {
      expect(existsSync(r.enginePath)).toBe(true);
      execFileSync("sha256sum", ["--check", "--status", sidecarPath(r.enginePath)], { cwd: cacheRoot() });
    }
    expect(report.summary).toEqual({ built: 3, reused: 0, failed: 0 });
  });

  it("AC-2 warm cache: every backbone reused, zero compiles", async () => {
    await run(corpus());
    const before = trtexecCalls();
    const { report } = await run(corpus());
    expect(report.results.map((r) => r.outcome)).toEqual(["reused", "reused", "reused"]);
    expect(
      report.results.every((r) => r.compileDurationS === null && /^[0-9a-f]{64}$/.test(r.sha256 ?? "")),
    ).toBe(true);
    expect(trtexecCalls()).toBe(before);
  });

  it("AC-3 mixed: one missing engine is built, the others reused", async () => {
    const first = await run(corpus());
    execFileSync("rm", [first.report.results[1]!.enginePath]);
    const { report } = await run(corpus());
    expect(report.results.map((r) => `${r.outcome}:${r.reasons.join("+")}`)).toEqual([
      "reused:",
      "built:no-engine",
      "reused:",
    ]);
  });

  it("AC-4 hardware change: new filenames are built, the old engines are left untouched", async () => {
    const first = await run(corpus());
    const old = first.report.results.map((r) => ({
      path: r.enginePath,
      mtime: statSync(r.enginePath).mtimeMs,
      bytes: readFileSync(r.enginePath),
    }));
    const { report } = await run(
      corpus(),
      trtHost({ sm: 89, jetpack: "6.3", tensorrt: "10.5", tensorrtFull: "10.5.0" }),
    );
    expect(report.results.map((r) => r.outcome)).toEqual(["built", "built", "built"]);
    expect(report.results[0]!.enginePath).toMatch(/dinov2_vpr__sm89_jp6\.3_trt10\.5_fp16\.engine$/);
    for (const o of old) {
      expect(statSync(o.path).mtimeMs).toBe(o.mtime);
      expect(readFileSync(o.path)).toEqual(o.bytes);
    }
  });

  it("AC-5 a tampered sidecar rebuilds that engine only (digest-mismatch); a missing one says no-sidecar", async () => {
    const first = await run(corpus());
    writeFileSync(sidecarPath(first.report.results[1]!.enginePath), `${"0".repeat(64)}  x\n`);
    execFileSync("rm", [sidecarPath(first.report.results[2]!.enginePath)]);
    const { report } = await run(corpus());
    expect(report.results.map((r) => `${r.outcome}:${r.reasons.join("+")}`)).toEqual([
      "reused:",
      "built:digest-mismatch",
      "built:no-sidecar",
    ]);
  });

  it("AC-6 a failure mid-corpus: earlier engines intact, the failed one absent, later ones not attempted", async () => {
    await run(corpus(["dinov2_vpr"]));
    const kept = readFileSync(join(cacheRoot(), "dinov2_vpr__sm87_jp6.2_trt10.3_fp16.engine"));
    process.env.FAKE_TRTEXEC_FAIL = "lightglue.onnx";
    const before = trtexecCalls();
    const { report, error } = await run(corpus());
    expect(error?.name).toBe("EngineBuildError");
    expect(report.outcome).toBe("failure");
    expect(report.error).toMatchObject({
      modelName: "lightglue",
      class: "EngineBuildError",
      code: "ENGINE_BUILD_FAILED",
    });
    // The cause, not the generic "Engine could not be created from network" … "Engine set up failed" after it.
    expect(report.error!.message).toBe(
      "model lightglue: trtexec exited 1: [TRT] 10: [optimizer] Error Code 10: Internal Error (Could not find any implementation for node mul)",
    );
    expect(report.error!.tail!.join("\n")).toContain("[E] Engine set up failed");
    expect(report.error!.errorLines!.map((l) => l.replace(/^\[[^\]]*\] /, ""))).toEqual([
      "[E] [TRT] 10: [optimizer] Error Code 10: Internal Error (Could not find any implementation for node mul)",
      "[E] Engine could not be created from network",
      "[E] Building engine failed",
      "[E] Failed to create engine from model or file.",
      "[E] Engine set up failed",
    ]);
    // stdout and stderr are two pipes: the result line's place among the [E] lines is not fixed.
    expect(report.error!.tail!.some((l) => /^&&&& FAILED TensorRT\.trtexec/.test(l))).toBe(true);
    expect(report.results.map((r) => r.outcome)).toEqual(["reused", "failed"]);
    expect(readFileSync(join(cacheRoot(), "dinov2_vpr__sm87_jp6.2_trt10.3_fp16.engine"))).toEqual(kept);
    expect(
      readdirSync(cacheRoot()).filter(
        (n) => n.startsWith("lightglue") || n.startsWith("aliked") || n.includes(".tmp-"),
      ),
    ).toEqual([]);
    expect(trtexecCalls() - before).toBe(1);
  });

  it("AC-7 a missing INT8 calibration cache fails with the model and the path", async () => {
    const c = corpus(["dinov2_vpr"], { precision: "int8", calibrationPath: "missing.calib" });
    const { report, error } = await run(c);
    expect(error?.name).toBe("CalibrationCacheError");
    expect((error as { calibrationPath?: string }).calibrationPath).toBe(join(temp.path, "missing.calib"));
    expect(report.error).toMatchObject({ modelName: "dinov2_vpr", class: "CalibrationCacheError" });
    expect(trtexecCalls()).toBe(0);
  });

  it("AC-8 the exact filename, and build/parse round-trip", async () => {
    const { report } = await run(corpus(["dinov2_vpr"]));
    expect(report.results[0]!.enginePath).toBe(
      join(cacheRoot(), "dinov2_vpr__sm87_jp6.2_trt10.3_fp16.engine"),
    );
    expect(readFileSync(sidecarPath(report.results[0]!.enginePath), "utf8")).toMatch(
      /^[0-9a-f]{64} {2}dinov2_vpr__sm87_jp6\.2_trt10\.3_fp16\.engine\n$/,
    );
    const version = fc.stringMatching(/^\d{1,2}(\.\d{1,2}){0,2}$/);
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]+(_[a-z0-9]+)*$/),
        fc.oneof(
          fc.record({
            backend: fc.constant("tensorrt" as const),
            sm: fc.integer({ min: 10, max: 200 }),
            jetpack: fc.option(version, { nil: undefined }),
            tensorrt: version,
          }),
          fc.record({
            backend: fc.constant("onnxruntime" as const),
            arch: fc.constantFrom("x64", "arm64"),
            ort: version,
          }),
        ),
        fc.constantFrom("fp32", "fp16", "int8", "best"),
        (modelName, host, precision) => {
          const name = { modelName, host, precision };
          expect(parseEngineFilename(buildEngineFilename(name))).toEqual(name);
        },
      ),
    );
    expect(parseEngineFilename("dinov2_vpr__cpu-x64_ort1.30_fp32.onnx")).toEqual({
      modelName: "dinov2_vpr",
      host: { backend: "onnxruntime", arch: "x64", ort: "1.30" },
      precision: "fp32",
    });
    expect(() => buildEngineFilename({ modelName: "../etc", host: trtKey, precision: "fp16" })).toThrow(
      RangeError,
    );
  });

  it("AC-9 durations: positive for built, null for reused", async () => {
    const first = await run(corpus(["dinov2_vpr"]));
    expect(first.report.results[0]!.compileDurationS).toBeGreaterThan(0);
    const second = await run(corpus(["dinov2_vpr"]));
    expect(second.report.results[0]!.compileDurationS).toBeNull();
  });

  it("AC-10 an empty corpus: empty report, no compile, no file", async () => {
    const { report } = await run(parseCorpus({ backbones: [] }));
    expect(report).toMatchObject({
      outcome: "success",
      results: [],
      summary: { built: 0, reused: 0, failed: 0 },
    });
    expect(trtexecCalls()).toBe(0);
    expect(readdirSync(cacheRoot())).toEqual([]);
  });
});

const trtKey = { backend: "tensorrt" as const, sm: 87, jetpack: "6.2", tensorrt: "10.3" };

describe("compileEngines: what the anchors get wrong", () => {
  it("new ONNX weights at the same path rebuild (onnx-changed)", async () => {
    await run(corpus(["dinov2_vpr"]));
    writeOnnxModel(join(temp.path, "dinov2_vpr.onnx"), { shape: ["batch", 3, 16, 16], scale: 9 });
    const { report } = await run(corpus(["dinov2_vpr"]));
    expect(report.results[0]!.reasons).toEqual(["onnx-changed"]);
  });

  it("an unchanged ONNX is not hashed again; any touch of the file makes it hashed (and compared) anew", async () => {
    const first = await run(corpus(["dinov2_vpr"]));
    const recordPath = `${first.report.results[0]!.enginePath}.build.json`;
    const record = JSON.parse(readFileSync(recordPath, "utf8")) as {
      onnxSha256: string;
      onnxFileStat: object;
    };
    expect(record.onnxFileStat).toMatchObject({ size: expect.any(Number), ino: expect.any(Number) });
    // Plant a different digest: if the file were hashed again, the engine would be rebuilt.
    writeFileSync(recordPath, JSON.stringify({ ...record, onnxSha256: "f".repeat(64) }));
    expect((await run(corpus(["dinov2_vpr"]))).report.results[0]!.outcome).toBe("reused");
    const { utimesSync } = await import("node:fs");
    utimesSync(join(temp.path, "dinov2_vpr.onnx"), new Date(), new Date(Date.now() + 5_000));
    expect((await run(corpus(["dinov2_vpr"]))).report.results[0]!.reasons).toEqual(["onnx-changed"]);
  });

  it("changed build parameters rebuild (build-parameters-changed)", async () => {
    await run(corpus(["dinov2_vpr"]));
    const bigger = parseCorpus({ workspaceMb: 8192, backbones: corpus(["dinov2_vpr"]).backbones });
    const { report } = await run(bigger);
    expect(report.results[0]!.reasons).toEqual(["build-parameters-changed"]);
  });

  it("a TensorRT patch upgrade (same filename) rebuilds (tensorrt-version-differs)", async () => {
    await run(corpus(["dinov2_vpr"]));
    const { report } = await run(corpus(["dinov2_vpr"]), trtHost({ tensorrtFull: "10.3.1" }));
    expect(report.results[0]!.reasons).toEqual(["tensorrt-version-differs"]);
    expect((await readBuildRecord(report.results[0]!.enginePath))!.tensorrtVersion).toBe("10.3.1");
  });

  it("--force rebuilds the named model only", async () => {
    await run(corpus());
    const { report } = await run(corpus(), trtHost(), { force: ["aliked"] });
    expect(report.results.map((r) => r.outcome)).toEqual(["reused", "reused", "built"]);
    expect(report.results[2]!.reasons).toEqual(["forced"]);
  });

  it("trtexec exiting 0 without its PASSED line is a failure", async () => {
    process.env.FAKE_TRTEXEC_NO_PASSED = "1";
    const { error } = await run(corpus(["dinov2_vpr"]));
    expect(error?.message).toContain("exited 0 without its PASSED line");
    expect(existsSync(join(cacheRoot(), "dinov2_vpr__sm87_jp6.2_trt10.3_fp16.engine"))).toBe(false);
  });

  it("dry run decides without writing anything", async () => {
    const { report } = await run(corpus(), trtHost(), { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.results.map((r) => r.outcome)).toEqual(["would-build", "would-build", "would-build"]);
    expect(existsSync(cacheRoot())).toBe(false);
  });

  it("--prune removes this corpus's engines for other hosts, nothing else", async () => {
    const trtexec85 = installFakeTrtexec(join(temp.path, "trt85"), { release: "8.5" });
    const built = await run(
      corpus(["dinov2_vpr"]),
      trtHost({ sm: 72, jetpack: "5.1.2", tensorrt: "8.5", tensorrtFull: "8.5.2", trtexecPath: trtexec85 }),
    );
    expect(built.error).toBeUndefined();
    writeFileSync(join(cacheRoot(), "unrelated__sm72_jp5.1.2_trt8.5_fp16.engine"), "x");
    const { pruned } = await run(corpus(["dinov2_vpr"]), trtHost(), { prune: true });
    expect(pruned).toEqual(["dinov2_vpr__sm72_jp5.1.2_trt8.5_fp16.engine"]);
    expect(readdirSync(cacheRoot()).sort()).toContain("unrelated__sm72_jp5.1.2_trt8.5_fp16.engine");
  });

  it("the onnxruntime backend writes an optimised model that onnxruntime loads", async () => {
    const host = trtHost({
      backend: "onnxruntime",
      sm: undefined,
      jetpack: undefined,
      tensorrt: undefined,
      tensorrtFull: undefined,
      arch: "x64",
    });
    const { report } = await run(corpus(["dinov2_vpr"]), host);
    const path = report.results[0]!.enginePath;
    expect(path).toMatch(/dinov2_vpr__cpu-x64_ort1\.30_fp16\.onnx$/);
    const ort = await import("onnxruntime-node");
    const session = await ort.InferenceSession.create(path);
    const out = await session.run({
      input: new ort.Tensor("float32", new Float32Array(3 * 16 * 16).fill(1), [1, 3, 16, 16]),
    });
    expect((out.output!.data as Float32Array)[0]).toBe(2);
    await session.release();
  });
});

describe("compileEngines: ONNX validation with onnxruntime (exit 61)", () => {
  it.each([
    ["a wrong input name", { inputName: "pixels" }, /input "pixels" is not in .* \(inputs: input\)/],
    ["a rank mismatch", { inputShape: [1, 3, 16] }, /rank 3, the model has rank 4/],
    ["a fixed dimension mismatch", { inputShape: [1, 4, 16, 16] }, /dimension 1 is fixed at 3/],
  ])("%s", async (_, override, message) => {
    const { error } = await run(corpus(["dinov2_vpr"], override));
    expect(error?.name).toBe("ModelInvalidError");
    expect(error?.message).toMatch(message);
    expect(trtexecCalls()).toBe(0);
  });

  it("a file that is not ONNX", async () => {
    writeFileSync(join(temp.path, "dinov2_vpr.onnx"), "not a model");
    const { error } = await run(corpus(["dinov2_vpr"]));
    expect(error?.message).toMatch(/is not a loadable ONNX model/);
  });

  it("a missing model file is reported before any work, naming the field", async () => {
    execFileSync("rm", [join(temp.path, "lightglue.onnx")]);
    const { error, report } = await run(corpus());
    expect(error?.message).toMatch(
      /model lightglue: backbones\[1\]\.onnxPath .*lightglue\.onnx does not exist/,
    );
    expect(report.results).toEqual([]);
    expect(trtexecCalls()).toBe(0);
  });
});

describe("parseCorpus", () => {
  it.each([
    [
      { backbones: [{ modelName: "Bad/Name", onnxPath: "a", inputName: "i", inputShape: [1] }] },
      "backbones[0].modelName",
    ],
    [
      { backbones: [{ modelName: "a", onnxPath: "a", inputName: "i", inputShape: [1, 0] }] },
      "backbones[0].inputShape",
    ],
    [
      {
        backbones: [
          { modelName: "a", onnxPath: "a", inputName: "i", inputShape: [1] },
          { modelName: "a", onnxPath: "b", inputName: "i", inputShape: [1] },
        ],
      },
      'backbones[1].modelName: duplicate model name "a"',
    ],
    [
      {
        backbones: [
          { modelName: "a", onnxPath: "a", inputName: "i", inputShape: { min: [2], opt: [1], max: [3] } },
        ],
      },
      "min <= opt <= max",
    ],
    [{ backbones: [], workspaceMb: -1 }, "workspaceMb"],
  ])("rejects %j naming %s", (value, fragment) => {
    expect(() => parseCorpus(value)).toThrow(fragment);
  });
});

describe("probeHost", () => {
  it("reads a Jetson through the injectable root, and flags override it", async () => {
    const { probeHost } = await import("./host-probe.js");
    const root = writeJetsonRoot(join(temp.path, "root"));
    const noCommands = async () => undefined;
    const host = await probeHost({
      root,
      env: { PATH: join(temp.path, "bin") },
      run: noCommands,
      ortVersion: "1.30.0",
      tensorrt: "10.3.0",
    });
    expect(host).toMatchObject({
      backend: "tensorrt",
      l4t: "36.4.3",
      jetpack: "6.2",
      sm: 87,
      tensorrt: "10.3",
    });
    const over = await probeHost({
      root,
      env: { PATH: join(temp.path, "bin") },
      run: noCommands,
      ortVersion: "1",
      sm: 72,
      jetpack: "5.1.2",
      tensorrt: "8.5.2",
    });
    expect(over).toMatchObject({ sm: 72, jetpack: "5.1.2", tensorrt: "8.5" });
  });

  it("reads TensorRT's version from the trtexec banner when no package says it", async () => {
    const { probeHost } = await import("./host-probe.js");
    process.env.FAKE_TRTEXEC_VERSION = "10.7.0";
    const root = writeJetsonRoot(join(temp.path, "root"), { soc: "tegra264", l4t: "38.2.0" });
    const host = await probeHost({ root, env: { PATH: join(temp.path, "bin") }, ortVersion: "1" });
    expect(host).toMatchObject({ tensorrt: "10.7", tensorrtFull: "10.7.0", sm: 110, jetpack: "7.0" });
    expect(host.sources.tensorrt).toBe("trtexec banner");
  });

  it("an L4T release not in the table is unknown, never defaulted (exit 62 naming it)", async () => {
    const { probeHost } = await import("./host-probe.js");
    const root = writeJetsonRoot(join(temp.path, "root"), { l4t: "36.9.9" });
    await expect(probeHost({ root, env: { PATH: join(temp.path, "bin") }, ortVersion: "1" })).rejects.toThrow(
      /the JetPack release for L4T 36\.9\.9 \(not in the known table\): pass --jetpack/,
    );
  });

  it("without trtexec it picks onnxruntime; forcing tensorrt with nothing probed names what is missing", async () => {
    const { probeHost } = await import("./host-probe.js");
    const root = join(temp.path, "empty-root");
    const none = async () => undefined;
    expect(
      (await probeHost({ root, env: { PATH: "/nonexistent" }, run: none, ortVersion: "1.30.0" })).backend,
    ).toBe("onnxruntime");
    await expect(
      probeHost({ root, backend: "tensorrt", env: { PATH: "/nonexistent" }, run: none, ortVersion: "1" }),
    ).rejects.toMatchObject({
      code: "HOST_PROBE_FAILED",
      message: expect.stringMatching(
        /trtexec .*; the GPU's SM .*pass --sm; the TensorRT version .*pass --tensorrt/,
      ),
    });
  });
});

const trtexecArgv = (): string[][] =>
  existsSync(calls)
    ? readFileSync(calls, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[])
    : [];

describe("compileEngines: shapes only where the model is dynamic", () => {
  it("a static model gets no shape flags (trtexec refuses them); its corpus shape may be omitted", async () => {
    writeOnnxModel(join(temp.path, "aliked.onnx"), { shape: [1, 3, 16, 16] });
    const c = parseCorpus(
      {
        backbones: [
          { modelName: "aliked", onnxPath: "aliked.onnx", inputName: "input", inputShape: [1, 3, 16, 16] },
          { modelName: "lightglue", onnxPath: "aliked.onnx", inputName: "input", precision: "fp32" },
        ],
      },
      join(temp.path, "corpus.json"),
    );
    const { report, error } = await run(c);
    expect(error).toBeUndefined();
    expect(report.results.map((r) => r.outcome)).toEqual(["built", "built"]);
    for (const argv of trtexecArgv()) expect(argv.filter((a) => /Shapes=/.test(a))).toEqual([]);
  });

  it("a static model whose corpus shape differs is exit 61 naming both shapes", async () => {
    writeOnnxModel(join(temp.path, "aliked.onnx"), { shape: [1, 3, 16, 16] });
    const { error } = await run(corpus(["aliked"], { inputShape: [2, 3, 16, 16] }));
    expect(error).toMatchObject({
      code: "MODEL_INVALID",
      message: expect.stringMatching(
        /^model aliked: inputShape \[2, 3, 16, 16\] is not the static shape \[1, 3, 16, 16\] of input "input" in .*aliked\.onnx$/,
      ),
      hint: "set inputShape to [1, 3, 16, 16] or remove it: a static input takes the model's own shape",
    });
    expect(trtexecCalls()).toBe(0);
  });

  it("a dynamic input without a corpus shape is exit 61; with one, min/opt/max are passed", async () => {
    const missing = await run(corpus(["dinov2_vpr"], { inputShape: undefined }));
    expect(missing.error?.message).toBe(
      'model dinov2_vpr: input "input" is dynamic [?, 3, 16, 16] and the corpus gives no inputShape',
    );
    const { error } = await run(corpus(["dinov2_vpr"]));
    expect(error).toBeUndefined();
    expect(trtexecArgv()[0]).toEqual(
      expect.arrayContaining([
        "--minShapes=input:1x3x16x16",
        "--optShapes=input:1x3x16x16",
        "--maxShapes=input:1x3x16x16",
      ]),
    );
  });
});

describe("compileEngines: precisions per TensorRT release", () => {
  const hostFor = (release: (typeof FAKE_TRTEXEC_RELEASES)[number]) => {
    const fixture = JETSON_FIXTURES[release];
    return trtHost({
      tensorrt: release,
      tensorrtFull: fixture.tensorrtFull,
      jetpack: fixture.jetpack,
      sm: fixture.sm,
      trtexecPath: installFakeTrtexec(join(temp.path, `trt-${release}`), { release }),
    });
  };

  it('TensorRT 11: fp16 is exit 61 with the fix; precision "model" builds with no precision flag', async () => {
    const refused = await run(corpus(["dinov2_vpr"]), hostFor("11.1"));
    expect(refused.error).toMatchObject({
      code: "MODEL_INVALID",
      hint: 'export the model in that precision and set precision: "model"',
    });
    expect(trtexecCalls()).toBe(0);
    const { error } = await run(corpus(["dinov2_vpr"], { precision: "model" }), hostFor("11.1"));
    expect(error).toBeUndefined();
    expect(trtexecArgv()[0]!.filter((a) => /^--(fp16|int8|best|calib|stronglyTyped)/.test(a))).toEqual([]);
  });

  it('precision "model" is --stronglyTyped on 10.x and exit 61 on 8.x', async () => {
    expect(
      (await run(corpus(["dinov2_vpr"], { precision: "model" }), hostFor("10.3"))).error,
    ).toBeUndefined();
    expect(trtexecArgv()[0]).toContain("--stronglyTyped");
    const { error } = await run(corpus(["lightglue"], { precision: "model" }), hostFor("8.5"));
    expect(error?.message).toMatch(
      /precision "model" cannot be built by TensorRT 8\.5\.2: it has no --stronglyTyped/,
    );
  });

  it("a TensorRT upgrade that changes the flags rebuilds (the flags are part of the key)", async () => {
    const host = hostFor("8.6");
    await run(corpus(["dinov2_vpr"]), host);
    const path = join(cacheRoot(), "dinov2_vpr__sm87_jp6.0_trt8.6_fp16.engine");
    const record = JSON.parse(readFileSync(`${path}.build.json`, "utf8")) as { builderFlags: string[] };
    expect(record.builderFlags).toContain("--skipInference");
    // The same engine name, with flags an older rule would choose: rebuilt, not reused.
    writeFileSync(
      `${path}.build.json`,
      JSON.stringify({
        ...record,
        builderFlags: record.builderFlags.map((f) => f.replace("--skipInference", "--buildOnly")),
      }),
    );
    expect((await run(corpus(["dinov2_vpr"]), host)).report.results[0]!.reasons).toEqual([
      "build-parameters-changed",
    ]);
  });
});

describe("compileEngines: live progress and what the report and record carry", () => {
  it("logs the build's phases and its elapsed time as structured records", async () => {
    process.env.FAKE_TRTEXEC_DELAY_MS = "700";
    const records: Array<{ level: string; fields: EngineBuildLogRecord; message: string }> = [];
    const logger = {
      debug: () => {},
      info: (fields: object, message: string) =>
        records.push({ level: "info", fields: fields as EngineBuildLogRecord, message }),
      warn: (fields: object, message: string) =>
        records.push({ level: "warn", fields: fields as EngineBuildLogRecord, message }),
    };
    const { error } = await run(corpus(["dinov2_vpr"]), trtHost(), { logger, progressIntervalMs: 100 });
    expect(error).toBeUndefined();
    const builds = records.filter((r) => r.fields.event === "engine-build");
    expect(builds.map((r) => r.fields.phase)).toEqual([
      "started",
      "parsing",
      "building",
      "built",
      "skipped-inference",
      "done",
    ]);
    expect(builds[0]).toMatchObject({
      level: "warn",
      fields: { reasons: ["no-engine"], builder: "trtexec" },
    });
    expect(builds[2]!.fields.line).toMatch(/^Finished parsing network model\. Parse time: /);
    const ticks = records.filter((r) => r.fields.event === "engine-build-progress");
    expect(ticks.length).toBeGreaterThan(0);
    expect(ticks.every((t) => t.fields.model === "dinov2_vpr")).toBe(true);
    // The build sleeps after parsing: ticks land there, each saying which phase it is in.
    expect(ticks.some((t) => t.fields.phase === "building")).toBe(true);
    const elapsed = [...builds, ...ticks].map((r) => r.fields.elapsedS);
    expect(elapsed.every((s) => typeof s === "number" && s >= 0)).toBe(true);
    expect(builds.at(-1)!.fields.elapsedS).toBeGreaterThanOrEqual(0.7);
  });

  it("the device identity, CUDA and full TensorRT go into the build record and the report", async () => {
    const host = trtHost({
      deviceModel: "NVIDIA Jetson Orin NX Engineering Reference Developer Kit",
      compatible: ["nvidia,p3768-0000+p3767-0001", "nvidia,p3767-0001", "nvidia,tegra234"],
      tensorrtFull: "10.3.0.30",
      cuda: "12.6.68",
    });
    const { report } = await run(corpus(["dinov2_vpr"]), host);
    expect(report.host).toMatchObject({
      l4t: "36.4.3",
      tensorrtFull: "10.3.0.30",
      cuda: "12.6.68",
      device: { model: host.deviceModel, compatible: host.compatible },
    });
    expect(await readBuildRecord(report.results[0]!.enginePath)).toMatchObject({
      tensorrtVersion: "10.3.0.30",
      cudaVersion: "12.6.68",
      l4t: "36.4.3",
      deviceModel: host.deviceModel,
      compatible: host.compatible,
      modelInputs: { input: [null, 3, 16, 16] },
    });
  });

  it("an error that is not an operator-tool error is INTERNAL in the report, whatever its own code", async () => {
    mkdirSync(join(cacheRoot(), "dinov2_vpr__sm87_jp6.2_trt10.3_fp16.engine.sha256"), { recursive: true });
    const { report, error } = await run(corpus(["dinov2_vpr"]));
    expect((error as { code?: string }).code).toBeTypeOf("string");
    expect(report.error).toMatchObject({ modelName: null, code: "INTERNAL" });
  });
});

describe("probeHost from a Jetson's files alone", () => {
  it.each(FAKE_TRTEXEC_RELEASES)(
    "TensorRT %s: L4T, JetPack, SM, device identity, CUDA and TensorRT from the files and dpkg",
    async (release) => {
      const { probeHost } = await import("./host-probe.js");
      const root = writeJetsonRoot(join(temp.path, `root-${release}`), { release });
      const fixture = JETSON_FIXTURES[release];
      const host = await probeHost({ root, env: { PATH: jetsonBinDir(root) }, ortVersion: "1.30.0" });
      expect(host).toMatchObject({
        backend: "tensorrt",
        l4t: fixture.l4t,
        jetpack: fixture.jetpack,
        sm: fixture.sm,
        tensorrt: release,
        tensorrtFull: fixture.tensorrtFull,
        cuda: fixture.cuda.version,
        deviceModel: fixture.model,
        compatible: fixture.compatible,
        trtexecPath: join(root, "usr/src/tensorrt/bin/trtexec"),
      });
      expect(host.sources.tensorrt).toBe("dpkg libnvinfer-bin");
      // Without dpkg, the trtexec banner (4 or 6 digits, with or without a build tag) says it.
      const banner = await probeHost({ root, env: { PATH: "/nonexistent" }, ortVersion: "1.30.0" });
      expect(banner).toMatchObject({
        tensorrt: release,
        tensorrtFull: fixture.tensorrtFull.split(".").slice(0, 3).join("."),
      });
      expect(banner.sources.tensorrt).toBe("trtexec banner");
    },
  );

  it("a TensorRT older than 8.0 is refused with the fix (exit 62)", async () => {
    const { probeHost } = await import("./host-probe.js");
    const root = writeJetsonRoot(join(temp.path, "old"), { l4t: "32.5.1", soc: "tegra210" });
    await expect(
      probeHost({
        root,
        env: { PATH: join(temp.path, "bin") },
        run: async () => undefined,
        ortVersion: "1",
        tensorrt: "7.1.3",
      }),
    ).rejects.toMatchObject({
      code: "HOST_PROBE_FAILED",
      message: expect.stringMatching(/TensorRT 7\.1\.3 is older than 8\.0/),
    });
  });
});
