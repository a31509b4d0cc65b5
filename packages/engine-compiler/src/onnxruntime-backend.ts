import type { Backbone } from "./corpus.js";
import { EngineBuildError } from "./errors.js";

/** The onnxruntime "engine": the model with every graph optimisation applied, saved for this host. */
export async function buildWithOnnxruntime(backbone: Backbone, outputPath: string): Promise<void> {
  const ort = await import("onnxruntime-node");
  try {
    const session = await ort.InferenceSession.create(backbone.onnxPath, {
      graphOptimizationLevel: "all",
      optimizedModelFilePath: outputPath,
      logSeverityLevel: 3,
    });
    await session.release();
  } catch (error) {
    throw new EngineBuildError(
      backbone.modelName,
      `model ${backbone.modelName}: onnxruntime could not optimise ${backbone.onnxPath}: ${(error as Error).message.split("\n")[0]}`,
    );
  }
}

export const ONNXRUNTIME_BUILDER_FLAGS = ["graphOptimizationLevel=all"];

/** The onnxruntime-node version this host would build with (part of its engine key). */
export async function onnxruntimeVersion(): Promise<string> {
  const ort = await import("onnxruntime-node");
  return ort.env.versions.node ?? ort.env.versions.common ?? "0";
}
