/**
 * `{model}__{hostKey}_{precision}.{ext}`: everything an engine is tied to is in
 * its name, so a GPU, JetPack or TensorRT change lands on a new file and leaves
 * the old ones alone.
 *
 *   TensorRT on Jetson:    dinov2_vpr__sm87_jp6.2_trt10.3_fp16.engine
 *   TensorRT on a desktop: dinov2_vpr__sm89_dgpu_trt10.3_fp16.engine
 *   onnxruntime (no TRT):  dinov2_vpr__cpu-x64_ort1.30_fp32.onnx
 */
export type HostKey =
  | { backend: "tensorrt"; sm: number; jetpack: string | undefined; tensorrt: string }
  | { backend: "onnxruntime"; arch: string; ort: string };

export interface EngineName {
  modelName: string;
  host: HostKey;
  precision: string;
}

const VERSION = /^\d+(\.\d+)*$/;

export function hostKeyString(host: HostKey): string {
  if (host.backend === "tensorrt") {
    return `sm${host.sm}_${host.jetpack === undefined ? "dgpu" : `jp${host.jetpack}`}_trt${host.tensorrt}`;
  }
  return `cpu-${host.arch}_ort${host.ort}`;
}

export function engineExtension(host: HostKey): "engine" | "onnx" {
  return host.backend === "tensorrt" ? "engine" : "onnx";
}

export function buildEngineFilename(name: EngineName): string {
  if (!/^[a-z0-9_]+$/.test(name.modelName) || name.modelName.includes("__")) {
    throw new RangeError(`model name "${name.modelName}" must be [a-z0-9_]+ without "__"`);
  }
  if (!/^[a-z0-9]+$/.test(name.precision))
    throw new RangeError(`precision "${name.precision}" must be [a-z0-9]+`);
  const host = name.host;
  if (host.backend === "tensorrt") {
    if (!Number.isInteger(host.sm) || host.sm <= 0)
      throw new RangeError(`sm ${host.sm} must be a positive integer`);
    if (!VERSION.test(host.tensorrt) || (host.jetpack !== undefined && !VERSION.test(host.jetpack))) {
      throw new RangeError("versions must be dotted numbers");
    }
  } else if (!/^[a-z0-9]+$/.test(host.arch) || !VERSION.test(host.ort)) {
    throw new RangeError("arch must be [a-z0-9]+ and ort a dotted number");
  }
  return `${name.modelName}__${hostKeyString(host)}_${name.precision}.${engineExtension(host)}`;
}

const TRT_NAME = /^([a-z0-9_]+?)__sm(\d+)_(?:jp(\d+(?:\.\d+)*)|dgpu)_trt(\d+(?:\.\d+)*)_([a-z0-9]+)\.engine$/;
const ORT_NAME = /^([a-z0-9_]+?)__cpu-([a-z0-9]+)_ort(\d+(?:\.\d+)*)_([a-z0-9]+)\.onnx$/;

/** The inverse of `buildEngineFilename`; undefined for any other file. */
export function parseEngineFilename(filename: string): EngineName | undefined {
  const trt = TRT_NAME.exec(filename);
  if (trt !== null) {
    return {
      modelName: trt[1]!,
      host: { backend: "tensorrt", sm: Number(trt[2]), jetpack: trt[3], tensorrt: trt[4]! },
      precision: trt[5]!,
    };
  }
  const ort = ORT_NAME.exec(filename);
  if (ort !== null) {
    return {
      modelName: ort[1]!,
      host: { backend: "onnxruntime", arch: ort[2]!, ort: ort[3]! },
      precision: ort[4]!,
    };
  }
  return undefined;
}
