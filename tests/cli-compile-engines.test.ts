import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CLI_PATH,
  FAKE_TRTEXEC_RELEASES,
  installFakeTrtexec,
  JETSON_FIXTURES,
  jetsonBinDir,
  makeTempDir,
  runOperatorTool,
  writeJetsonRoot,
  writeOnnxModel,
} from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

let temp: ReturnType<typeof makeTempDir>;
let env: Record<string, string>;
let corpusPath: string;

beforeEach(() => {
  temp = makeTempDir();
  installFakeTrtexec(join(temp.path, "bin"));
  writeJetsonRoot(join(temp.path, "root"));
  env = { PATH: `${join(temp.path, "bin")}:${process.env.PATH}` };
  writeOnnxModel(join(temp.path, "dinov2_vpr.onnx"), { shape: [1, 3, 16, 16] });
  writeOnnxModel(join(temp.path, "lightglue.onnx"), { shape: ["n", 3, 16, 16], scale: 5 });
  corpusPath = join(temp.path, "corpus.json");
  writeFileSync(
    corpusPath,
    JSON.stringify({
      cacheRoot: "engines",
      backbones: [
        {
          modelName: "dinov2_vpr",
          onnxPath: "dinov2_vpr.onnx",
          inputName: "input",
          inputShape: [1, 3, 16, 16],
          precision: "fp16",
        },
        {
          modelName: "lightglue",
          onnxPath: "lightglue.onnx",
          inputName: "input",
          inputShape: { min: [1, 3, 16, 16], opt: [2, 3, 16, 16], max: [4, 3, 16, 16] },
          precision: "fp16",
        },
      ],
    }),
  );
});
afterEach(() => temp.cleanup());

const args = (...extra: string[]) => [
  "compile-engines",
  "--corpus",
  corpusPath,
  "--host-root",
  join(temp.path, "root"),
  ...extra,
];
const lastLine = (stdout: string) =>
  JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown> & {
    results: Array<Record<string, unknown>>;
  };

