import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { commitTempFile, isTempFile, removeStaleTempFiles, tempPathFor } from "@operator-tool/atomic-file";
import { isOperatorToolError } from "@operator-tool/errors";
import { type CacheDecision, decide } from "./cache-decision.js";
import type { Backbone, Corpus } from "./corpus.js";
import { missingModelFiles } from "./corpus.js";
import {
  BUILD_RECORD_SCHEMA,
  type BuildInputs,
  type BuildRecord,
  buildInputsDigest,
  buildRecordPath,
  type FileIdentity,
  fileIdentity,
  fileSize,
  readBuildRecord,
  sameIdentity,
  sha256OfFile,
  sidecarPath,
  writeBuildRecord,
  writeSidecar,
} from "./engine-cache.js";
import { buildEngineFilename, type HostKey, hostKeyString, parseEngineFilename } from "./engine-filename.js";
import { ENGINE_REPORT_SCHEMA, type EngineReport, type ModelResult } from "./engine-report.js";
import { EngineBuildError, ModelInvalidError } from "./errors.js";
import type { HostInfo } from "./host-probe.js";
import { inputProfile, inspectModel, type ModelDims } from "./model-check.js";
import { buildWithOnnxruntime, ONNXRUNTIME_BUILDER_FLAGS } from "./onnxruntime-backend.js";
import { buildWithTrtexec } from "./trtexec-backend.js";
import { trtexecBuilderFlags } from "./trtexec-flags.js";
import type { BuildPhase } from "./trtexec-output.js";

export interface CompilerLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface CompileEnginesOptions {
  corpus: Corpus;
  cacheRoot: string;
  host: HostInfo;
  /** true for every model, or the names to rebuild. */
  force?: boolean | string[];
  dryRun?: boolean;
  /** Remove engines of the corpus's models built for other hosts. */
  prune?: boolean;
  signal?: AbortSignal;
  logger?: CompilerLogger;
  /** Each line the builder prints (trtexec's output). */
  onBuilderLine?: (modelName: string, line: string) => void;
  /** How often a running build logs its elapsed time (default 5 s). */
  progressIntervalMs?: number;
}

/**
 * The log records of a build, a stable shape the workstation can render live
 * (docs/operator-guide.md, "Build progress"): one `engine-build` record per phase
 * and `engine-build-progress` every `progressIntervalMs` while it runs.
 */
export type EngineBuildLogPhase = "started" | BuildPhase | "done" | "failed";
export interface EngineBuildLogRecord {
  event: "engine-build" | "engine-build-progress";
  model: string;
  phase: EngineBuildLogPhase;
  /** Seconds since this model's build started. */
  elapsedS: number;
  /** The trtexec line that announced the phase. */
  line?: string;
  reasons?: string[];
  builder?: "trtexec" | "onnxruntime";
}

export interface CompileEnginesResult {
  report: EngineReport;
  /** The error that stopped the corpus, if any (also summarised in the report). */
  error: Error | undefined;
  pruned: string[];
}

/**
 * For each backbone in order: reuse its engine if it verifies, else build it.
 * Stops at the first failure: engines before it stay intact, the failed one
 * is absent (built into a temp file, renamed only on success), later ones are
 * not attempted. Sidecar and build record are written last, so an interrupted
 * build is always recognised as one.
 */
