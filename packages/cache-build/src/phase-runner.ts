import type { Phase, RunRecord } from "./run-record.js";

export interface PhaseTiming {
  status: "done" | "failed";
  durationMs: number;
}

/** A phase starting or ending, for a live view of the run. */
export type PhaseListener = (phase: Phase, status: "running" | PhaseTiming["status"]) => void;

export interface PhaseLogger {
  info(fields: object, message: string): void;
}

/**
 * Runs the phases one at a time: times each, records its begin and end in
 * the run record, and remembers which one was running when something failed.
 */
export class PhaseRunner {
  current: Phase | undefined;
  readonly timings: Partial<Record<Phase, PhaseTiming>> = {};

  constructor(
    private readonly record: RunRecord | undefined,
    private readonly logger: PhaseLogger,
    private readonly signal: AbortSignal,
    private readonly runId: string | null,
    private readonly onPhase: PhaseListener = () => undefined,
  ) {}

  async run<T>(name: Phase, work: () => Promise<T>): Promise<T> {
    this.current = name;
    this.signal.throwIfAborted();
    await this.record?.begin(name);
    this.logger.info({ phase: name, runId: this.runId }, `phase ${name}`);
    this.onPhase(name, "running");
    const started = performance.now();
    let status: PhaseTiming["status"] = "failed";
    try {
      const value = await work();
      status = "done";
      return value;
    } finally {
      const durationMs = performance.now() - started;
      this.timings[name] = { status, durationMs: Math.round(durationMs) };
      this.onPhase(name, status);
      await this.record?.end(name, status, durationMs);
    }
  }
}
