import type { Backbone } from "./corpus.js";
import { ModelInvalidError } from "./errors.js";
import type { InputProfile } from "./trtexec-flags.js";

/** One model input's dims as the ONNX declares them: a number is fixed, null is dynamic. */
export type ModelDims = Array<number | null>;

/**
 * Loads the model in onnxruntime, checks that the corpus input exists, and
 * returns every input's dims. A bad model fails here, in a second, not minutes
 * into a TensorRT build.
 */
export async function inspectModel(backbone: Backbone): Promise<Record<string, ModelDims>> {
  const ort = await import("onnxruntime-node");
  let session: import("onnxruntime-node").InferenceSession;
  try {
    session = await ort.InferenceSession.create(backbone.onnxPath, { logSeverityLevel: 3 });
  } catch (error) {
    throw new ModelInvalidError(
      backbone.modelName,
      `model ${backbone.modelName}: ${backbone.onnxPath} is not a loadable ONNX model (${firstLine((error as Error).message)})`,
      { hint: "re-export the model, or fix onnxPath in the corpus" },
    );
  }
  try {
    if (!session.inputNames.includes(backbone.inputName)) {
      throw new ModelInvalidError(
        backbone.modelName,
        `model ${backbone.modelName}: input "${backbone.inputName}" is not in ${backbone.onnxPath} (inputs: ${session.inputNames.join(", ")})`,
        { hint: "fix inputName in the corpus" },
      );
    }
    const inputs: Record<string, ModelDims> = {};
    session.inputNames.forEach((name, i) => {
      const meta = session.inputMetadata[i];
      const shape =
        meta !== undefined && "shape" in meta ? (meta.shape as ReadonlyArray<number | string>) : [];
      // A symbolic (string) or unknown (<= 0) dim is dynamic, as TensorRT reads it (-1).
      inputs[name] = shape.map((d) => (typeof d === "number" && d > 0 ? d : null));
    });
    return inputs;
  } finally {
    await session.release();
  }
}

/** Loads the model and checks the corpus entry against it (input name and shape). */
export async function checkModel(backbone: Backbone): Promise<InputProfile> {
  const inputs = await inspectModel(backbone);
  return inputProfile(backbone, inputs[backbone.inputName]!);
}

/**
 * What trtexec is told about the corpus input. A static input gets nothing
 * (trtexec refuses shapes for a network without dynamic inputs), and a corpus
 * shape for it must be the model's own. A dynamic input needs min/opt/max (or
 * one shape for all three) that fit the model's fixed dims.
 */
export function inputProfile(backbone: Backbone, model: ModelDims): InputProfile {
  const name = backbone.modelName;
  const shown = (dims: ReadonlyArray<number | null>) => `[${dims.map((d) => d ?? "?").join(", ")}]`;
  const given = backbone.inputShape;
  const ranges =
    given === undefined ? undefined : Array.isArray(given) ? { min: given, opt: given, max: given } : given;
  const isStatic = model.every((d) => d !== null);
  if (isStatic) {
    if (ranges !== undefined) {
      for (const [label, dims] of labelled(given!, ranges)) {
        if (dims.length !== model.length || dims.some((d, i) => d !== model[i])) {
          throw new ModelInvalidError(
            name,
            `model ${name}: inputShape${label} ${shown(dims)} is not the static shape ${shown(model)} of input "${backbone.inputName}" in ${backbone.onnxPath}`,
            {
              hint: `set inputShape to ${shown(model)} or remove it: a static input takes the model's own shape`,
            },
          );
        }
      }
    }
    return { kind: "static" };
  }
  if (ranges === undefined) {
    throw new ModelInvalidError(
      name,
      `model ${name}: input "${backbone.inputName}" is dynamic ${shown(model)} and the corpus gives no inputShape`,
      { hint: "set inputShape to the shape to build for, or to {min, opt, max}" },
    );
  }
  for (const [label, dims] of labelled(given!, ranges)) {
    const problem = shapeMismatch(model, dims);
    if (problem !== undefined) {
      throw new ModelInvalidError(
        name,
        `model ${name}: inputShape${label} ${shown(dims)} does not fit input "${backbone.inputName}" ${shown(model)}: ${problem}`,
        { hint: "fix inputShape in the corpus" },
      );
    }
  }
  return { kind: "dynamic", min: ranges.min, opt: ranges.opt, max: ranges.max };
}

function labelled(
  given: NonNullable<Backbone["inputShape"]>,
  ranges: { min: number[]; opt: number[]; max: number[] },
): Array<[string, number[]]> {
  return Array.isArray(given)
    ? [["", given]]
    : [
        [".min", ranges.min],
        [".opt", ranges.opt],
        [".max", ranges.max],
      ];
}

function shapeMismatch(model: ModelDims, given: number[]): string | undefined {
  if (model.length !== given.length) return `rank ${given.length}, the model has rank ${model.length}`;
  for (let i = 0; i < model.length; i++) {
    const dim = model[i];
    if (dim !== null && dim !== given[i]) return `dimension ${i} is fixed at ${dim}`;
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.slice(0, 300);
}
