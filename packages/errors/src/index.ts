export type { ValidationIssue } from "./describe-issues.js";
export { describeIssues, formatPath } from "./describe-issues.js";
export type { OperatorToolErrorOptions } from "./operator-tool-error.js";
export { InvalidArgumentError, isOperatorToolError, OperatorToolError } from "./operator-tool-error.js";
