export type { LogFileTarget, LogFormat, Logger, LoggerOptions, LogLevel } from "./create-logger.js";
export { createLogger } from "./create-logger.js";
export { REDACTED, SecretRedactor } from "./secret-redactor.js";
