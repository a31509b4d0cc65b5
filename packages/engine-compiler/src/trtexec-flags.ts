/*
 * Which trtexec flags each TensorRT release takes, read from NVIDIA's own
 * source: github NVIDIA/TensorRT, samples/common/sampleOptions.cpp (S) and
 * samples/common/sampleEngines.cpp (E) on each release branch. Lines cited:
 *
 * release/8.0  S: L426 --onnx, L530-532 --min/opt/maxShapes, L565 --workspace=N,
 *              L570 --best, L579-580 --fp16 --int8, L602 --calib, L631 --saveEngine,
 *              L704 --timingCacheFile, L748 --buildOnly
 * release/8.2  S: L434 --onnx, L554-556 shapes, L574 --workspace=N (int32, sampleOptions.h
 *              L132; MiB: E L641 `workspace << 20`), L579/588/589 --best --fp16 --int8,
 *              L634 --calib, L681 --saveEngine, L754 --timingCacheFile, L802 --buildOnly.
 *              No --memPoolSize, --skipInference or --stronglyTyped.
 * release/8.4  S: L692 --workspace deprecated; L698 --memPoolSize=<pool>:<N>, N read by stod
 *              as MiB (L75-78: a unit suffix is ignored, "4G" is 4 MiB); L750 --buildOnly;
 *              L736/745/746 --best --fp16 --int8; L791 --calib; L673-675 shapes.
 * release/8.5  S: L797 --memPoolSize (stod, MiB); L849 --buildOnly; L835/844/845; L890 --calib.
 * release/8.6  S: L895 --memPoolSize (stod, MiB); L971-974 --buildOnly deprecated by
 *              L975 --skipInference; L933/959/960; L1016 --calib; L870-872 shapes.
 * release/9.0  S: L1003 --memPoolSize (stod, MiB, L64-67); L1076 --stronglyTyped;
 *              L1103-1107 --buildOnly deprecated, --skipInference.
 * release/10.0 S: L1112 --memPoolSize: stod × unit (L111-114), a bare number stays MiB
 *              ("4096M" would be multiplied twice); L1201 --stronglyTyped; L1228
 *              --skipInference; no --workspace, --buildOnly, --explicitBatch.
 * release/10.3 S: L1124-1150 --memPoolSize: a bare number gets an "M" suffix, stored in MiB;
 *              L1181/1226/1228 --best --fp16 --int8; L1231 --stronglyTyped; L1259
 *              --skipInference; L1302 --calib; L1076-1078 shapes.
 * release/10.16 S: L1172 --memPoolSize; L1229/1277/1279/1282; L1286-1290 --best with
 *              --stronglyTyped is an error; L1343 --skipInference; L1390 --calib.
 * release/11.0, release/11.1 S: no --fp16, --int8, --best, --calib (strongly typed networks
 *              only); --stronglyTyped still parsed (11.1 L1214) but documented as a no-op
 *              (11.0 L2396, 11.1 L2752); L1124 --memPoolSize; L1226 --skipInference;
 *              L1099-1101 shapes.
 * Every release above (E, e.g. release/8.2 L610, release/10.3 L841, release/11.1 L560)
 * refuses --min/opt/maxShapes for a network without dynamic inputs: "Static model does not
 * take explicit shapes…", exit 1. So shapes go only to dynamic inputs.
 *
 * A bare number for the workspace means MiB on every release that has the flag,
 * so no unit suffix is ever passed.
 */
import type { Backbone, Precision } from "./corpus.js";
import { ModelInvalidError } from "./errors.js";

export interface TrtexecRule {
  /** The first release (major.minor) this rule is for; it holds until the next rule's. */
  since: string;
  /** The branches it was read from (see the table above). */
  verifiedOn: readonly string[];
  workspaceFlag: (mb: number) => string;
  buildOnlyFlag: "--buildOnly" | "--skipInference";
  /** The flags for each precision this release can build; a precision not listed is refused. */
  precision: Readonly<Partial<Record<Precision, readonly string[]>>>;
  /** Why a refused precision is refused, and what to do instead. */
  refusedPrecision: { why: string; fix: string };
  /** Every option this rule can emit; each is parsed by every release in the rule's range. */
  accepts: readonly string[];
}

const ALWAYS = ["--onnx", "--saveEngine", "--timingCacheFile", "--minShapes", "--optShapes", "--maxShapes"];

