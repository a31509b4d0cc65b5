export type { FindExecutableOptions } from "./find-executable.js";
export { findExecutable } from "./find-executable.js";
