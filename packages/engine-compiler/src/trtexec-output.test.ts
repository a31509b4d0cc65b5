import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  FAKE_TRTEXEC_RELEASES,
  type FakeTrtexecRelease,
  installFakeTrtexec,
  makeTempDir,
  writeOnnxModel,
} from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { causeOfFailure, errorText, parseTrtexecVersion, phaseOf } from "./trtexec-output.js";

describe("parseTrtexecVersion", () => {
  it.each([
    ["&&&& RUNNING TensorRT.trtexec [TensorRT v8201] # trtexec --help", "8.2.1", undefined],
    ["&&&& RUNNING TensorRT.trtexec [TensorRT v8502] # trtexec", "8.5.2", undefined],
    ["&&&& RUNNING TensorRT.trtexec [TensorRT v8602] # trtexec", "8.6.2", undefined],
    ["&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec", "10.3.0", undefined],
    ["&&&& RUNNING TensorRT.trtexec [TensorRT v101600] [b72] # trtexec", "10.16.0", 72],
    ["&&&& RUNNING TensorRT.trtexec [TensorRT v110100] [b106] # trtexec", "11.1.0", 106],
    ["[11/22/2026-06:00:00] [I] TensorRT version: 10.3.0", "10.3.0", undefined],
  ])("%s → %s", (text, version, build) => {
    expect(parseTrtexecVersion(`some line\n${text}\nmore`)).toEqual({ version, build });
  });

  it("nothing recognisable is undefined", () => {
    expect(parseTrtexecVersion("trtexec: command not found")).toBeUndefined();
  });
});

describe("phaseOf", () => {
  it.each([
    ["[11/22/2026-06:00:00] [I] Start parsing network model", "parsing"],
    ["[11/22/2026-06:00:00] [I] Start parsing network model.", "parsing"],
    ["[11/22/2026-06:00:00] [I] Finish parsing network model", "building"],
    ["[11/22/2026-06:00:00] [I] Finished parsing network model. Parse time: 0.123", "building"],
    ["[11/22/2026-06:00:00] [I] Engine built in 512.3 sec.", "built"],
    [
      "[11/22/2026-06:00:00] [I] Skipped inference phase since --skipInference is added.",
      "skipped-inference",
    ],
    ["[11/22/2026-06:00:00] [W] Start parsing network model", undefined],
    ["[11/22/2026-06:00:00] [I] [TRT] Some library line", undefined],
  ])("%s → %s", (line, phase) => {
    expect(phaseOf(line)).toBe(phase);
  });
});

