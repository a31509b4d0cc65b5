import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";

/** Why the companion cannot take (or keep) the install; each names its own fix. */
export type InstallRefusalReason =
  | "architecture"
  | "glibc"
  | "space"
  | "prefix"
  | "transfer"
  | "verify"
  | "rollback"
  | "runtime";

/**
 * The companion cannot run, or did not take, the companion bundle. Shares the
 * readiness failures' code, so the CLI exits 30.
 */
export class CompanionInstallError extends OperatorToolError {
  constructor(
    readonly reason: InstallRefusalReason,
    message: string,
    options?: OperatorToolErrorOptions,
  ) {
    super("COMPANION_NOT_READY", message, options);
  }
}

/** A model, calibration cache or corpus did not reach the companion whole. */
export class ModelSyncError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("MODEL_SYNC_FAILED", message, options);
  }
}
