import { z } from "zod";

/**
 * The invoker's own reading of `compile-engines --json`'s last line. Declared
 * here, not imported from the compiler: the two meet only on the wire, and a
 * contract test proves they agree. Extra fields are allowed (newer companions).
 */
export const remoteEngineReportSchema = z.object({
  schema: z.literal("operator-tool/engine-report@1"),
  outcome: z.enum(["success", "failure"]),
  dryRun: z.boolean().optional(),
  host: z.object({
    backend: z.enum(["tensorrt", "onnxruntime"]),
    sm: z.number().int().nullable(),
    jetpack: z.string().nullable(),
    tensorrt: z.string().nullable(),
  }),
  results: z.array(
    z.object({
      modelName: z.string().regex(/^[a-z0-9_]+$/),
      outcome: z.enum(["reused", "built", "failed", "would-reuse", "would-build"]),
      enginePath: z.string(),
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/)
        .nullable(),
      compileDurationS: z.number().nonnegative().nullable(),
      reasons: z.array(z.string()),
    }),
  ),
  summary: z.object({ built: z.number().int(), reused: z.number().int(), failed: z.number().int() }),
  error: z.object({ modelName: z.string().nullable(), class: z.string(), message: z.string() }).optional(),
});

export type RemoteEngineReport = z.infer<typeof remoteEngineReportSchema>;