export async function compileEngines(options: CompileEnginesOptions): Promise<CompileEnginesResult> {
  const { corpus, cacheRoot, host, logger } = options;
  const hostKey = toHostKey(host);
  const results: ModelResult[] = [];
  const report = (error?: Error): EngineReport => ({
    schema: ENGINE_REPORT_SCHEMA,
    outcome: error === undefined ? "success" : "failure",
    dryRun: options.dryRun === true,
    host: {
      backend: host.backend,
      sm: host.sm ?? null,
      jetpack: host.jetpack ?? null,
      tensorrt: host.tensorrt ?? null,
      arch: host.arch,
      ort: host.backend === "onnxruntime" ? host.ortVersion : null,
      l4t: host.l4t ?? null,
      tensorrtFull: host.tensorrtFull ?? null,
      cuda: host.cuda ?? null,
      device:
        host.deviceModel === undefined && host.compatible === undefined
          ? null
          : { model: host.deviceModel ?? null, compatible: host.compatible ?? [] },
    },
    results,
    summary: {
      built: results.filter((r) => r.outcome === "built").length,
      reused: results.filter((r) => r.outcome === "reused").length,
      failed: results.filter((r) => r.outcome === "failed").length,
    },
    ...(error === undefined ? {} : { error: describeError(error) }),
  });

  const missing = missingModelFiles(corpus);
  if (missing.length > 0) {
    const first = missing[0]!;
    const error = new ModelInvalidError(
      first.modelName,
      `model ${first.modelName}: ${first.field} ${first.path} does not exist${missing.length > 1 ? ` (and ${missing.length - 1} more missing)` : ""}`,
      {
        hint: "copy the model to the companion, or fix the path in the corpus",
      },
    );
    return { report: report(error), error, pruned: [] };
  }

  const { mkdir } = await import("node:fs/promises");
  if (!options.dryRun) await mkdir(cacheRoot, { recursive: true });
  const interrupted = options.dryRun ? new Set<string>() : await sweepInterruptedBuilds(cacheRoot);

  let failure: Error | undefined;
  for (const backbone of corpus.backbones) {
    options.signal?.throwIfAborted();
    const enginePath = join(
      cacheRoot,
      buildEngineFilename({ modelName: backbone.modelName, host: hostKey, precision: backbone.precision }),
    );
    const result: ModelResult = {
      modelName: backbone.modelName,
      outcome: "failed",
      enginePath,
      sha256: null,
      compileDurationS: null,
      reasons: [],
      bytes: null,
    };
    results.push(result);
    try {
      const record = await readBuildRecord(enginePath);
      const { inputs, onnxFileStat, modelInputs } = await buildInputs(
        backbone,
        corpus.workspaceMb,
        host,
        record,
      );
      result.inputsSha256 = buildInputsDigest(inputs);
      const forced =
        options.force === true ||
        (Array.isArray(options.force) && options.force.includes(backbone.modelName));
      const decision: CacheDecision = await decide({
        enginePath,
        inputs,
        hostTensorrtFull: host.tensorrtFull,
        forced,
        record,
      });
      if (
        decision.action === "build" &&
        interrupted.has(enginePath) &&
        !decision.reasons.includes("previous-build-incomplete")
      ) {
        decision.reasons.push("previous-build-incomplete");
      }
      if (decision.action === "reuse") {
        Object.assign(result, {
          outcome: options.dryRun ? "would-reuse" : "reused",
          sha256: decision.engineSha256,
          bytes: await fileSize(enginePath),
        });
        logger?.info(
          { model: backbone.modelName, enginePath },
          `${backbone.modelName}: engine verified, reusing it`,
        );
        continue;
      }
      result.reasons = decision.reasons;
      if (options.dryRun) {
        result.outcome = "would-build";
        continue;
      }
      const started = performance.now();
      const { sha256, bytes } = await buildOne(
        backbone,
        enginePath,
        inputs,
        hostKey,
        options,
        decision.reasons,
      );
      const durationS = (performance.now() - started) / 1000;
      await writeSidecar(enginePath, sha256);
      await writeBuildRecord(enginePath, {
        ...inputs,
        schema: BUILD_RECORD_SCHEMA,
        engineFile: enginePath.slice(cacheRoot.length + 1),
        engineSha256: sha256,
        engineBytes: bytes,
        tensorrtVersion: host.tensorrtFull,
        cudaVersion: host.cuda,
        l4t: host.l4t,
        jetpack: host.jetpack,
        sm: host.sm,
        deviceModel: host.deviceModel,
        compatible: host.compatible,
        ortVersion: host.backend === "onnxruntime" ? host.ortVersion : undefined,
        builtAt: new Date().toISOString(),
        compileDurationS: durationS,
        onnxFileStat,
        modelInputs,
      });
      Object.assign(result, { outcome: "built", sha256, bytes, compileDurationS: Math.max(durationS, 1e-6) });
      logger?.info(
        {
          event: "engine-build",
          model: backbone.modelName,
          phase: "done",
          elapsedS: round(durationS),
          durationS,
          bytes,
        },
        `${backbone.modelName}: built in ${durationS.toFixed(1)} s`,
      );
    } catch (error) {
      if (options.signal?.aborted) throw error;
      failure = error as Error;
      // Debug, not error: the caller reports the failure once; this record carries the detail (class, calibration path).
      logger?.debug(
        {
          model: backbone.modelName,
          errorClass: (error as Error).name,
          calibrationPath: (error as { calibrationPath?: string }).calibrationPath,
        },
        (error as Error).message,
      );
      break;
    }
  }

  const pruned =
    options.prune && failure === undefined && !options.dryRun
      ? await pruneOtherHosts(cacheRoot, corpus, hostKey)
      : [];
  return { report: report(failure), error: failure, pruned };
}

