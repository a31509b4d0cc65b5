import type { Backbone } from "./corpus.js";
import { ModelInvalidError } from "./errors.js";

/**
 * Loads the model in onnxruntime and checks the corpus entry against it: the
 * input exists and every corpus shape fits its dims. A bad model fails here,
 * in a second, not minutes into a TensorRT build.
 */
export async function checkModel(backbone: Backbone): Promise<void> {
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
    const index = session.inputNames.indexOf(backbone.inputName);
    if (index === -1) {
      throw new ModelInvalidError(
        backbone.modelName,
        `model ${backbone.modelName}: input "${backbone.inputName}" is not in ${backbone.onnxPath} (inputs: ${session.inputNames.join(", ")})`,
        { hint: "fix inputName in the corpus" },
      );
    }
    const meta = session.inputMetadata[index];
    const modelDims =
      meta !== undefined && "shape" in meta ? (meta.shape as ReadonlyArray<number | string>) : undefined;
    if (modelDims !== undefined) {
      const shapes = Array.isArray(backbone.inputShape)
        ? { shape: backbone.inputShape }
        : { min: backbone.inputShape.min, opt: backbone.inputShape.opt, max: backbone.inputShape.max };
      for (const [label, dims] of Object.entries(shapes)) {
        const problem = shapeMismatch(modelDims, dims);
        if (problem !== undefined) {
          throw new ModelInvalidError(
            backbone.modelName,
            `model ${backbone.modelName}: inputShape${label === "shape" ? "" : `.${label}`} [${dims.join(", ")}] does not fit input "${backbone.inputName}" [${modelDims.join(", ")}]: ${problem}`,
            { hint: "fix inputShape in the corpus" },
          );
        }
      }
    }
  } finally {
    await session.release();
  }
}

function shapeMismatch(model: ReadonlyArray<number | string>, given: number[]): string | undefined {
  if (model.length !== given.length) return `rank ${given.length}, the model has rank ${model.length}`;
  for (let i = 0; i < model.length; i++) {
    const dim = model[i];
    if (typeof dim === "number" && dim > 0 && dim !== given[i]) return `dimension ${i} is fixed at ${dim}`;
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.slice(0, 300);
}
