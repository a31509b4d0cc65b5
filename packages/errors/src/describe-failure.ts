import {
  type ErrorCode,
  EXIT_CODE_ACTIONS,
  EXIT_CODES,
  type ExitCode,
  exitCodeFor,
  isErrorCode,
} from "./exit-codes.js";
import { isOperatorToolError } from "./operator-tool-error.js";
import { pathUnusableErrorFrom } from "./path-unusable.js";

/** How a failure is reported everywhere: the `error:` line, `--json`, a report, the exit status. */
export interface FailureDescription {
  /** The error's stable code; `INTERNAL` for anything unrecognised (a bug). */
  code: ErrorCode | "INTERNAL";
  exitCode: ExitCode;
  /** The error's class name, e.g. `CompanionNotReadyError`. */
  className: string;
  /** The whole message; it may span lines (a readiness table, a remote's last output). */
  message: string;
  hint: string | undefined;
  /** One line for stderr: the message's first line, then ` — ` and what to do (the hint, else the exit status's action). */
  line: string;
  /** True when nothing recognised it: the boundary adds the stack and where the log is. */
  internal: boolean;
  /** What was described (a filesystem error is described through its operator-facing form). */
  error: unknown;
}

export interface DescribeFailureOptions {
  /**
   * The run's cancellation signal: once it fired, whatever error the
   * cancellation caused on the way out is described as its reason.
   */
  signal?: AbortSignal;
}

/**
 * The one reading of a failure. Coded errors keep their code; a filesystem
 * error an operator can fix becomes PATH_UNUSABLE naming the path; an abort
 * becomes its reason; anything else is INTERNAL (exit 1).
 */
export function describeFailure(error: unknown, options: DescribeFailureOptions = {}): FailureDescription {
  const signal = options.signal;
  const subject = signal?.aborted === true && isOperatorToolError(signal.reason) ? signal.reason : error;
  const recognised = isOperatorToolError(subject) ? subject : pathUnusableErrorFrom(subject);
  if (recognised !== undefined && isErrorCode(recognised.code)) {
    const message = recognised.message;
    const hint = recognised.hint ?? undefined;
    const exitCode = exitCodeFor(recognised.code);
    return {
      code: recognised.code,
      exitCode,
      className: recognised.name,
      message,
      hint,
      // Every error line says what to do: the error's own hint, else its exit status's.
      line: oneLine(message, hint ?? EXIT_CODE_ACTIONS[exitCode]),
      internal: false,
      error: recognised,
    };
  }
  const message = subject instanceof Error ? subject.message : String(subject);
  return {
    code: "INTERNAL",
    exitCode: EXIT_CODES.INTERNAL,
    className: subject instanceof Error ? subject.name : typeof subject,
    message,
    hint: undefined,
    line: oneLine(message, undefined),
    internal: true,
    error: subject,
  };
}

function oneLine(message: string, hint: string | undefined): string {
  const first = message.split("\n")[0] ?? "";
  return hint ? `${first} — ${hint}` : first;
}
