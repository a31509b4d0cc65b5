export type {
  BuildFlight,
  BuildLogger,
  CacheBuildDeps,
  CacheBuildOptions,
  CacheBuildReport,
  CacheBuildRun,
  CompanionSession,
  EngineReportSummary,
  ReadinessCheckResult,
  RunContext,
  SyncFile,
  TileJobRef,
} from "./build-cache.js";
export { buildCache } from "./build-cache.js";
export type { LockOwner, LockStatus } from "./build-lock.js";
export { formatDuration, LockHeldError, listLockStatuses, readLockStatus, removeLock } from "./build-lock.js";
export type { DeviceIdentity, ProbedHost, StoreLookup } from "./engine-store.js";
export { deviceIdentity, EngineStore, identityDigest } from "./engine-store.js";
export type {
  EngineImport,
  FleetDeps,
  FleetEngineReport,
  FleetFlightReport,
  FleetHostReport,
  FleetHostUpdate,
  FleetOptions,
  FleetReport,
  FleetRun,
  FleetSession,
  FleetTarget,
} from "./fleet.js";
export { buildFleet, companionLockName, DEFAULT_FORKS, FleetHostsFailedError } from "./fleet.js";
export type { PhaseListener } from "./phase-runner.js";
export type { Phase, PhaseTransition, RunState, RunStatus, RunSummary } from "./run-record.js";
export { listRunIds, listRuns, readRunStatus } from "./run-record.js";
export { checkStagingRoot } from "./staging-root.js";
export type { TileDownloadOutcome, TilePlanFacts, TilePlanSummary, ZoomPlanSummary } from "./tile-work.js";
export { summarizeTilePlan, tileDownloadFailure } from "./tile-work.js";

/** The zod schema of `CacheBuildReport` (and of `tiles plan --json`), loaded only when asked for: zod is most of a start-up. */
export const loadReportSchemas = () => import("./report-schema.js");
