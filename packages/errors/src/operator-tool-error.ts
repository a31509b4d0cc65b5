import type { ErrorCode } from "./exit-codes.js";

export interface OperatorToolErrorOptions {
  /** What the operator should do about it, in one sentence. */
  hint?: string;
  /** The error this one explains, when it wraps one: kept for the log and the stack. */
  cause?: unknown;
}

/**
 * An operational failure the operator can act on. `code` is stable and public:
 * it decides the exit status (the table in exit-codes.ts), scripts may match on
 * it. Messages must never carry a secret value; callers redact before
 * constructing.
 */
export class OperatorToolError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: OperatorToolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/**
 * Duck-typed, so errors from another copy of this package (a second install,
 * a bundle on the companion) still count.
 */
export function isOperatorToolError(value: unknown): value is OperatorToolError {
  if (!(value instanceof Error) || !("hint" in value)) return false;
  const code: unknown = (value as { code?: unknown }).code;
  return typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code);
}

/** A bad flag, option or config value: exit 2. */
export class InvalidArgumentError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("INVALID_ARGUMENT", message, options);
  }
}

/** Ctrl-C, SIGTERM, or a lifeline cut: the run stops, keeping what it finished. */
export class InterruptedError extends OperatorToolError {
  constructor(
    readonly reason: string,
    options?: OperatorToolErrorOptions,
  ) {
    super("INTERRUPTED", `interrupted by ${reason}`, {
      hint: "re-run the same command to finish: what was done is kept, and the lock was released",
      ...options,
    });
  }
}
