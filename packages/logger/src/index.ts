export type { LogFormat, Logger, LogLevel } from "./create-logger.js";
export { createLogger } from "./create-logger.js";
export { SecretRedactor } from "./secret-redactor.js";
