export interface OperatorToolErrorOptions {
  /** What the operator should do about it, in one sentence. */
  hint?: string;
  cause?: unknown;
}

/**
 * An operational failure the operator can act on. `code` is stable and public:
 * the CLI maps it to an exit code, scripts may match on it. Messages must never
 * carry a secret value; callers redact before constructing.
 */
export class OperatorToolError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: OperatorToolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/** Duck-typed so errors from another copy of this package still count. */
export function isOperatorToolError(value: unknown): value is OperatorToolError {
  if (!(value instanceof Error) || !("hint" in value)) return false;
  const code: unknown = (value as { code?: unknown }).code;
  return typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code);
}

/** A bad flag, option or config value: the CLI exits 2. */
export class InvalidArgumentError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("INVALID_ARGUMENT", message, options);
  }
}
