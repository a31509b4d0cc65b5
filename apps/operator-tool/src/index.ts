export { EXIT_CODES, exitCodeFor, knownErrorCodes } from "./exit-codes.js";
export type { CliStreams } from "./run-cli.js";
export { runCli } from "./run-cli.js";