/**
 * What this engine would be built from. The ONNX digest is the expensive part
 * (hundreds of MB): it is reused from the build record while the file's
 * identity (size, inode, mtime, ctime) is unchanged, and computed otherwise;
 * so are the model's input dims, which onnxruntime reads (and so checks the
 * model) only for a changed file.
 */
async function buildInputs(
  backbone: Backbone,
  workspaceMb: number,
  host: HostInfo,
  record: BuildRecord | undefined,
): Promise<{ inputs: BuildInputs; onnxFileStat: FileIdentity; modelInputs: Record<string, ModelDims> }> {
  const onnxFileStat = await fileIdentity(backbone.onnxPath);
  const unchanged = record !== undefined && sameIdentity(record.onnxFileStat, onnxFileStat);
  const onnxSha256 = unchanged ? record.onnxSha256 : await sha256OfFile(backbone.onnxPath);
  let modelInputs =
    unchanged && record.modelInputs !== undefined ? record.modelInputs : await inspectModel(backbone);
  // A corpus naming another input of an unchanged model: onnxruntime names the model's inputs.
  if (modelInputs[backbone.inputName] === undefined) modelInputs = await inspectModel(backbone);
  const dims = modelInputs[backbone.inputName]!;
  let builderFlags: string[];
  if (host.backend === "tensorrt") {
    builderFlags = trtexecBuilderFlags({
      backbone,
      workspaceMb,
      tensorrt: host.tensorrtFull ?? host.tensorrt!,
      profile: inputProfile(backbone, dims),
    });
  } else {
    // onnxruntime needs no shapes; a given one must still fit the model.
    if (backbone.inputShape !== undefined) inputProfile(backbone, dims);
    builderFlags = ONNXRUNTIME_BUILDER_FLAGS;
  }
  return {
    onnxFileStat,
    modelInputs,
    inputs: {
      backend: host.backend,
      modelName: backbone.modelName,
      onnxSha256,
      precision: backbone.precision,
      inputName: backbone.inputName,
      inputShape: backbone.inputShape,
      workspaceMb,
      builderFlags,
      calibrationSha256:
        backbone.calibrationPath === undefined
          ? undefined
          : await sha256OfFile(backbone.calibrationPath).catch(() => undefined),
    },
  };
}

