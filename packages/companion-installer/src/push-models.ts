import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import type { CompanionConnection } from "@operator-tool/companion-bringup";
import { ModelSyncError } from "./errors.js";
import {
  describeLocalFile,
  type LocalFile,
  type LocalFileDigests,
  listRemoteFiles,
  type PushProgress,
  type PushResult,
  pushFiles,
} from "./remote-files.js";

export interface PushModelsOptions {
  connection: CompanionConnection;
  /** A corpus file on the workstation; relative model paths resolve against its directory. */
  corpusPath: string;
  /** `<companion-cache-root>`: the models land in `<it>/models/`. */
  companionCacheRoot: string;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: PushProgress) => void | Promise<void>) | undefined;
  /**
   * The sha256 and size of the models and calibration caches (e.g. a
   * `FileDigestCache`), so that a re-run does not read unchanged models
   * whole; without it each is hashed. A file that changed since it was
   * described is still refused while it is sent.
   */
  digests?: LocalFileDigests | undefined;
  /**
   * What the companion's models directory already holds (relative path →
   * sha256), e.g. from a session already open to the companion; by default
   * one listing over `connection`.
   */
  listPresent?: ((remoteDir: string) => Promise<Map<string, string>>) | undefined;
}

export interface PushModelsResult {
  /** The corpus on the companion, its paths rewritten to the pushed files: give it to `compile-engines --corpus`. */
  remoteCorpusPath: string;
  /** Model name → the ONNX file on the companion. */
  models: Record<string, string>;
  transfer: PushResult;
}

interface RawBackbone {
  modelName?: unknown;
  onnxPath?: unknown;
  calibrationPath?: unknown;
  [key: string]: unknown;
}

/**
 * Pushes a workstation corpus and every ONNX model and INT8 calibration cache
 * it names to `<cacheRoot>/models/<model>/`, verified and incremental like
 * the tile sync (an unchanged model does not cross again), then a corpus with
 * the companion's paths beside them, written last so it only names files
 * that are there.
 */
export async function pushModels(options: PushModelsOptions): Promise<PushModelsResult> {
  const corpusPath = resolve(options.corpusPath);
  let corpus: { backbones?: RawBackbone[]; [key: string]: unknown };
  try {
    corpus = JSON.parse(readFileSync(corpusPath, "utf8")) as typeof corpus;
  } catch (error) {
    throw new ModelSyncError(
      `corpus file ${corpusPath} cannot be read as JSON: ${(error as Error).message}`,
      {
        hint: "pass --corpus with the corpus file on this workstation",
      },
    );
  }
  if (!Array.isArray(corpus.backbones))
    throw new ModelSyncError(`corpus file ${corpusPath} has no "backbones" list`, {
      hint: "see docs/operator-guide.md for the corpus format",
    });
  const base = dirname(corpusPath);
  const remoteRoot = `${options.companionCacheRoot.replace(/\/+$/, "")}/models`;
  const files: LocalFile[] = [];
  const models: Record<string, string> = {};
  const rewritten: RawBackbone[] = [];
  for (const [i, backbone] of corpus.backbones.entries()) {
    const name = backbone.modelName;
    if (typeof name !== "string" || !/^[a-z0-9_]+$/.test(name))
      throw new ModelSyncError(
        `backbones[${i}].modelName in ${corpusPath} is not a model name ([a-z0-9_]+)`,
        {
          hint: "fix the corpus file",
        },
      );
    const copy: RawBackbone = { ...backbone };
    for (const field of ["onnxPath", "calibrationPath"] as const) {
      const value = backbone[field];
      if (value === undefined) continue;
      if (typeof value !== "string" || value === "")
        throw new ModelSyncError(`backbones[${i}].${field} in ${corpusPath} is not a path`, {
          hint: "fix the corpus file",
        });
      const local = isAbsolute(value) ? value : resolve(base, value);
      const remoteName = `${name}/${safeName(basename(local), field)}`;
      let file: LocalFile;
      try {
        file = await describeLocalFile(local, remoteName, 0o644, options.digests);
      } catch (error) {
        throw new ModelSyncError(
          `backbones[${i}].${field} ${local} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
          { hint: "fix the path in the corpus file, or put the model there" },
        );
      }
      files.push(file);
      copy[field] = `${remoteRoot}/${remoteName}`;
      if (field === "onnxPath") models[name] = copy[field] as string;
    }
    rewritten.push(copy);
  }
  const remoteCorpusName = safeName(basename(corpusPath), "corpus");
  const temp = mkdtempSync(join(tmpdir(), "operator-tool-corpus-"));
  try {
    const corpusFile = join(temp, remoteCorpusName);
    // An absolute cacheRoot names a directory on the companion; a relative or
    // missing one could only mean one beside the workstation's file, which the
    // companion lacks: its engines go under the companion cache root.
    const cacheRoot =
      typeof corpus.cacheRoot === "string" && corpus.cacheRoot.startsWith("/")
        ? corpus.cacheRoot
        : `${options.companionCacheRoot.replace(/\/+$/, "")}/engines`;
    writeFileSync(corpusFile, `${JSON.stringify({ ...corpus, cacheRoot, backbones: rewritten }, null, 2)}\n`);
    const fail = (message: string, cause?: unknown) =>
      new ModelSyncError(message, {
        hint: "re-run: models that arrived whole are kept and not sent again",
        cause,
      });
    let present: Map<string, string>;
    try {
      present = await (options.listPresent?.(remoteRoot) ?? listRemoteFiles(options.connection, remoteRoot));
    } catch (error) {
      throw fail((error as Error).message, error);
    }
    const transfer = await pushFiles({
      connection: options.connection,
      remoteDir: remoteRoot,
      files,
      present,
      signal: options.signal,
      onProgress: options.onProgress,
      fail,
    });
    // The corpus last: it only ever names models that are in place.
    const corpusTransfer = await pushFiles({
      connection: options.connection,
      remoteDir: remoteRoot,
      files: [await describeLocalFile(corpusFile, remoteCorpusName, 0o644)],
      present,
      signal: options.signal,
      onProgress: options.onProgress,
      fail,
    });
    return {
      remoteCorpusPath: `${remoteRoot}/${remoteCorpusName}`,
      models,
      transfer: {
        planned: transfer.planned + corpusTransfer.planned,
        sent: transfer.sent + corpusTransfer.sent,
        linked: 0,
        skipped: transfer.skipped + corpusTransfer.skipped,
        bytesSent: transfer.bytesSent + corpusTransfer.bytesSent,
      },
    };
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/** A file name the sync accepts: other characters become `_`. */
function safeName(name: string, fallback: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+/, "");
  return cleaned === "" || cleaned.includes(".partial.") ? fallback : cleaned;
}
