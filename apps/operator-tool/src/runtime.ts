/**
 * Process-wide state the error boundary needs before any heavy module loads:
 * the cancellation signal, and the redaction to apply to whatever it prints.
 * Kept free of imports so `--help` stays cheap.
 */
const controller = new AbortController();
let redactText: (text: string) => string = (text) => text;
let logFilePath: string | undefined;

export const interruptSignal: AbortSignal = controller.signal;

export function interrupt(signalName: string): void {
  if (!controller.signal.aborted) controller.abort(new InterruptedError(signalName));
}

export class InterruptedError extends Error {
  readonly code = "INTERRUPTED";
  readonly hint = undefined;
  constructor(readonly signalName: string) {
    super(`interrupted by ${signalName}`);
    this.name = "InterruptedError";
  }
}

export function setRedaction(redact: (text: string) => string): void {
  redactText = redact;
}

export function redact(text: string): string {
  return redactText(text);
}

export function setLogFilePath(path: string | undefined): void {
  logFilePath = path;
}

export function currentLogFilePath(): string | undefined {
  return logFilePath;
}