describe("operator-tool compile-engines (the built binary)", () => {
  it("0: builds with trtexec, then reuses; --json is the report, one document", async () => {
    const first = await runOperatorTool(args("--json"), { env });
    expect(first.exitCode, first.stderr).toBe(0);
    const report = lastLine(first.stdout);
    expect(report).toMatchObject({
      schema: "operator-tool/engine-report@1",
      outcome: "success",
      host: { backend: "tensorrt", sm: 87, jetpack: "6.2", tensorrt: "10.3" },
      summary: { built: 2, reused: 0, failed: 0 },
    });
    // One JSON document: the report is the whole of stdout, on one line.
    expect(first.stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(first.stdout)).toEqual(report);
    const second = await runOperatorTool(args(), { env });
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toMatch(/^TensorRT 10\.3 on sm87, JetPack 6\.2; engines in /);
    expect(second.stdout).toMatch(/dinov2_vpr\s+reused/);
    expect(second.stdout.trim()).toMatch(/0 built, 2 reused, 0 failed$/);
  });

  it("0: --dry-run prints decisions and reasons, writes nothing", async () => {
    const run = await runOperatorTool(args("--dry-run", "--json"), { env });
    expect(run.exitCode).toBe(0);
    expect(lastLine(run.stdout).results.map((r) => [r.outcome, r.reasons])).toEqual([
      ["would-build", ["no-engine"]],
      ["would-build", ["no-engine"]],
    ]);
    expect(existsSync(join(temp.path, "engines"))).toBe(false);
  });

  it("0: without trtexec it falls back to onnxruntime", async () => {
    const run = await runOperatorTool(args("--json"), { env: { PATH: process.env.PATH! } });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(lastLine(run.stdout).host).toMatchObject({ backend: "onnxruntime", ort: "1.30.0" });
    expect(readdirSync(join(temp.path, "engines"))).toContain(
      `dinov2_vpr__cpu-${process.arch}_ort1.30_fp16.onnx`,
    );
  });

  it("2: an invalid corpus names the field", async () => {
    writeFileSync(
      corpusPath,
      JSON.stringify({
        backbones: [{ modelName: "dinov2/vpr", onnxPath: "x", inputName: "input", inputShape: [1, -3] }],
      }),
    );
    const run = await runOperatorTool(args(), { env });
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(
      /^error: corpus file .* is invalid: backbones\[0\]\.modelName: model names are \[a-z0-9_\]\+ .*; backbones\[0\]\.inputShape/,
    );
  });

  it("2: --force naming a model the corpus lacks", async () => {
    const run = await runOperatorTool(args("--force", "dinov3"), { env });
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toMatch(
      /^error: --force names unknown model\(s\): dinov3 — the corpus has dinov2_vpr, lightglue/,
    );
  });

  it("60: a failed build, with trtexec's reason on one line and a report in --json", async () => {
    const run = await runOperatorTool(args("--json", "--log-level", "silent"), {
      env: { ...env, FAKE_TRTEXEC_FAIL: "lightglue.onnx" },
    });
    expect(run.exitCode).toBe(60);
    // trtexec's cause, not the generic "Engine could not be created…" / "Engine set up failed" after it.
    expect(run.firstErrorLine).toBe(
      "error: model lightglue: trtexec exited 1: [TRT] 10: [optimizer] Error Code 10: Internal Error (Could not find any implementation for node mul) — the report's error.tail has trtexec's last lines; --log-level debug streams all of it",
    );
    expect(lastLine(run.stdout)).toMatchObject({
      outcome: "failure",
      error: { modelName: "lightglue", class: "EngineBuildError", errorLines: expect.any(Array) },
      summary: { built: 1, failed: 1 },
    });
    const oom = await runOperatorTool(args("--log-level", "silent", "--force", "lightglue"), {
      env: { ...env, FAKE_TRTEXEC_FAIL: "lightglue.onnx:oom" },
    });
    expect(oom.exitCode).toBe(60);
    expect(oom.firstErrorLine).toMatch(/^error: model lightglue: trtexec exited 1: \[TRT\] .*OutOfMemory/);
  });

  it("61: a missing model, and a model whose input does not match", async () => {
    writeFileSync(
      corpusPath,
      JSON.stringify({
        cacheRoot: "engines",
        backbones: [
          { modelName: "aliked", onnxPath: "aliked.onnx", inputName: "input", inputShape: [1, 3, 16, 16] },
        ],
      }),
    );
    const missing = await runOperatorTool(args("--json"), { env });
    expect(missing.exitCode).toBe(61);
    expect(missing.firstErrorLine).toMatch(
      /^error: model aliked: backbones\[0\]\.onnxPath .*aliked\.onnx does not exist/,
    );
    expect(lastLine(missing.stdout)).toMatchObject({ outcome: "failure", error: { code: "MODEL_INVALID" } });
    writeOnnxModel(join(temp.path, "aliked.onnx"), { inputName: "image", shape: [1, 3, 16, 16] });
    const mismatch = await runOperatorTool(args("--log-level", "error"), { env });
    expect(mismatch.exitCode).toBe(61);
    expect(mismatch.firstErrorLine).toMatch(/input "input" is not in .* \(inputs: image\)/);
  });

  it("62: tensorrt asked for, nothing probed and nothing given — and the report still comes", async () => {
    const run = await runOperatorTool(
      [
        "compile-engines",
        "--corpus",
        corpusPath,
        "--backend",
        "tensorrt",
        "--host-root",
        join(temp.path, "nowhere"),
        "--json",
      ],
      {
        env: { PATH: process.env.PATH! },
      },
    );
    expect(run.exitCode).toBe(62);
    expect(run.firstErrorLine).toMatch(
      /^error: cannot build TensorRT engines on this host: could not determine trtexec/,
    );
    expect(lastLine(run.stdout)).toMatchObject({
      outcome: "failure",
      error: { class: "HostProbeError", code: "HOST_PROBE_FAILED" },
    });
    const given = await runOperatorTool(args("--sm", "87", "--tensorrt", "10.3.0", "--jetpack", "6.2"), {
      env,
    });
    expect(given.exitCode).toBe(0);
  });

  it("kill -9 mid-compile: no engine at the final path; the next run builds it and says why", async () => {
    const child = spawn(process.execPath, [CLI_PATH, ...args("--log-level", "silent")], {
      env: { ...env, FAKE_TRTEXEC_DELAY_MS: "20000", FAKE_TRTEXEC_ENGINE_BYTES: String(4 * 1024 * 1024) },
      stdio: "ignore",
    });
    const exited = new Promise((r) => child.once("exit", r));
    const engines = join(temp.path, "engines");
    const started = Date.now();
    while (
      !(existsSync(engines) && readdirSync(engines).some((n) => n.includes(".tmp-"))) &&
      Date.now() - started < 15_000
    ) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(child.exitCode, "still compiling when killed").toBeNull();
    child.kill("SIGKILL");
    await exited;
    expect(readdirSync(engines).filter((n) => n.endsWith(".engine"))).toEqual([]);

    const next = await runOperatorTool(args("--json"), { env });
    expect(next.exitCode, next.stderr).toBe(0);
    const report = lastLine(next.stdout);
    expect(report.results[0]).toMatchObject({
      outcome: "built",
      reasons: ["no-engine", "previous-build-incomplete"],
    });
    expect(readdirSync(engines).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("stdin lifeline: secrets arrive on stdin and are redacted; closing stdin cancels the build (130)", async () => {
    const secret = "lifeline-secret-77x";
    const child = spawn(process.execPath, [CLI_PATH, ...args("--json", "--log-level", "debug")], {
      env: { ...env, FAKE_TRTEXEC_DELAY_MS: "20000", FAKE_TRTEXEC_ECHO: `token=${secret}` },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.stdin.write(`${JSON.stringify({ apiKey: secret })}\n`);
    const started = Date.now();
    while (!stderr.includes("token=") && Date.now() - started < 15_000)
      await new Promise((r) => setTimeout(r, 25));
    child.stdin.end();
    const code = await exited;
    expect(code).toBe(130);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(stderr).toContain("token=<redacted>");
    expect(`${stdout}${stderr}`).not.toContain(secret);
    expect(
      readdirSync(join(temp.path, "engines")).filter((n) => n.endsWith(".engine") || n.includes(".tmp-")),
    ).toEqual([]);
  });
});

describe("compile-engines on every TensorRT a Jetson ships, probed from its files alone", () => {
  const callsOf = (path: string) =>
    existsSync(path)
      ? readFileSync(path, "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as string[])
      : [];

  it.each(FAKE_TRTEXEC_RELEASES)(
    "TensorRT %s: cold → built, warm → reused; static and dynamic models; fp32, fp16, int8 with a calibration cache",
    async (release) => {
      const fixture = JETSON_FIXTURES[release];
      const root = writeJetsonRoot(join(temp.path, `jetson-${release}`), { release });
      const calls = join(temp.path, `calls-${release}.jsonl`);
      // No override and no trtexec on PATH: the probe finds /usr/src/tensorrt/bin/trtexec under the root.
      const jetsonEnv = {
        PATH: `${jetsonBinDir(root)}:${process.env.PATH}`,
        FAKE_TRTEXEC_CALLS: calls,
      };
      writeFileSync(join(temp.path, "int8.calib"), "TRT-8502-EntropyCalibration2\ninput: 3c010a14\n");
      const strongOnly = release === "11.1";
      const models = [
        { modelName: "static_fp32", onnxPath: "dinov2_vpr.onnx", inputName: "input", precision: "fp32" },
        {
          modelName: "dynamic_range",
          onnxPath: "lightglue.onnx",
          inputName: "input",
          inputShape: { min: [1, 3, 16, 16], opt: [2, 3, 16, 16], max: [4, 3, 16, 16] },
          precision: strongOnly ? "model" : "fp16",
        },
        ...(strongOnly
          ? []
          : [
              {
                modelName: "static_int8",
                onnxPath: "dinov2_vpr.onnx",
                inputName: "input",
                inputShape: [1, 3, 16, 16],
                precision: "int8",
                calibrationPath: "int8.calib",
              },
              {
                modelName: "dynamic_one",
                onnxPath: "lightglue.onnx",
                inputName: "input",
                inputShape: [2, 3, 16, 16],
                precision: "fp16",
              },
            ]),
      ];
      const corpus = join(temp.path, `corpus-${release}.json`);
      writeFileSync(corpus, JSON.stringify({ cacheRoot: `engines-${release}`, backbones: models }));
      const compile = () =>
        runOperatorTool(["compile-engines", "--corpus", corpus, "--host-root", root, "--json"], {
          env: jetsonEnv,
        });

      const cold = await compile();
      expect(cold.exitCode, cold.stderr).toBe(0);
      const report = lastLine(cold.stdout);
      expect(report.host).toMatchObject({
        backend: "tensorrt",
        sm: fixture.sm,
        jetpack: fixture.jetpack,
        tensorrt: release,
        tensorrtFull: fixture.tensorrtFull,
        cuda: fixture.cuda.version,
        l4t: fixture.l4t,
        device: { model: fixture.model, compatible: fixture.compatible },
      });
      expect(report.results.map((r) => [r.modelName, r.outcome])).toEqual(
        models.map((m) => [m.modelName, "built"]),
      );
      const argv = callsOf(calls);
      expect(argv).toHaveLength(models.length);
      const shapesOf = (name: string) =>
        argv.find((a) => a.includes(`--onnx=${join(temp.path, name)}`))!.filter((a) => /Shapes=/.test(a));
      expect(shapesOf("dinov2_vpr.onnx")).toEqual([]);
      expect(shapesOf("lightglue.onnx")).toEqual([
        "--minShapes=input:1x3x16x16",
        "--optShapes=input:2x3x16x16",
        "--maxShapes=input:4x3x16x16",
      ]);
      if (!strongOnly) {
        expect(argv.some((a) => a.includes(`--calib=${join(temp.path, "int8.calib")}`))).toBe(true);
      }
      expect(
        readdirSync(join(temp.path, `engines-${release}`))
          .filter((n) => n.endsWith(".engine"))
          .sort(),
      ).toEqual(
        models
          .map(
            (m) => `${m.modelName}__sm${fixture.sm}_jp${fixture.jetpack}_trt${release}_${m.precision}.engine`,
          )
          .sort(),
      );

      const warm = await compile();
      expect(warm.exitCode, warm.stderr).toBe(0);
      expect(lastLine(warm.stdout).results.map((r) => r.outcome)).toEqual(models.map(() => "reused"));
      expect(callsOf(calls)).toHaveLength(models.length);
    },
  );

  it("TensorRT 11: fp16 is exit 61 with the fix; a static model's wrong shape is exit 61 naming both", async () => {
    const root = writeJetsonRoot(join(temp.path, "jetson-11"), { release: "11.1" });
    const corpus = join(temp.path, "corpus-11.json");
    const compile = (backbone: Record<string, unknown>) => {
      writeFileSync(corpus, JSON.stringify({ cacheRoot: "engines-11", backbones: [backbone] }));
      return runOperatorTool(
        ["compile-engines", "--corpus", corpus, "--host-root", root, "--log-level", "silent"],
        {
          env: { PATH: `${jetsonBinDir(root)}:${process.env.PATH}` },
        },
      );
    };
    const fp16 = await compile({ modelName: "dinov2_vpr", onnxPath: "dinov2_vpr.onnx", inputName: "input" });
    expect(fp16.exitCode).toBe(61);
    expect(fp16.firstErrorLine).toBe(
      'error: model dinov2_vpr: precision "fp16" cannot be built by TensorRT 11.1.0.106: it builds strongly typed networks only (no --fp16, --int8, --best, --calib) — export the model in that precision and set precision: "model"',
    );
    const shape = await compile({
      modelName: "dinov2_vpr",
      onnxPath: "dinov2_vpr.onnx",
      inputName: "input",
      inputShape: [1, 3, 32, 32],
      precision: "model",
    });
    expect(shape.exitCode).toBe(61);
    expect(shape.firstErrorLine).toMatch(
      /^error: model dinov2_vpr: inputShape \[1, 3, 32, 32\] is not the static shape \[1, 3, 16, 16\] of input "input"/,
    );
  });

  it("the build's phases and elapsed time reach the log as structured records", async () => {
    const run = await runOperatorTool(args("--json", "--log-format", "json", "--log-level", "info"), {
      env: { ...env, FAKE_TRTEXEC_DELAY_MS: "300" },
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const records = run.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { event?: string; model?: string; phase?: string; elapsedS?: number });
    const phases = records
      .filter((r) => r.event === "engine-build" && r.model === "dinov2_vpr")
      .map((r) => r.phase);
    expect(phases).toEqual(["started", "parsing", "building", "built", "skipped-inference", "done"]);
    expect(
      records.filter((r) => r.event === "engine-build").every((r) => typeof r.elapsedS === "number"),
    ).toBe(true);
  });
});
