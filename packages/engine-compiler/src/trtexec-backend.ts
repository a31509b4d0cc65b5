import { readFile } from "node:fs/promises";
import type { Backbone } from "./corpus.js";
import { CalibrationCacheError, EngineBuildError } from "./errors.js";

export interface TrtexecBuild {
  trtexecPath: string;
  backbone: Backbone;
  workspaceMb: number;
  outputPath: string;
  timingCachePath: string;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

const PASSED = /^&&&& PASSED TensorRT\.trtexec/;
const FAILED = /^&&&& FAILED TensorRT\.trtexec/;
const TAIL_LINES = 25;

/**
 * trtexec's flags for this backbone, without the per-run paths: this list is
 * part of the cache key. `--memPoolSize` replaced the removed `--workspace`.
 */
export function trtexecBuilderFlags(backbone: Backbone, workspaceMb: number): string[] {
  const flags = [`--memPoolSize=workspace:${workspaceMb}M`];
  if (backbone.precision === "fp16") flags.push("--fp16");
  if (backbone.precision === "int8") flags.push("--int8");
  if (backbone.precision === "best") flags.push("--best");
  const shape = (dims: number[]) => `${backbone.inputName}:${dims.join("x")}`;
  const range = Array.isArray(backbone.inputShape)
    ? { min: backbone.inputShape, opt: backbone.inputShape, max: backbone.inputShape }
    : backbone.inputShape;
  flags.push(
    `--minShapes=${shape(range.min)}`,
    `--optShapes=${shape(range.opt)}`,
    `--maxShapes=${shape(range.max)}`,
  );
  flags.push("--skipInference");
  return flags;
}

/** Runs trtexec; success only on exit 0 *and* its PASSED line. */
export async function buildWithTrtexec(build: TrtexecBuild): Promise<void> {
  const { backbone } = build;
  const args = [
    `--onnx=${backbone.onnxPath}`,
    `--saveEngine=${build.outputPath}`,
    ...trtexecBuilderFlags(backbone, build.workspaceMb),
  ];
  if (backbone.precision === "int8") {
    const calib = backbone.calibrationPath!;
    const content = await readFile(calib).catch((error: NodeJS.ErrnoException) => {
      throw new CalibrationCacheError(
        backbone.modelName,
        calib,
        `model ${backbone.modelName}: calibration cache ${calib} cannot be read (${error.code ?? error.message})`,
        {
          hint: "generate the INT8 calibration cache, or fix calibrationPath in the corpus",
        },
      );
    });
    if (content.length === 0) {
      throw new CalibrationCacheError(
        backbone.modelName,
        calib,
        `model ${backbone.modelName}: calibration cache ${calib} is empty`,
        {
          hint: "regenerate the INT8 calibration cache",
        },
      );
    }
    args.push(`--calib=${calib}`);
  }
  args.push(`--timingCacheFile=${build.timingCachePath}`);

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
  let passed = false;
  let failed = false;
  for await (const line of child.iterable({ from: "all" })) {
    const text = String(line);
    if (PASSED.test(text)) passed = true;
    if (FAILED.test(text)) failed = true;
    tail.push(text);
    if (tail.length > TAIL_LINES) tail.shift();
    build.onLine?.(text);
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
  // One line for the operator: trtexec's last error line says what went wrong; the tail travels with the error.
  const lastError = [...tail].reverse().find((line) => /\[E\]/.test(line));
  const detail = lastError === undefined ? "" : `: ${lastError.replace(/^\[[^\]]*\]\s*\[E\]\s*/, "")}`;
  throw new EngineBuildError(
    backbone.modelName,
    `model ${backbone.modelName}: trtexec ${why}${detail}`,
    tail,
    {
      hint: "the report's error.tail has trtexec's last lines; --log-level debug streams all of it",
    },
  );
}
