import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { describeIssues } from "@operator-tool/errors";
import { z } from "zod";
import { CorpusInvalidError } from "./errors.js";

export const MODEL_NAME_PATTERN = /^[a-z0-9_]+$/;

const dims = z.array(z.number().int().positive("every dimension must be a positive integer")).min(1);
const shapeRange = z
  .strictObject({ min: dims, opt: dims, max: dims })
  .refine(
    (s) => s.min.length === s.opt.length && s.opt.length === s.max.length,
    "min, opt and max need the same rank",
  )
  .refine(
    (s) => s.min.every((d, i) => d <= s.opt[i]! && s.opt[i]! <= s.max[i]!),
    "each dimension needs min <= opt <= max",
  );

const backbone = z.strictObject({
  modelName: z.string().regex(MODEL_NAME_PATTERN, "model names are [a-z0-9_]+ (a name, never a path)"),
  onnxPath: z.string().min(1),
  inputName: z.string().min(1),
  /** Optional for a static input (its dims are the model's); required for a dynamic one. */
  inputShape: z.union([dims, shapeRange]).optional(),
  /** "model": build with the model's own types (--stronglyTyped; the only kind on TensorRT 11+). */
  precision: z.enum(["fp32", "fp16", "int8", "best", "model"]).default("fp16"),
  /** INT8 only: the calibration cache trtexec reads with --calib. */
  calibrationPath: z.string().min(1).optional(),
});

export const corpusSchema = z
  .strictObject({
    cacheRoot: z.string().min(1).optional(),
    workspaceMb: z.number().int().positive().default(4096),
    backbones: z.array(backbone),
  })
  .superRefine((corpus, ctx) => {
    const seen = new Set<string>();
    corpus.backbones.forEach((b, i) => {
      if (seen.has(b.modelName)) {
        ctx.addIssue({
          code: "custom",
          path: ["backbones", i, "modelName"],
          message: `duplicate model name "${b.modelName}"`,
        });
      }
      seen.add(b.modelName);
      if (b.precision === "int8" && b.calibrationPath === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["backbones", i, "calibrationPath"],
          message: "int8 needs a calibration cache",
        });
      }
    });
  });

export type ShapeRange = { min: number[]; opt: number[]; max: number[] };

export type Precision = "fp32" | "fp16" | "int8" | "best" | "model";

export interface Backbone {
  modelName: string;
  onnxPath: string;
  inputName: string;
  inputShape: number[] | ShapeRange | undefined;
  precision: Precision;
  calibrationPath: string | undefined;
}

export interface Corpus {
  path: string | undefined;
  cacheRoot: string | undefined;
  workspaceMb: number;
  backbones: Backbone[];
}

/** Reads and validates a corpus file; relative paths resolve against its directory. */
export async function loadCorpus(path: string): Promise<Corpus> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CorpusInvalidError(
      `corpus file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      {
        hint: "check --corpus",
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CorpusInvalidError(`corpus file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseCorpus(json, path);
}

export function parseCorpus(value: unknown, path?: string): Corpus {
  const where = path === undefined ? "the corpus" : `corpus file ${path}`;
  const parsed = corpusSchema.safeParse(value);
  if (!parsed.success) {
    throw new CorpusInvalidError(`${where} is invalid: ${describeIssues(parsed.error.issues)}`, {
      hint: "fix the field named above (docs/configuration.md, 'Corpus')",
    });
  }
  const base = path === undefined ? process.cwd() : dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  return {
    path,
    cacheRoot: parsed.data.cacheRoot === undefined ? undefined : abs(parsed.data.cacheRoot),
    workspaceMb: parsed.data.workspaceMb,
    backbones: parsed.data.backbones.map((b) => ({
      ...b,
      inputShape: b.inputShape,
      onnxPath: abs(b.onnxPath),
      calibrationPath: b.calibrationPath === undefined ? undefined : abs(b.calibrationPath),
    })),
  };
}

/** Missing model files are named per field before any work starts. */
export function missingModelFiles(corpus: Corpus): Array<{ field: string; path: string; modelName: string }> {
  const missing: Array<{ field: string; path: string; modelName: string }> = [];
  corpus.backbones.forEach((b, i) => {
    if (!existsSync(b.onnxPath) || !statSync(b.onnxPath).isFile()) {
      missing.push({ field: `backbones[${i}].onnxPath`, path: b.onnxPath, modelName: b.modelName });
    }
  });
  return missing;
}
