export type { DescribeFailureOptions, FailureDescription } from "./describe-failure.js";
export { describeFailure } from "./describe-failure.js";
export type { ValidationIssue } from "./describe-issues.js";
export { describeIssues } from "./describe-issues.js";
export type { ErrorCode, ExitCode } from "./exit-codes.js";
export { ERROR_CODES, EXIT_CODE_MEANINGS, EXIT_CODES, exitCodeFor, isErrorCode } from "./exit-codes.js";
export type { OperatorToolErrorOptions } from "./operator-tool-error.js";
export {
  InterruptedError,
  InvalidArgumentError,
  isOperatorToolError,
  OperatorToolError,
} from "./operator-tool-error.js";
export type { PathUnusableContext } from "./path-unusable.js";
export { PathUnusableError, pathUnusableErrorFrom } from "./path-unusable.js";
