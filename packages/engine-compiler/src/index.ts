export type { BuildReason, CacheDecision } from "./cache-decision.js";
export { decide } from "./cache-decision.js";
export type {
  CompileEnginesOptions,
  CompileEnginesResult,
  CompilerLogger,
  EngineBuildLogPhase,
  EngineBuildLogRecord,
} from "./compile-engines.js";
export { compileEngines, toHostKey } from "./compile-engines.js";
export type { Backbone, Corpus, Precision, ShapeRange } from "./corpus.js";
export { corpusSchema, loadCorpus, MODEL_NAME_PATTERN, missingModelFiles, parseCorpus } from "./corpus.js";
export type { BuildRecord } from "./engine-cache.js";
export { buildRecordPath, readBuildRecord, readSidecar, sha256OfFile, sidecarPath } from "./engine-cache.js";
export type { EngineName, HostKey } from "./engine-filename.js";
export { buildEngineFilename, hostKeyString, parseEngineFilename } from "./engine-filename.js";
export type { EngineReport, ModelOutcome, ModelResult } from "./engine-report.js";
export { ENGINE_REPORT_SCHEMA } from "./engine-report.js";
export {
  CalibrationCacheError,
  CorpusInvalidError,
  EngineBuildError,
  HostProbeError,
  ModelInvalidError,
} from "./errors.js";
export type { HostInfo, ProbeOptions } from "./host-probe.js";
export {
  L4T_RELEASES,
  L4T_TO_JETPACK,
  probeHost,
  readL4t,
  SOC_TO_SM,
  TRTEXEC_FALLBACK,
} from "./host-probe.js";
export type { ModelDims } from "./model-check.js";
export { checkModel, inputProfile, inspectModel } from "./model-check.js";
export { onnxruntimeVersion } from "./onnxruntime-backend.js";
export type { InputProfile, TrtexecRule } from "./trtexec-flags.js";
export { TRTEXEC_RULES, trtexecArguments, trtexecBuilderFlags, trtexecRuleFor } from "./trtexec-flags.js";
export type { BuildPhase, TrtexecVersion } from "./trtexec-output.js";
export { causeOfFailure, parseTrtexecVersion, phaseOf } from "./trtexec-output.js";
