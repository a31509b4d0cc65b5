import { readFile } from "node:fs/promises";
import type { Backbone } from "./corpus.js";
import { CalibrationCacheError, EngineBuildError } from "./errors.js";
import { trtexecArguments } from "./trtexec-flags.js";
import { type BuildPhase, causeOfFailure, errorText, phaseOf } from "./trtexec-output.js";

export interface TrtexecBuild {
  trtexecPath: string;
  /** The probed TensorRT version: decides which flags exist. */
  tensorrt: string;
  backbone: Backbone;
  /** From trtexecBuilderFlags: the flags that are part of the cache key. */
  flags: string[];
  outputPath: string;
  timingCachePath: string;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
  onPhase?: (phase: BuildPhase, line: string) => void;
}

// The result line (samples/common/logging.h reportTestResult). TensorRT 11.1 exits 1 on a
// refused option without one (release/11.1 trtexec.cpp L390, L811-814), so the exit code decides too.
const PASSED = /^&&&& PASSED TensorRT\.trtexec/;
const FAILED = /^&&&& FAILED TensorRT\.trtexec/;
const TAIL_LINES = 40;
const MAX_ERROR_LINES = 50;

/** Runs trtexec; success only on exit 0 *and* its PASSED line. */
export async function buildWithTrtexec(build: TrtexecBuild): Promise<void> {
  const { backbone } = build;
  let calibrationPath: string | undefined;
  if (backbone.precision === "int8") {
    calibrationPath = backbone.calibrationPath!;
    await checkCalibrationCache(backbone.modelName, calibrationPath);
  }
  const args = trtexecArguments({
    flags: build.flags,
    tensorrt: build.tensorrt,
    onnxPath: backbone.onnxPath,
    outputPath: build.outputPath,
    calibrationPath,
    timingCachePath: build.timingCachePath,
  });

  const { execa } = await import("execa");
  const child = execa(build.trtexecPath, args, {
    all: true,
    buffer: false,
    reject: false,
    stdin: "ignore",
    ...(build.signal === undefined ? {} : { cancelSignal: build.signal }),
    forceKillAfterDelay: 5_000,
  });
  const tail: string[] = [];
  const errors: string[] = [];
  let passed = false;
  let failed = false;
  for await (const line of child.iterable({ from: "all" })) {
    const text = String(line);
    if (PASSED.test(text)) passed = true;
    if (FAILED.test(text)) failed = true;
    if (errorText(text) !== undefined && errors.length < MAX_ERROR_LINES) errors.push(text);
    tail.push(text);
    if (tail.length > TAIL_LINES) tail.shift();
    build.onLine?.(text);
    const phase = phaseOf(text);
    if (phase !== undefined) build.onPhase?.(phase, text);
  }
  const result = await child;
  build.signal?.throwIfAborted();
  if (result.exitCode === 0 && passed && !failed) return;
  const why =
    result.exitCode === undefined
      ? `was killed (${result.signal ?? "no exit status"})`
      : result.exitCode !== 0
        ? `exited ${result.exitCode}`
        : "exited 0 without its PASSED line";
  // One line for the operator: the error that says why, not the generic lines trtexec prints on its way out.
  const cause = causeOfFailure(errors);
  throw new EngineBuildError(
    backbone.modelName,
    `model ${backbone.modelName}: trtexec ${why}${cause === undefined ? "" : `: ${cause}`}`,
    tail,
    {
      hint: "the report's error.tail has trtexec's last lines; --log-level debug streams all of it",
    },
    errors,
  );
}

async function checkCalibrationCache(modelName: string, path: string): Promise<void> {
  const content = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new CalibrationCacheError(
      modelName,
      path,
      `model ${modelName}: calibration cache ${path} cannot be read (${error.code ?? error.message})`,
      { hint: "generate the INT8 calibration cache, or fix calibrationPath in the corpus" },
    );
  });
  // trtexec would silently calibrate on random data without a cache (release/8.5
  // sampleEngines.cpp L369-382): an engine that builds but gives wrong answers.
  if (content.length === 0) {
    throw new CalibrationCacheError(
      modelName,
      path,
      `model ${modelName}: calibration cache ${path} is empty`,
      {
        hint: "regenerate the INT8 calibration cache",
      },
    );
  }
}
