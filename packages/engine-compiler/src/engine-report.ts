import type { BuildReason } from "./cache-decision.js";

export const ENGINE_REPORT_SCHEMA = "operator-tool/engine-report@1";

export type ModelOutcome = "reused" | "built" | "failed" | "would-reuse" | "would-build";

export interface ModelResult {
  modelName: string;
  outcome: ModelOutcome;
  enginePath: string;
  sha256: string | null;
  compileDurationS: number | null;
  reasons: BuildReason[];
  bytes: number | null;
  /**
   * sha256 of what the engine is built from (ONNX digest, precision, input,
   * workspace, builder flags, calibration): with the host's identity, the
   * key under which another companion's engine is the same engine.
   */
  inputsSha256?: string;
}

/** The last stdout line of `compile-engines --json`: a public contract (DESIGN.md). */
export interface EngineReport {
  schema: typeof ENGINE_REPORT_SCHEMA;
  outcome: "success" | "failure";
  dryRun: boolean;
  host: {
    backend: "tensorrt" | "onnxruntime";
    sm: number | null;
    jetpack: string | null;
    tensorrt: string | null;
    arch: string;
    ort: string | null;
    /** Jetson Linux release, from /etc/nv_tegra_release. */
    l4t?: string | null;
    /** The full TensorRT version (10.3.0.30); `tensorrt` is its major.minor. */
    tensorrtFull?: string | null;
    cuda?: string | null;
    /** The device tree's model and compatible strings: they name the module SKU. */
    device?: { model: string | null; compatible: string[] } | null;
  };
  results: ModelResult[];
  summary: { built: number; reused: number; failed: number };
  error?: {
    modelName: string | null;
    class: string;
    code: string;
    message: string;
    /** The builder's last lines. */
    tail?: string[];
    /** Every error line the builder printed (trtexec's [E] lines), wherever they were. */
    errorLines?: string[];
  };
}
