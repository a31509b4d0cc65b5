import { createHash } from "node:crypto";
import { open, readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { sha256OfFile, writeFileAtomic, writeJsonAtomic } from "@operator-tool/atomic-file";

export { sha256OfFile };

export const BUILD_RECORD_SCHEMA = "operator-tool/engine-build@1";

/** What an engine was built from: any change here means the engine must be rebuilt. */
export interface BuildInputs {
  backend: "tensorrt" | "onnxruntime";
  modelName: string;
  onnxSha256: string;
  precision: string;
  inputName: string;
  /** The corpus's shape, as given (absent for a static input whose shape is the model's). */
  inputShape: unknown;
  workspaceMb: number;
  /** The builder's flags, minus paths that differ per run. */
  builderFlags: string[];
  calibrationSha256: string | undefined;
}

/** A digest of the inputs, field by field in a fixed order: equal inputs, equal digest, on any host. */
export function buildInputsDigest(inputs: BuildInputs): string {
  const canonical = JSON.stringify([
    inputs.backend,
    inputs.modelName,
    inputs.onnxSha256,
    inputs.precision,
    inputs.inputName,
    inputs.inputShape ?? null,
    inputs.workspaceMb,
    inputs.builderFlags,
    inputs.calibrationSha256 ?? null,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

export interface BuildRecord extends BuildInputs {
  schema: typeof BUILD_RECORD_SCHEMA;
  engineFile: string;
  engineSha256: string;
  engineBytes: number;
  /** The full TensorRT version (10.3.0.30) the engine was built by. */
  tensorrtVersion: string | undefined;
  cudaVersion: string | undefined;
  l4t?: string | undefined;
  jetpack: string | undefined;
  sm: number | undefined;
  /** The device-tree model and compatible strings: they name the module SKU the engine was built on. */
  deviceModel?: string | undefined;
  compatible?: string[] | undefined;
  /** Every model input's dims (null = dynamic), read with onnxruntime: reused while the ONNX file is unchanged. */
  modelInputs?: Record<string, Array<number | null>>;
  ortVersion: string | undefined;
  builtAt: string;
  compileDurationS: number;
  /** The ONNX file's identity when it was hashed: lets a later run skip re-hashing an unchanged file. */
  onnxFileStat?: FileIdentity;
}

/**
 * Size, inode and change times. Any rewrite or replacement of the file changes
 * ctime (which no user tool can set back), so a match means the same bytes.
 */
export interface FileIdentity {
  size: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
}

export async function fileIdentity(path: string): Promise<FileIdentity> {
  const info = await stat(path);
  return { size: info.size, ino: info.ino, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
}

export function sameIdentity(a: FileIdentity | undefined, b: FileIdentity): boolean {
  return (
    a !== undefined &&
    a.size === b.size &&
    a.ino === b.ino &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

export const sidecarPath = (enginePath: string) => `${enginePath}.sha256`;
export const buildRecordPath = (enginePath: string) => `${enginePath}.build.json`;

/** `<hex>  <filename>`, the format `sha256sum -c` checks. */
export async function writeSidecar(enginePath: string, digest: string): Promise<void> {
  await writeFileAtomic(sidecarPath(enginePath), `${digest}  ${basename(enginePath)}\n`);
}

export async function readSidecar(enginePath: string): Promise<string | undefined> {
  try {
    const text = await readFile(sidecarPath(enginePath), "utf8");
    const match = /^([0-9a-f]{64})\b/.exec(text.trim());
    return match?.[1];
  } catch {
    return undefined;
  }
}

export async function writeBuildRecord(enginePath: string, record: BuildRecord): Promise<void> {
  await writeJsonAtomic(buildRecordPath(enginePath), record);
}

export async function readBuildRecord(enginePath: string): Promise<BuildRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(buildRecordPath(enginePath), "utf8")) as BuildRecord;
    return record.schema === BUILD_RECORD_SCHEMA ? record : undefined;
  } catch {
    return undefined;
  }
}

export async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A serialized TensorRT plan starts with the magic "ftrt" (or "ptrt"), and
 * the byte after the next four is the serialization version tag TensorRT
 * checks on load. Returns undefined when the file is not a plan.
 */
export async function readEngineHeader(
  path: string,
): Promise<{ magic: string; serializationTag: number } | undefined> {
  const handle = await open(path, "r").catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const buffer = Buffer.alloc(12);
    const { bytesRead } = await handle.read(buffer, 0, 12, 0);
    if (bytesRead < 12) return undefined;
    const magic = buffer.subarray(0, 4).toString("latin1");
    if (magic !== "ftrt" && magic !== "ptrt") return undefined;
    return { magic, serializationTag: buffer.readUInt32LE(8) };
  } finally {
    await handle.close();
  }
}