/** Oldest first. Releases newer than the last rule's get the last rule. */
export const TRTEXEC_RULES: readonly TrtexecRule[] = [
  {
    since: "8.0",
    verifiedOn: ["release/8.0", "release/8.2"],
    workspaceFlag: (mb) => `--workspace=${mb}`,
    buildOnlyFlag: "--buildOnly",
    precision: { fp32: [], fp16: ["--fp16"], int8: ["--int8"], best: ["--best"] },
    refusedPrecision: {
      why: "it has no --stronglyTyped (added in TensorRT 9.0)",
      fix: 'set precision to "fp32", "fp16", "int8" or "best" for this companion',
    },
    accepts: [...ALWAYS, "--workspace", "--buildOnly", "--fp16", "--int8", "--best", "--calib"],
  },
  {
    since: "8.4",
    verifiedOn: ["release/8.4", "release/8.5"],
    workspaceFlag: (mb) => `--memPoolSize=workspace:${mb}`,
    buildOnlyFlag: "--buildOnly",
    precision: { fp32: [], fp16: ["--fp16"], int8: ["--int8"], best: ["--best"] },
    refusedPrecision: {
      why: "it has no --stronglyTyped (added in TensorRT 9.0)",
      fix: 'set precision to "fp32", "fp16", "int8" or "best" for this companion',
    },
    accepts: [...ALWAYS, "--memPoolSize", "--buildOnly", "--fp16", "--int8", "--best", "--calib"],
  },
  {
    since: "8.6",
    verifiedOn: ["release/8.6"],
    workspaceFlag: (mb) => `--memPoolSize=workspace:${mb}`,
    buildOnlyFlag: "--skipInference",
    precision: { fp32: [], fp16: ["--fp16"], int8: ["--int8"], best: ["--best"] },
    refusedPrecision: {
      why: "it has no --stronglyTyped (added in TensorRT 9.0)",
      fix: 'set precision to "fp32", "fp16", "int8" or "best" for this companion',
    },
    accepts: [...ALWAYS, "--memPoolSize", "--skipInference", "--fp16", "--int8", "--best", "--calib"],
  },
  {
    since: "9.0",
    verifiedOn: ["release/9.0", "release/10.0", "release/10.3", "release/10.16"],
    workspaceFlag: (mb) => `--memPoolSize=workspace:${mb}`,
    buildOnlyFlag: "--skipInference",
    precision: {
      fp32: [],
      fp16: ["--fp16"],
      int8: ["--int8"],
      best: ["--best"],
      model: ["--stronglyTyped"],
    },
    refusedPrecision: { why: "", fix: "" },
    accepts: [
      ...ALWAYS,
      "--memPoolSize",
      "--skipInference",
      "--fp16",
      "--int8",
      "--best",
      "--calib",
      "--stronglyTyped",
    ],
  },
  {
    since: "11.0",
    verifiedOn: ["release/11.0", "release/11.1"],
    workspaceFlag: (mb) => `--memPoolSize=workspace:${mb}`,
    buildOnlyFlag: "--skipInference",
    // Strongly typed is the only kind of network: the model's own types decide.
    precision: { fp32: [], model: [] },
    refusedPrecision: {
      why: "it builds strongly typed networks only (no --fp16, --int8, --best, --calib)",
      fix: 'export the model in that precision and set precision: "model"',
    },
    accepts: [...ALWAYS, "--memPoolSize", "--skipInference"],
  },
];

/** The rule for a TensorRT version; undefined for releases older than 8.0. */
export function trtexecRuleFor(tensorrt: string): TrtexecRule | undefined {
  const version = majorMinor(tensorrt);
  let found: TrtexecRule | undefined;
  for (const rule of TRTEXEC_RULES) if (compare(version, majorMinor(rule.since)) >= 0) found = rule;
  return found;
}

/** How the corpus input is given to trtexec: nothing for a static input, a profile for a dynamic one. */
export type InputProfile =
  | { kind: "static" }
  | { kind: "dynamic"; min: number[]; opt: number[]; max: number[] };

/**
 * trtexec's flags for this backbone, minus the per-run paths (--onnx,
 * --saveEngine, --calib, --timingCacheFile): this list is part of the cache key,
 * so a TensorRT upgrade that changes them rebuilds. Throws ModelInvalidError
 * when the release cannot build the asked precision.
 */
export function trtexecBuilderFlags(options: {
  backbone: Backbone;
  workspaceMb: number;
  tensorrt: string;
  profile: InputProfile;
}): string[] {
  const { backbone, profile } = options;
  const rule = trtexecRuleFor(options.tensorrt);
  if (rule === undefined) throw new RangeError(`TensorRT ${options.tensorrt} is older than 8.0`);
  const precisionFlags = rule.precision[backbone.precision];
  if (precisionFlags === undefined) {
    throw new ModelInvalidError(
      backbone.modelName,
      `model ${backbone.modelName}: precision "${backbone.precision}" cannot be built by TensorRT ${options.tensorrt}: ${rule.refusedPrecision.why}`,
      { hint: rule.refusedPrecision.fix },
    );
  }
  const flags = [rule.workspaceFlag(options.workspaceMb), ...precisionFlags];
  if (profile.kind === "dynamic") {
    const shape = (dims: number[]) => `${backbone.inputName}:${dims.join("x")}`;
    flags.push(
      `--minShapes=${shape(profile.min)}`,
      `--optShapes=${shape(profile.opt)}`,
      `--maxShapes=${shape(profile.max)}`,
    );
  }
  flags.push(rule.buildOnlyFlag);
  assertAccepted(rule, flags);
  return flags;
}

/** The full argument list for one build. */
export function trtexecArguments(options: {
  flags: string[];
  tensorrt: string;
  onnxPath: string;
  outputPath: string;
  calibrationPath: string | undefined;
  timingCachePath: string;
}): string[] {
  const rule = trtexecRuleFor(options.tensorrt);
  if (rule === undefined) throw new RangeError(`TensorRT ${options.tensorrt} is older than 8.0`);
  const args = [`--onnx=${options.onnxPath}`, `--saveEngine=${options.outputPath}`, ...options.flags];
  if (options.calibrationPath !== undefined) args.push(`--calib=${options.calibrationPath}`);
  args.push(`--timingCacheFile=${options.timingCachePath}`);
  assertAccepted(rule, args);
  return args;
}

/** A flag the release's parser does not take is a bug here, never something to send. */
function assertAccepted(rule: TrtexecRule, args: string[]): void {
  for (const arg of args) {
    const option = arg.split("=", 1)[0]!;
    if (!rule.accepts.includes(option)) {
      throw new Error(`trtexec rule for TensorRT ${rule.since}+ does not accept ${option}`);
    }
  }
}

function majorMinor(version: string): [number, number] {
  const [major = 0, minor = 0] = version.split(".").map((part) => Number.parseInt(part, 10) || 0);
  return [major, minor];
}

function compare(a: [number, number], b: [number, number]): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}