describe("the fake trtexec of each release, and reading its failures", () => {
  let temp: ReturnType<typeof makeTempDir>;
  const trtexec = {} as Record<FakeTrtexecRelease, string>;
  let staticModel: string;
  let dynamicModel: string;
  beforeAll(() => {
    temp = makeTempDir();
    for (const release of FAKE_TRTEXEC_RELEASES)
      trtexec[release] = installFakeTrtexec(join(temp.path, release), { release });
    staticModel = writeOnnxModel(join(temp.path, "static.onnx"), { shape: [1, 3, 16, 16] });
    dynamicModel = writeOnnxModel(join(temp.path, "dynamic.onnx"), { shape: ["n", 3, 16, 16] });
  });
  afterAll(() => temp.cleanup());

  const runFake = (release: FakeTrtexecRelease, args: string[], env: Record<string, string> = {}) => {
    const result = spawnSync(trtexec[release], args, {
      encoding: "utf8",
      env: { ...process.env, FAKE_TRTEXEC_RELEASE: "", FAKE_TRTEXEC_VERSION: "", ...env },
    });
    const stdout = result.stdout.split("\n").filter(Boolean);
    const stderr = result.stderr.split("\n").filter(Boolean);
    return {
      status: result.status,
      stdout,
      stderr,
      errors: [...stdout, ...stderr].filter((l) => errorText(l) !== undefined),
    };
  };
  const helpOf = (lines: string[]) => lines.indexOf("=== Options ===");

  it.each(FAKE_TRTEXEC_RELEASES)(
    "TensorRT %s: [E]/[W] on stderr, [I] and &&&& on stdout; an unknown option is named as the cause",
    (release) => {
      const run = runFake(release, [`--onnx=${staticModel}`, "--bogusFlag", "--alsoBogus=1"]);
      expect(run.status).toBe(1);
      expect(run.stderr.every((l) => /^\[\d\d\/\d\d\/\d{4}-\d\d:\d\d:\d\d\] \[(E|W)\] /.test(l))).toBe(true);
      expect(
        run.stdout.every((l) =>
          /^(&&&& |\[\d\d\/\d\d\/\d{4}-\d\d:\d\d:\d\d\] \[I\] |=== Options ===| {2}-)/.test(l),
        ),
      ).toBe(true);
      expect(run.stdout[0]).toMatch(/^&&&& RUNNING TensorRT\.trtexec \[TensorRT v\d{4,6}\]( \[b\d+\])? # /);
      expect(helpOf(run.stdout)).toBeGreaterThan(0);
      // 11.1 returns from its parser without a result line (release/11.1 trtexec.cpp L390, L811-814).
      expect(run.stdout.some((l) => l.startsWith("&&&& FAILED"))).toBe(release !== "11.1");
      expect(causeOfFailure(run.errors)).toBe("Unknown options: --bogusFlag, --alsoBogus 1");
      expect(causeOfFailure(runFake(release, [`--onnx=${staticModel}`, "--bogusFlag"]).errors)).toBe(
        "Unknown option: --bogusFlag",
      );
    },
  );

  it.each(FAKE_TRTEXEC_RELEASES)(
    "TensorRT %s: shapes for a static model are refused (exit 1), and that is the cause read",
    (release) => {
      const run = runFake(release, [`--onnx=${staticModel}`, "--minShapes=input:1x3x16x16"]);
      expect(run.status).toBe(1);
      expect(run.stdout.at(-1)).toMatch(/^&&&& FAILED TensorRT\.trtexec/);
      expect(causeOfFailure(run.errors)).toBe(
        "Static model does not take explicit shapes since the shape of inference tensors will be determined by the model itself",
      );
      expect(run.errors.at(-1)).toMatch(/\[E\] Engine set up failed$/);
    },
  );

  it.each(FAKE_TRTEXEC_RELEASES)(
    "TensorRT %s: an unparseable model and a builder out of memory name their cause",
    (release) => {
      const parse = runFake(release, [`--onnx=${dynamicModel}`, "--minShapes=input:1x3x16x16"], {
        FAKE_TRTEXEC_FAIL: "dynamic.onnx:parse",
      });
      expect(causeOfFailure(parse.errors)).toMatch(
        /^\[TRT\] ModelImporter\.cpp:\d+: Failed to parse ONNX model from file: .*dynamic\.onnx!?$/,
      );
      const oom = runFake(release, [`--onnx=${dynamicModel}`], { FAKE_TRTEXEC_FAIL: "dynamic.onnx:oom" });
      expect(oom.stderr.some((l) => l.includes("Dynamic dimensions required for input: input"))).toBe(true);
      expect(causeOfFailure(oom.errors)).toMatch(/OutOfMemory/);
    },
  );

  it("the help comes after the errors on 8.x and before them from 10.0", () => {
    const merged = (release: FakeTrtexecRelease) => {
      const result = spawnSync("sh", ["-c", `"${trtexec[release]}" --onnx="${staticModel}" --bogus 2>&1`], {
        encoding: "utf8",
      });
      const lines = result.stdout.split("\n");
      return { unknown: lines.findIndex((l) => l.includes("Unknown option")), help: helpOf(lines) };
    };
    for (const release of ["8.2", "8.4", "8.5", "8.6"] as const) {
      const { unknown, help } = merged(release);
      expect(unknown, release).toBeGreaterThan(0);
      expect(unknown, release).toBeLessThan(help);
    }
    for (const release of ["10.3", "10.16", "11.1"] as const) {
      const { unknown, help } = merged(release);
      expect(help, release).toBeGreaterThan(0);
      expect(help, release).toBeLessThan(unknown);
    }
  });

  it("a value the release reads differently fails as that release fails", () => {
    // 10.x checks the unit; 8.5 reads "4X" with stod as 4 MiB and accepts it.
    expect(
      causeOfFailure(runFake("10.3", [`--onnx=${staticModel}`, "--memPoolSize=workspace:4X"]).errors),
    ).toMatch(/invalid unit specifier 'X'/);
    expect(
      runFake("8.5", [`--onnx=${staticModel}`, "--memPoolSize=workspace:4X", "--buildOnly"]).status,
    ).toBe(0);
    expect(causeOfFailure(runFake("8.5", [`--onnx=${staticModel}`, "--memPoolSize=scratch:4"]).errors)).toBe(
      "Unknown memory pool: scratch",
    );
  });
});
