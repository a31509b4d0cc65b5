import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";

export class CompanionUnreachableError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("COMPANION_UNREACHABLE", message, options);
  }
}

export class CompanionAuthError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("COMPANION_AUTH_FAILED", message, options);
  }
}

export class HostKeyRejectedError extends OperatorToolError {
  constructor(
    message: string,
    readonly presentedFingerprint: string,
    readonly knownFingerprints: string[],
    options?: OperatorToolErrorOptions,
  ) {
    super("HOST_KEY_REJECTED", message, options);
  }
}

export class CompanionNotReadyError extends OperatorToolError {
  constructor(
    message: string,
    readonly checks: unknown[],
    options?: OperatorToolErrorOptions,
  ) {
    super("COMPANION_NOT_READY", message, options);
  }
}

export class TileSyncError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("TILE_SYNC_FAILED", message, options);
  }
}

/**
 * An ssh_config (or host argument) that OpenSSH would reject, or that asks
 * for something operator-tool cannot do: never silently dropped.
 */
export class SshConfigError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("CONFIG_INVALID", message, options);
  }
}
