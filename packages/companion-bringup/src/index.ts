export type { CompanionConnection, ConnectOptions, RemoteProcess } from "./connection.js";
export { connectToCompanion } from "./connection.js";
export {
  CompanionAuthError,
  CompanionNotReadyError,
  CompanionUnreachableError,
  HostKeyRejectedError,
  TileSyncError,
} from "./errors.js";
export type { HostKeyVerdict } from "./known-hosts.js";
export { fingerprint, knownHostsName, recordHostKey, verifyHostKey } from "./known-hosts.js";
export type { Readiness, ReadinessCheck, ReadinessOptions } from "./readiness.js";
export { checkReadiness } from "./readiness.js";
export { shellQuote } from "./shell-quote.js";
export type { CompanionTarget, ResolveTargetOptions } from "./ssh-target.js";
export { resolveTarget } from "./ssh-target.js";
export type { Manifest, ManifestEntry, ReceiveResult } from "./tile-receiver.js";
export { listReceivedFiles, receiveFiles } from "./tile-receiver.js";
export type { SyncFile, SyncResult, SyncTilesOptions } from "./tile-sync.js";
export { syncTiles } from "./tile-sync.js";
