import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";

/** The corpus file is malformed: exit 2, naming the field. */
export class CorpusInvalidError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("CORPUS_INVALID", message, options);
  }
}

/** An ONNX model is missing, unloadable, or does not match its corpus entry: exit 61. */
export class ModelInvalidError extends OperatorToolError {
  constructor(
    readonly modelName: string,
    message: string,
    options?: OperatorToolErrorOptions,
  ) {
    super("MODEL_INVALID", message, options);
  }
}

/** The host's GPU / JetPack / TensorRT could not be probed and were not given: exit 62. */
export class HostProbeError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("HOST_PROBE_FAILED", message, options);
  }
}

/** A backend failed to build an engine: exit 60, with the builder's last lines and its error lines. */
export class EngineBuildError extends OperatorToolError {
  constructor(
    readonly modelName: string,
    message: string,
    readonly outputTail: string[] = [],
    options?: OperatorToolErrorOptions,
    readonly errorLines: string[] = [],
  ) {
    super("ENGINE_BUILD_FAILED", message, options);
  }
}

/** An INT8 build's calibration cache is missing or unreadable: exit 60. */
export class CalibrationCacheError extends OperatorToolError {
  constructor(
    readonly modelName: string,
    readonly calibrationPath: string,
    message: string,
    options?: OperatorToolErrorOptions,
  ) {
    super("CALIBRATION_CACHE_INVALID", message, options);
  }
}
