export type { CompanionBundle, PrepareBundleOptions } from "./companion-bundle.js";
export {
  BUNDLE_SCRIPT,
  bundleCompanionScript,
  prepareCompanionBundle,
  WORKSTATION_ONLY_MODULES,
} from "./companion-bundle.js";
export type { CompanionArch, CompanionFacts } from "./companion-facts.js";
export { MIN_GLIBC, MIN_NODE } from "./companion-facts.js";
export type { InstallRefusalReason } from "./errors.js";
export { CompanionInstallError, ModelSyncError } from "./errors.js";
export type {
  InstallCompanionOptions,
  InstallCompanionResult,
  RollbackCompanionOptions,
  RollbackCompanionResult,
} from "./install-companion.js";
export {
  DEFAULT_BIN_DIR,
  DEFAULT_PREFIX,
  installCompanion,
  rollbackCompanion,
} from "./install-companion.js";
export type { NodeRuntime, NodeRuntimeOptions } from "./node-runtime.js";
export { elfArch, PINNED_NODE_VERSION, resolveNodeRuntime } from "./node-runtime.js";
export type { PushModelsOptions, PushModelsResult } from "./push-models.js";
export { pushModels } from "./push-models.js";
export type { LocalFile, LocalFileDigests, PushProgress, PushResult } from "./remote-files.js";
export { PUSH_MANIFEST, parseListing as parsePushedListing } from "./remote-files.js";
