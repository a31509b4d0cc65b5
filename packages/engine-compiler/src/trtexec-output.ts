/*
 * Reading trtexec's output, as NVIDIA's source prints it (github NVIDIA/TensorRT):
 *
 * - Banner, samples/common/logging.h defineTest: "&&&& RUNNING TensorRT.trtexec
 *   [TensorRT v<N>] # <cmdline>", printed first on every run including --help.
 *   N is NV_TENSORRT_VERSION: major*1000 + minor*100 + patch on 8.x/9.x (4 digits,
 *   release/8.5 include/NvInferRuntimeCommon.h L82-83: v8502 = 8.5.2), major*10000 +
 *   minor*100 + patch from 10.0 (6 digits, release/10.3 include/NvInferRuntimeBase.h
 *   L89-93: v100300 = 10.3.0). From 10.4 a build tag follows: "[TensorRT v101600] [b72]"
 *   (release/10.4 logging.h L383-384).
 * - "[I] TensorRT version: x.y.z" after the options (release/8.5 samples/trtexec/trtexec.cpp
 *   L186, release/10.3 L278, release/11.1 L445).
 * - Log lines "[MM/DD/YYYY-HH:MM:SS] [E] text": [I]/[V] on stdout, [E]/[W]/[F] on stderr
 *   (logging.h L189, L196-200); libnvinfer's own messages carry "[TRT] " (L314).
 * - A failed build logs its cause first, then one generic line per level it unwinds
 *   (sampleEngines.cpp SMP_RETVAL_IF_FALSE and trtexec.cpp); those generic lines are
 *   GENERIC below. An unknown option is "[E] Unknown option: <opt> <value>" with ~300
 *   lines of help after it (8.x, release/8.5 trtexec.cpp L150/L163) or before it (10.x,
 *   release/10.3 trtexec.cpp L239/L242); so the cause is searched in every line, never
 *   only in a tail.
 */

export interface TrtexecVersion {
  /** major.minor.patch */
  version: string;
  /** The build number, when the banner carries it (10.4+). */
  build: number | undefined;
}

const BANNER = /\[TensorRT v(\d{4,6})\](?: \[b(\d+)\])?/;
const VERSION_LINE = /\[I\] TensorRT version: (\d+)\.(\d+)\.(\d+)/;

/** The version from a banner (4 or 6 digits, optional build tag), else from the "TensorRT version:" line. */
export function parseTrtexecVersion(output: string): TrtexecVersion | undefined {
  const banner = BANNER.exec(output);
  if (banner !== null) {
    const digits = banner[1]!;
    const build = banner[2] === undefined ? undefined : Number(banner[2]);
    if (digits.length === 4) {
      return {
        version: `${Number(digits[0])}.${Number(digits[1])}.${Number(digits.slice(2))}`,
        build,
      };
    }
    if (digits.length === 6) {
      return {
        version: `${Number(digits.slice(0, 2))}.${Number(digits.slice(2, 4))}.${Number(digits.slice(4))}`,
        build,
      };
    }
  }
  const line = VERSION_LINE.exec(output);
  if (line !== null) return { version: `${line[1]}.${line[2]}.${line[3]}`, build: undefined };
  return undefined;
}

/**
 * The lines a failed build prints on its way out, after the line that says why
 * (release/8.5 samples/common/sampleEngines.cpp L272, L1035, L1053, L1086, L1088,
 * L1214; release/8.2 L856, L874, L927, L928, L1073; release/10.3 L256, L1193, L1210,
 * L1260, L1294, L1480; samples/trtexec/trtexec.cpp "Engine set up failed",
 * "Inference set up failed", "Error occurred during inference").
 */
const GENERIC = new Set([
  "Engine set up failed",
  "Failed to create engine from model.",
  "Failed to create engine from model or file.",
  "Building engine failed",
  "Engine could not be created from network",
  "Network And Config setup failed",
  "Parsing model failed",
  "Failed to parse onnx file",
  "Saving engine to file failed.",
  "Inference set up failed",
  "Error occurred during inference",
]);

/**
 * onnx-tensorrt's framing around a node that failed to import (onnx/onnx-tensorrt
 * ModelImporter.cpp, branch 8.5-GA L726-729): the cause is the "ERROR: …" line after it.
 */
const FRAMING = /(While parsing node number \d+|--- Begin node ---|--- End node ---)/;

/** Lines that state a cause outright: trtexec's parser, the ONNX parser, libnvinfer's error codes, memory. */
const CAUSE =
  /Unknown option:|Failed to parse ONNX model|ERROR: .*In function|Assertion failed|Error Code \d+|out of memory|OutOfMemory|Static model does not take explicit shapes|Cannot find input tensor|Model missing or format not recognized|memory pool|conversion failure|Invalid usage/i;

const ERROR_LINE = /^(?:\[[^\]]*\]\s*)?\[(E|F)\]\s?(.*)$/;

/** The text of an [E]/[F] line, without its timestamp and severity; undefined for other lines. */
export function errorText(line: string): string | undefined {
  const match = ERROR_LINE.exec(line);
  return match === null ? undefined : match[2]!.trim();
}

/**
 * The one line that says why trtexec failed: the first error line that names a
 * cause, else the first that is not a generic unwinding line, else the first
 * error line. Several unknown options are named together.
 */
export function causeOfFailure(errorLines: readonly string[]): string | undefined {
  const texts = errorLines.map((line) => errorText(line) ?? line).filter((text) => text !== "");
  const unknown = texts.filter((text) => text.startsWith("Unknown option:"));
  if (unknown.length > 1) {
    return `Unknown options: ${unknown.map((text) => text.slice("Unknown option:".length).trim()).join(", ")}`;
  }
  const specific = texts.filter((text) => !GENERIC.has(text) && !FRAMING.test(text));
  return specific.find((text) => CAUSE.test(text)) ?? specific[0] ?? texts[0];
}

export type BuildPhase = "parsing" | "building" | "built" | "skipped-inference" | "inference";

/**
 * The phase a trtexec line announces, for live progress (release/8.5
 * sampleEngines.cpp L200 "Start parsing network model", L280 "Finish parsing network
 * model"; release/8.6 L242/L355 and release/10.3 L235/L288 the same with "." and
 * "Finished … Parse time: t"; release/8.5 trtexec.cpp L221 and release/10.3
 * sampleEngines.cpp L1213 "Engine built in <s> sec."; release/10.3 L1214 "Created
 * engine with size"; trtexec.cpp "Skipped inference phase since --buildOnly/
 * --skipInference is added.", "Starting inference").
 */
export function phaseOf(line: string): BuildPhase | undefined {
  if (!/\[I\]/.test(line)) return undefined;
  if (/\] Start parsing network model/.test(line)) return "parsing";
  if (/\] Finish(?:ed)? parsing network model/.test(line)) return "building";
  if (/\] Engine built in /.test(line) || /\] Created engine with size/.test(line)) return "built";
  if (/\] Skipped inference phase/.test(line)) return "skipped-inference";
  if (/\] Starting inference/.test(line)) return "inference";
  return undefined;
}
