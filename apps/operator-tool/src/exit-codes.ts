/**
 * The one table from error codes to process exit codes (DESIGN.md, "Exit
 * codes"). Public contract: CI pipelines assert on these numbers.
 */
export const EXIT_CODES = {
  SUCCESS: 0,
  INTERNAL: 1,
  USAGE: 2,
} as const;

const EXIT_CODE_BY_ERROR_CODE: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 2,
  CONFIG_INVALID: 2,
  TILE_PLAN_TOO_LARGE: 2,
  CORPUS_INVALID: 2,
  TILE_DOWNLOAD_FAILED: 20,
  REMOTE_BUILD_FAILED: 21,
  REMOTE_REPORT_INVALID: 22,
  COMPANION_UNREACHABLE: 30,
  COMPANION_AUTH_FAILED: 30,
  COMPANION_NOT_READY: 30,
  HOST_KEY_REJECTED: 31,
  TILE_SYNC_FAILED: 40,
  MODEL_SYNC_FAILED: 40,
  LOCK_HELD: 50,
  LOCK_COMPROMISED: 50,
  ENGINE_BUILD_FAILED: 60,
  CALIBRATION_CACHE_INVALID: 60,
  MODEL_INVALID: 61,
  HOST_PROBE_FAILED: 62,
  FLIGHT_NOT_FOUND: 90,
  FLIGHTS_API_AUTH_REJECTED: 91,
  FLIGHTS_API_UNREACHABLE: 92,
  FLIGHT_PAYLOAD_INVALID: 93,
  FLIGHT_FILE_UNREADABLE: 94,
  FLIGHT_FILE_INVALID: 95,
  INTERRUPTED: 130,
};

export function exitCodeFor(errorCode: string): number {
  return EXIT_CODE_BY_ERROR_CODE[errorCode] ?? EXIT_CODES.INTERNAL;
}

export function knownErrorCodes(): ReadonlyArray<[string, number]> {
  return Object.entries(EXIT_CODE_BY_ERROR_CODE);
}