async function buildOne(
  backbone: Backbone,
  enginePath: string,
  inputs: BuildInputs,
  hostKey: HostKey,
  options: CompileEnginesOptions,
  reasons: string[],
): Promise<{ sha256: string; bytes: number }> {
  const { logger } = options;
  const builder = inputs.backend === "tensorrt" ? "trtexec" : "onnxruntime";
  const started = performance.now();
  const elapsedS = () => round((performance.now() - started) / 1000);
  let phase: EngineBuildLogPhase = "started";
  const record = (fields: Partial<EngineBuildLogRecord>): EngineBuildLogRecord => ({
    event: "engine-build",
    model: backbone.modelName,
    phase,
    elapsedS: elapsedS(),
    ...fields,
  });
  logger?.warn(record({ reasons, builder }), `${backbone.modelName}: building (${reasons.join(", ")})`);
  const ticker = setInterval(() => {
    logger?.info(
      record({ event: "engine-build-progress" }),
      `${backbone.modelName}: building, ${Math.round(elapsedS())} s (${phase})`,
    );
  }, options.progressIntervalMs ?? 5_000);
  ticker.unref?.();
  // The old engine, sidecar and record go first: from here until the new ones
  // land, the model has no engine, whatever happens to this process — never a
  // stale one that a runtime could load.
  await rm(sidecarPath(enginePath), { force: true });
  await rm(buildRecordPath(enginePath), { force: true });
  await rm(enginePath, { force: true });
  const temp = tempPathFor(enginePath);
  try {
    if (inputs.backend === "tensorrt") {
      await buildWithTrtexec({
        trtexecPath: options.host.trtexecPath!,
        tensorrt: options.host.tensorrtFull ?? options.host.tensorrt!,
        backbone,
        flags: inputs.builderFlags,
        outputPath: temp,
        timingCachePath: join(options.cacheRoot, `timing__${hostKeyString(hostKey)}.cache`),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onLine: (line) => options.onBuilderLine?.(backbone.modelName, line),
        onPhase: (next, line) => {
          if (next === phase) return;
          phase = next;
          logger?.info(
            record({ line: line.replace(/^\[[^\]]*\]\s*\[I\]\s*/, "") }),
            `${backbone.modelName}: ${next} (${Math.round(elapsedS())} s)`,
          );
        },
      });
    } else {
      await buildWithOnnxruntime(backbone, temp);
    }
    const bytes = await fileSize(temp);
    if (bytes === undefined || bytes === 0)
      throw new Error(`the builder reported success but wrote no engine for ${backbone.modelName}`);
    const sha256 = await sha256OfFile(temp);
    await commitTempFile(temp, enginePath, { fsync: true });
    return { sha256, bytes };
  } catch (error) {
    phase = "failed";
    logger?.info(record({}), `${backbone.modelName}: build failed after ${Math.round(elapsedS())} s`);
    throw error;
  } finally {
    clearInterval(ticker);
    await rm(temp, { force: true });
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 10) / 10;
}

/** Temp engines whose writer died mark an interrupted build; they are removed. */
async function sweepInterruptedBuilds(cacheRoot: string): Promise<Set<string>> {
  const interrupted = new Set<string>();
  for (const name of await readdir(cacheRoot).catch(() => [] as string[])) {
    if (!isTempFile(name)) continue;
    const original = /^\.(.+)\.tmp-/.exec(name)?.[1];
    if (original !== undefined) interrupted.add(join(cacheRoot, original));
  }
  await removeStaleTempFiles(cacheRoot);
  return interrupted;
}

async function pruneOtherHosts(cacheRoot: string, corpus: Corpus, hostKey: HostKey): Promise<string[]> {
  const models = new Set(corpus.backbones.map((b) => b.modelName));
  const mine = hostKeyString(hostKey);
  const removed: string[] = [];
  for (const name of await readdir(cacheRoot)) {
    const parsed = parseEngineFilename(name);
    if (parsed === undefined || !models.has(parsed.modelName) || hostKeyString(parsed.host) === mine)
      continue;
    for (const path of [name, `${name}.sha256`, `${name}.build.json`])
      await rm(join(cacheRoot, path), { force: true });
    removed.push(name);
  }
  return removed;
}

export function toHostKey(host: HostInfo): HostKey {
  if (host.backend === "tensorrt")
    return { backend: "tensorrt", sm: host.sm!, jetpack: host.jetpack, tensorrt: host.tensorrt! };
  return { backend: "onnxruntime", arch: host.arch, ort: host.ortVersion.split(".").slice(0, 2).join(".") };
}

function describeError(error: Error): NonNullable<EngineReport["error"]> {
  return {
    modelName: (error as { modelName?: string }).modelName ?? null,
    class: error.name,
    code: isOperatorToolError(error) ? error.code : "INTERNAL",
    message: error.message,
    ...(error instanceof EngineBuildError && error.outputTail.length > 0 ? { tail: error.outputTail } : {}),
    ...(error instanceof EngineBuildError && error.errorLines.length > 0
      ? { errorLines: error.errorLines }
      : {}),
  };
}
