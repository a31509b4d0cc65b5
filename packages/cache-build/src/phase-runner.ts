import type { Phase, RunRecord } from "./run-record.js";

export interface PhaseTiming {
  status: "done" | "failed";
  durationMs: number;
}

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
    /** Each begin and end as it happens: a fleet's live per-host status. */
    private readonly onTransition?: (phase: Phase, status: "running" | PhaseTiming["status"]) => void,
  ) {}

  async run<T>(name: Phase, work: () => Promise<T>): Promise<T> {
    this.current = name;
    this.signal.throwIfAborted();
    await this.record?.begin(name);
    this.onTransition?.(name, "running");
    this.logger.info({ phase: name, runId: this.runId }, `phase ${name}`);
    const started = performance.now();
    let status: PhaseTiming["status"] = "failed";
    try {
      const value = await work();
      status = "done";
      return value;
    } finally {
      const durationMs = performance.now() - started;
      this.timings[name] = { status, durationMs: Math.round(durationMs) };
      await this.record?.end(name, status, durationMs);
      this.onTransition?.(name, status);
    }
  }
}
