import { InterruptedError } from "@operator-tool/errors";

/**
 * The state of one `runCli` call that its error boundary needs: the
 * cancellation signal, the redaction to apply to whatever it prints, and
 * where the run's log is. One per call, so calls can run side by side in one
 * process (tests drive the CLI that way).
 */
export interface CliRuntime {
  readonly signal: AbortSignal;
  /** Cancels the command: its phases stop, and the exit status is 130. */
  interrupt(reason: string): void;
  redact(text: string): string;
  setRedaction(redact: (text: string) => string): void;
  logPath: string | undefined;
}

/** `external` is the process's SIGINT/SIGTERM (or a test's own controller). */
export function createRuntime(external?: AbortSignal): CliRuntime {
  const controller = new AbortController();
  const interrupt = (reason: string) => {
    if (!controller.signal.aborted) controller.abort(new InterruptedError(reason));
  };
  if (external?.aborted) controller.abort(external.reason);
  else
    external?.addEventListener("abort", () => controller.abort(external.reason), {
      once: true,
    });
  let redactText: (text: string) => string = (text) => text;
  return {
    signal: controller.signal,
    interrupt,
    redact: (text) => redactText(text),
    setRedaction(redact) {
      redactText = redact;
    },
    logPath: undefined,
  };
}
