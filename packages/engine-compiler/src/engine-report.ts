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
  };
  results: ModelResult[];
  summary: { built: number; reused: number; failed: number };
  error?: { modelName: string | null; class: string; code: string; message: string; tail?: string[] };
}
