import { z } from "zod";

/**
 * The invoker's own reading of `compile-engines --json`'s last line. Declared
 * here, not imported from the compiler: the two meet only on the wire, and a
 * contract test proves they agree. Extra fields are allowed (newer companions).
 */
export const remoteEngineReportSchema = z
  .object({
    schema: z.literal("operator-tool/engine-report@1"),
    outcome: z.enum(["success", "failure"]),
    dryRun: z.boolean().optional(),
    host: z.object({
      backend: z.enum(["tensorrt", "onnxruntime"]),
      sm: z.number().int().nullable(),
      jetpack: z.string().nullable(),
      tensorrt: z.string().nullable(),
      arch: z.string().optional().describe("the companion's CPU architecture (process.arch)"),
      ort: z.string().nullable().optional().describe("onnxruntime's version, when it is the backend"),
      l4t: z.string().nullable().optional(),
      tensorrtFull: z.string().nullable().optional(),
      cuda: z.string().nullable().optional(),
      /** The companion's device-tree model and compatible strings (its module SKU). */
      device: z
        .object({ model: z.string().nullable(), compatible: z.array(z.string()) })
        .nullable()
        .optional(),
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
        bytes: z.number().int().nonnegative().nullable().optional(),
        /** What the engine is built from, as one digest (newer companions). */
        inputsSha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .optional(),
      }),
    ),
    summary: z.object({ built: z.number().int(), reused: z.number().int(), failed: z.number().int() }),
    error: z
      .object({
        modelName: z.string().nullable(),
        class: z.string(),
        code: z.string().optional().describe("the error's stable code (docs/exit-codes.md)"),
        message: z.string(),
        tail: z.array(z.string()).optional(),
        errorLines: z.array(z.string()).optional(),
      })
      .optional(),
  })
  .meta({
    title: "operator-tool/engine-report@1",
    description: "compile-engines --json: the companion's engine report (extra fields are allowed)",
  });

export type RemoteEngineReport = z.infer<typeof remoteEngineReportSchema>;
