export type {
  CompanionConnection,
  ConnectionLogger,
  ConnectOptions,
  OpenCompanionOptions,
  RemoteProcess,
} from "./connection.js";
export { connectToCompanion, openCompanionConnection } from "./connection.js";
export {
  CompanionAuthError,
  CompanionNotReadyError,
  CompanionUnreachableError,
  HostKeyRejectedError,
  SshConfigError,
  TileSyncError,
} from "./errors.js";
export type { HostKeyVerdict, KnownHostEntry, KnownKey } from "./known-hosts.js";
export {
  checkHostKey,
  fingerprint,
  knownHostsName,
  loadHostKeys,
  preferKnownHostKeyAlgorithms,
  recordHostKey,
  verifyHostKey,
} from "./known-hosts.js";
export type { Readiness, ReadinessCheck, ReadinessOptions } from "./readiness.js";
export { checkReadiness } from "./readiness.js";
export type { SessionStart } from "./session-client.js";
export { CompanionSession, SessionRequestError, startSession } from "./session-client.js";
export type { ServeSessionOptions, SessionEnd } from "./session-host.js";
export { listPushedFiles, serveSession, sessionHello } from "./session-host.js";
export type { PushedListing, SessionHello, SessionRequest, SessionResponse } from "./session-protocol.js";
export { SESSION_PROTOCOL } from "./session-protocol.js";
export { shellQuote } from "./shell-quote.js";
export type { JumpHost } from "./ssh-client-config.js";
export { parseJumpHost } from "./ssh-client-config.js";
export type {
  CompanionTarget,
  ProxyRoute,
  ResolveCompanionOptions,
  ResolveTargetOptions,
  SshEnvironment,
} from "./ssh-target.js";
export {
  DEFAULT_CONNECT_TIMEOUT_S,
  DEFAULT_SERVER_ALIVE_COUNT_MAX,
  DEFAULT_SERVER_ALIVE_INTERVAL_S,
  defaultSshEnvironment,
  resolveCompanion,
  resolveTarget,
} from "./ssh-target.js";
export type { Manifest, ManifestEntry, ReceiveResult } from "./tile-receiver.js";
export { listReceivedFiles, receiveFiles } from "./tile-receiver.js";
export type { SyncFile, SyncResult, SyncTilesOptions } from "./tile-sync.js";
export { syncTiles } from "./tile-sync.js";
