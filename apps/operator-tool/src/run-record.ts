import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic } from "@operator-tool/atomic-file";

export const PHASES = [
  "flight-resolve",
  "lock",
  "tile-download",
  "companion-bringup",
  "remote-provision",
  "report",
] as const;
export type Phase = (typeof PHASES)[number];

export interface PhaseStatus {
  name: Phase;
  status: "running" | "done" | "failed";
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
}

/** `runs/<id>/status.json`: rewritten atomically at every phase transition, read by `runs watch`. */
export interface RunStatus {
  runId: string;
  pid: number;
  flightId: string | undefined;
  startedAt: string;
  updatedAt: string;
  phase: Phase | undefined;
  phases: PhaseStatus[];
  outcome: "success" | "no-op" | "failure" | undefined;
  exitCode: number | undefined;
  logPath: string;
  reportPath: string;
}

export function newRunId(now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${randomBytes(3).toString("hex")}`;
}

export const runsDir = (stagingRoot: string) => join(stagingRoot, "runs");

export class RunRecord {
  readonly dir: string;
  readonly status: RunStatus;

  constructor(stagingRoot: string, runId: string) {
    this.dir = join(runsDir(stagingRoot), runId);
    mkdirSync(this.dir, { recursive: true });
    const now = new Date().toISOString();
    this.status = {
      runId,
      pid: process.pid,
      flightId: undefined,
      startedAt: now,
      updatedAt: now,
      phase: undefined,
      phases: [],
      outcome: undefined,
      exitCode: undefined,
      logPath: join(this.dir, "log.jsonl"),
      reportPath: join(this.dir, "report.json"),
    };
  }

  async begin(phase: Phase): Promise<void> {
    this.status.phase = phase;
    this.status.phases.push({ name: phase, status: "running", startedAt: new Date().toISOString() });
    await this.#save();
  }

  async end(phase: Phase, status: "done" | "failed", durationMs: number): Promise<void> {
    const entry = [...this.status.phases].reverse().find((p) => p.name === phase);
    if (entry !== undefined)
      Object.assign(entry, { status, endedAt: new Date().toISOString(), durationMs: Math.round(durationMs) });
    await this.#save();
  }

  async finish(outcome: RunStatus["outcome"], exitCode: number, report: unknown): Promise<void> {
    await writeJsonAtomic(this.status.reportPath, report);
    this.status.outcome = outcome;
    this.status.exitCode = exitCode;
    this.status.phase = undefined;
    await this.#save();
  }

  async #save(): Promise<void> {
    this.status.updatedAt = new Date().toISOString();
    await writeJsonAtomic(join(this.dir, "status.json"), this.status);
  }
}

export function readRunStatus(stagingRoot: string, runId: string): RunStatus | undefined {
  try {
    return JSON.parse(readFileSync(join(runsDir(stagingRoot), runId, "status.json"), "utf8")) as RunStatus;
  } catch {
    return undefined;
  }
}

/** Run ids, newest first (ids start with their UTC start time). */
export function listRunIds(stagingRoot: string): string[] {
  try {
    return readdirSync(runsDir(stagingRoot))
      .filter((n) => /^\d{8}T\d{6}Z-[0-9a-f]{6}$/.test(n))
      .sort()
      .reverse();
  } catch {
    return [];
  }
}
