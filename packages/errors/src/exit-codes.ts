/**
 * The process exit statuses: DESIGN.md's "Exit codes" table, a public contract
 * CI pipelines assert on. This file is its one copy in code; docs/exit-codes.md
 * mirrors it and a test keeps the two equal.
 */
export const EXIT_CODES = {
  SUCCESS: 0,
  INTERNAL: 1,
  USAGE: 2,
  TILE_DOWNLOAD: 20,
  REMOTE_BUILD: 21,
  REMOTE_REPORT: 22,
  COMPANION: 30,
  HOST_KEY: 31,
  TILE_SYNC: 40,
  LOCK: 50,
  ENGINE_BUILD: 60,
  MODEL: 61,
  HOST_PROBE: 62,
  FLEET: 70,
  FLIGHT_NOT_FOUND: 90,
  FLIGHTS_API_AUTH: 91,
  FLIGHTS_API_UNREACHABLE: 92,
  FLIGHT_PAYLOAD: 93,
  FLIGHT_FILE_UNREADABLE: 94,
  FLIGHT_FILE_INVALID: 95,
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** What each exit status means, worded as DESIGN.md words it. */
export const EXIT_CODE_MEANINGS: Readonly<Record<ExitCode, string>> = {
  0: "success (including no-op)",
  1: "unexpected internal error (a bug: message + where the log is)",
  2: "usage or configuration error (bad flag, invalid config file, a path operator-tool cannot use)",
  20: "tile download failed",
  21: "remote engine build failed (remote exited non-zero or reported failure)",
  22: "remote report missing or unparseable",
  30: "companion unreachable, authentication failed, or a readiness check failed",
  31: "companion host key unknown or mismatched (refused)",
  40: "tile (or model) sync to the companion failed",
  50: "build lock held by another live process",
  60: "(compile-engines) an engine build failed",
  61: "(compile-engines) an ONNX model is missing or invalid, or its input name/shape does not match the corpus",
  62: "(compile-engines) host capabilities could not be probed and were not given",
  70: "fleet run: one or more companions failed (each host's code is in the report)",
  90: "flight not found (API 404)",
  91: "Flights API rejected the credentials (401/403)",
  92: "Flights API unreachable (connection error, timeout, 5xx after retries)",
  93: "Flights API returned a payload that fails the flight schema",
  94: "flight file missing or unreadable",
  95: "flight file is not a valid flight (bad JSON or schema, unknown format)",
  130: "interrupted (SIGINT/SIGTERM): remote run signalled, lock released",
};

/**
 * What to do about each exit status (docs/exit-codes.md's third column): the
 * "— what to do" of an error line whose error carries no hint of its own.
 */
export const EXIT_CODE_ACTIONS: Readonly<Record<ExitCode, string>> = {
  0: "—",
  1: "report it with the printed stack and the log path",
  2: "the message names the flag, config field or path and the fix; `--help` shows usage",
  20: "re-run: finished tiles are kept; `--json` lists the failed tiles",
  21: "read the streamed remote output in the log",
  22: "check `--remote-command` runs a compatible operator-tool",
  30: "check host, port, user, key; the table names the failed check",
  31: "verify the fingerprint; `--accept-new-host-key` for a first connection",
  40: "re-run: the sync resumes",
  50: "wait, or `operator-tool locks list`",
  60: "the message carries trtexec's last lines",
  61: "fix the corpus entry named",
  62: "pass `--sm`, `--jetpack`, `--tensorrt`",
  70: "each host's own code and error are in the report",
  90: "check `--flight-id` and `--flights-api-url`",
  91: "set `OPERATOR_TOOL_FLIGHTS_API_TOKEN` or `--flights-api-token-file`",
  92: "check the network; `--flights-api-timeout`",
  93: "the message names the field; report it to the API owners",
  94: "check `--flight-file`",
  95: "the message names the line or field",
  130: "re-run; work already done is kept",
};

/**
 * Every error code any package throws, and the exit status it means. The
 * `code` of an error is public (`--json` prints it, scripts match on it).
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: EXIT_CODES.USAGE,
  CONFIG_INVALID: EXIT_CODES.USAGE,
  TILE_PLAN_TOO_LARGE: EXIT_CODES.USAGE,
  CORPUS_INVALID: EXIT_CODES.USAGE,
  PATH_UNUSABLE: EXIT_CODES.USAGE,
  INVENTORY_INVALID: EXIT_CODES.USAGE,
  TILE_DOWNLOAD_FAILED: EXIT_CODES.TILE_DOWNLOAD,
  REMOTE_BUILD_FAILED: EXIT_CODES.REMOTE_BUILD,
  REMOTE_REPORT_INVALID: EXIT_CODES.REMOTE_REPORT,
  COMPANION_UNREACHABLE: EXIT_CODES.COMPANION,
  COMPANION_AUTH_FAILED: EXIT_CODES.COMPANION,
  COMPANION_NOT_READY: EXIT_CODES.COMPANION,
  HOST_KEY_REJECTED: EXIT_CODES.HOST_KEY,
  TILE_SYNC_FAILED: EXIT_CODES.TILE_SYNC,
  MODEL_SYNC_FAILED: EXIT_CODES.TILE_SYNC,
  LOCK_HELD: EXIT_CODES.LOCK,
  LOCK_COMPROMISED: EXIT_CODES.LOCK,
  ENGINE_BUILD_FAILED: EXIT_CODES.ENGINE_BUILD,
  CALIBRATION_CACHE_INVALID: EXIT_CODES.ENGINE_BUILD,
  MODEL_INVALID: EXIT_CODES.MODEL,
  HOST_PROBE_FAILED: EXIT_CODES.HOST_PROBE,
  FLEET_HOSTS_FAILED: EXIT_CODES.FLEET,
  FLIGHT_NOT_FOUND: EXIT_CODES.FLIGHT_NOT_FOUND,
  FLIGHTS_API_AUTH_REJECTED: EXIT_CODES.FLIGHTS_API_AUTH,
  FLIGHTS_API_UNREACHABLE: EXIT_CODES.FLIGHTS_API_UNREACHABLE,
  FLIGHT_PAYLOAD_INVALID: EXIT_CODES.FLIGHT_PAYLOAD,
  FLIGHT_FILE_UNREADABLE: EXIT_CODES.FLIGHT_FILE_UNREADABLE,
  FLIGHT_FILE_INVALID: EXIT_CODES.FLIGHT_FILE_INVALID,
  INTERRUPTED: EXIT_CODES.INTERRUPTED,
} as const satisfies Record<string, ExitCode>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The exit status for an error code; a code nobody registered is a bug (1). */
export function exitCodeFor(code: string): ExitCode {
  return isErrorCode(code) ? ERROR_CODES[code] : EXIT_CODES.INTERNAL;
}
