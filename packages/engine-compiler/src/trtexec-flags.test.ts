import { FAKE_TRTEXEC_RELEASES, fakeTrtexecTable } from "@operator-tool/test-helpers";
import { describe, expect, it } from "vitest";
import type { Backbone, Precision } from "./corpus.js";
import { ModelInvalidError } from "./errors.js";
import {
  type InputProfile,
  TRTEXEC_RULES,
  trtexecArguments,
  trtexecBuilderFlags,
  trtexecRuleFor,
} from "./trtexec-flags.js";

const PRECISIONS: Precision[] = ["fp32", "fp16", "int8", "best", "model"];
const PROFILES: InputProfile[] = [
  { kind: "static" },
  { kind: "dynamic", min: [1, 3, 16, 16], opt: [2, 3, 16, 16], max: [4, 3, 16, 16] },
];

const backbone = (precision: Precision): Backbone => ({
  modelName: "dinov2_vpr",
  onnxPath: "/models/dinov2_vpr.onnx",
  inputName: "input",
  inputShape: undefined,
  precision,
  calibrationPath: precision === "int8" ? "/models/dinov2_vpr.calib" : undefined,
});

const flagsFor = (tensorrt: string, precision: Precision, profile: InputProfile = PROFILES[0]!) =>
  trtexecBuilderFlags({ backbone: backbone(precision), workspaceMb: 4096, tensorrt, profile });

describe("the trtexec flag table, against each release's parser (the fake's tables come from NVIDIA's source)", () => {
  it.each(FAKE_TRTEXEC_RELEASES)(
    "TensorRT %s: every option the rule can emit, and every argument list it builds, is one the parser takes",
    (release) => {
      const table = fakeTrtexecTable(release);
      const rule = trtexecRuleFor(table.version);
      expect(rule, `a rule for ${table.version}`).toBeDefined();
      for (const option of rule!.accepts) expect(Object.keys(table.options), option).toContain(option);
      let built = 0;
      for (const precision of PRECISIONS) {
        for (const profile of PROFILES) {
          let flags: string[];
          try {
            flags = flagsFor(table.version, precision, profile);
          } catch (error) {
            // Refusing is allowed (exit 61, with the fix); passing a flag the parser lacks is not.
            expect(error).toBeInstanceOf(ModelInvalidError);
            continue;
          }
          const args = trtexecArguments({
            flags,
            tensorrt: table.version,
            onnxPath: "/m.onnx",
            outputPath: "/e.engine",
            calibrationPath: backbone(precision).calibrationPath,
            timingCachePath: "/t.cache",
          });
          for (const arg of args) expect(table.options, arg).toHaveProperty([arg.split("=", 1)[0]!]);
          built++;
        }
      }
      expect(built).toBeGreaterThanOrEqual(4);
    },
  );
});

describe("trtexecBuilderFlags", () => {
  it.each([
    ["8.2.1", ["--workspace=4096", "--fp16", "--buildOnly"]],
    ["8.4.1", ["--memPoolSize=workspace:4096", "--fp16", "--buildOnly"]],
    ["8.5.2", ["--memPoolSize=workspace:4096", "--fp16", "--buildOnly"]],
    ["8.6.2", ["--memPoolSize=workspace:4096", "--fp16", "--skipInference"]],
    ["10.3.0", ["--memPoolSize=workspace:4096", "--fp16", "--skipInference"]],
    ["10.16.0", ["--memPoolSize=workspace:4096", "--fp16", "--skipInference"]],
  ])("TensorRT %s, fp16, static input: %j (no shapes: the model's are fixed)", (tensorrt, flags) => {
    expect(flagsFor(tensorrt, "fp16")).toEqual(flags);
  });

  it("a dynamic input gets min/opt/max; the workspace stays a bare number of MiB", () => {
    expect(flagsFor("8.5.2", "int8", PROFILES[1])).toEqual([
      "--memPoolSize=workspace:4096",
      "--int8",
      "--minShapes=input:1x3x16x16",
      "--optShapes=input:2x3x16x16",
      "--maxShapes=input:4x3x16x16",
      "--buildOnly",
    ]);
  });

  it('precision "model" is --stronglyTyped from 9.0, and nothing on 11 (strongly typed only)', () => {
    expect(flagsFor("10.3.0", "model")).toEqual([
      "--memPoolSize=workspace:4096",
      "--stronglyTyped",
      "--skipInference",
    ]);
    expect(flagsFor("11.1.0", "model")).toEqual(["--memPoolSize=workspace:4096", "--skipInference"]);
    expect(flagsFor("11.1.0", "fp32")).toEqual(["--memPoolSize=workspace:4096", "--skipInference"]);
  });

  it.each(["fp16", "int8", "best"] as const)(
    "TensorRT 11 and any later major refuse %s (exit 61) with the fix",
    (precision) => {
      for (const tensorrt of ["11.0.0", "11.1.0", "12.0.0"]) {
        expect(() => flagsFor(tensorrt, precision)).toThrow(
          expect.objectContaining({
            code: "MODEL_INVALID",
            message: `model dinov2_vpr: precision "${precision}" cannot be built by TensorRT ${tensorrt}: it builds strongly typed networks only (no --fp16, --int8, --best, --calib)`,
            hint: 'export the model in that precision and set precision: "model"',
          }),
        );
      }
    },
  );

  it('precision "model" before 9.0 is refused: those releases have no --stronglyTyped', () => {
    expect(() => flagsFor("8.6.2", "model")).toThrow(/has no --stronglyTyped \(added in TensorRT 9\.0\)/);
  });

  it("unknown future majors use the newest rule; releases before 8.0 have none", () => {
    expect(trtexecRuleFor("12.3.0")).toBe(TRTEXEC_RULES.at(-1));
    expect(trtexecRuleFor("9.3.0")?.since).toBe("9.0");
    expect(trtexecRuleFor("10.0.1")?.since).toBe("9.0");
    expect(trtexecRuleFor("8.3.0")?.since).toBe("8.0");
    expect(trtexecRuleFor("7.1.3")).toBeUndefined();
  });
});
