import {
  type BuildInputs,
  type BuildRecord,
  fileSize,
  readBuildRecord,
  readEngineHeader,
  readSidecar,
  sha256OfFile,
} from "./engine-cache.js";

/** Why an engine must be (re)built; every reason that applies is listed. */
export type BuildReason =
  | "forced"
  | "no-engine"
  | "no-sidecar"
  | "digest-mismatch"
  | "previous-build-incomplete"
  | "onnx-changed"
  | "build-parameters-changed"
  | "tensorrt-version-differs"
  | "not-a-tensorrt-engine";

export type CacheDecision =
  | { action: "reuse"; engineSha256: string }
  | { action: "build"; reasons: BuildReason[] };

export interface DecideOptions {
  enginePath: string;
  inputs: BuildInputs;
  /** The host's full TensorRT version, compared with the one the engine was built by. */
  hostTensorrtFull: string | undefined;
  forced: boolean;
  /** The build record when the caller has already read it; read here otherwise. */
  record?: BuildRecord | undefined;
}

/**
 * Reuse only when every check passes: engine and sidecar present, the digest
 * matches, and the build record says it was built from these exact inputs by
 * this TensorRT. The ONNX digest covers the weights, which a name- or
 * path-based key (ONNX Runtime's TensorRT cache) misses.
 */
export async function decide(options: DecideOptions): Promise<CacheDecision> {
  const { enginePath, inputs } = options;
  const reasons: BuildReason[] = [];
  if (options.forced) reasons.push("forced");
  const size = await fileSize(enginePath);
  if (size === undefined) {
    reasons.push("no-engine");
    return { action: "build", reasons };
  }
  const [sidecar, record] = await Promise.all([
    readSidecar(enginePath),
    "record" in options ? options.record : readBuildRecord(enginePath),
  ]);
  if (sidecar === undefined) reasons.push("no-sidecar");
  // An engine without its record was renamed in but never finished (or came from elsewhere).
  if (record === undefined) reasons.push("previous-build-incomplete");
  if (record !== undefined) {
    if (record.onnxSha256 !== inputs.onnxSha256) reasons.push("onnx-changed");
    if (!sameParameters(record, inputs)) reasons.push("build-parameters-changed");
    if (
      inputs.backend === "tensorrt" &&
      options.hostTensorrtFull !== undefined &&
      record.tensorrtVersion !== options.hostTensorrtFull
    ) {
      reasons.push("tensorrt-version-differs");
    }
  }
  if (inputs.backend === "tensorrt" && (await readEngineHeader(enginePath)) === undefined)
    reasons.push("not-a-tensorrt-engine");
  // Hash last, and only when nothing else already condemns the engine: it is the expensive check.
  if (sidecar !== undefined && reasons.length === 0) {
    const digest = await sha256OfFile(enginePath);
    if (digest !== sidecar || (record !== undefined && record.engineSha256 !== digest))
      reasons.push("digest-mismatch");
    else return { action: "reuse", engineSha256: digest };
  }
  return { action: "build", reasons };
}

function sameParameters(record: BuildRecord, inputs: BuildInputs): boolean {
  return (
    record.precision === inputs.precision &&
    record.inputName === inputs.inputName &&
    JSON.stringify(record.inputShape) === JSON.stringify(inputs.inputShape) &&
    record.workspaceMb === inputs.workspaceMb &&
    JSON.stringify(record.builderFlags) === JSON.stringify(inputs.builderFlags) &&
    record.calibrationSha256 === inputs.calibrationSha256
  );
}
