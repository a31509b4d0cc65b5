import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { processAlive, writeJsonAtomic } from "@operator-tool/atomic-file";

/** build-cache's phases, in the order they run (DESIGN.md). */
export const PHASES = [
  "flight-resolve",
  "lock",
  "tile-download",
  "companion-bringup",
  "remote-provision",
] as const;
export type Phase = (typeof PHASES)[number];

export interface PhaseStatus {
  name: Phase;
  status: "running" | "done" | "failed";
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
}

/** One step of a phase, appended and never rewritten, so a watcher that looks late still sees it. */
export interface PhaseTransition {
  phase: Phase;
  status: "running" | "done" | "failed";
  at: string;
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
  /** Each phase's latest state. */
  phases: PhaseStatus[];
  /** Every begin and end, in order. */
  transitions: PhaseTransition[];
  outcome: "success" | "no-op" | "failure" | undefined;
  exitCode: number | undefined;
  logPath: string;
  reportPath: string;
  /** A fleet: the companion this run provisions (absent for a single build-cache and a fleet's own record). */
  companion?: string;
  /** A fleet: the fleet run this companion's run is part of, or `fleet` on the fleet's own record. */
  fleetRunId?: string;
  kind?: "fleet";
}

const RUN_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

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

  private constructor(dir: string, status: RunStatus) {
    this.dir = dir;
    this.status = status;
  }

  /** Creates `runs/<id>/` and its first status.json, before any phase runs. */
  static async create(
    stagingRoot: string,
    runId: string,
    fleet: Pick<RunStatus, "companion" | "fleetRunId" | "kind"> = {},
  ): Promise<RunRecord> {
    const dir = join(runsDir(stagingRoot), runId);
    await mkdir(dir, { recursive: true });
    const now = new Date().toISOString();
    const record = new RunRecord(dir, {
      runId,
      pid: process.pid,
      flightId: undefined,
      startedAt: now,
      updatedAt: now,
      phase: undefined,
      phases: [],
      transitions: [],
      outcome: undefined,
      exitCode: undefined,
      logPath: join(dir, "log.jsonl"),
      reportPath: join(dir, "report.json"),
      ...fleet,
    });
    await record.#save();
    return record;
  }

  async begin(phase: Phase): Promise<void> {
    const at = new Date().toISOString();
    this.status.phase = phase;
    this.status.phases.push({ name: phase, status: "running", startedAt: at });
    this.status.transitions.push({ phase, status: "running", at });
    await this.#save();
  }

  async end(phase: Phase, status: "done" | "failed", durationMs: number): Promise<void> {
    const at = new Date().toISOString();
    const rounded = Math.round(durationMs);
    const entry = [...this.status.phases].reverse().find((p) => p.name === phase);
    if (entry !== undefined) Object.assign(entry, { status, endedAt: at, durationMs: rounded });
    this.status.transitions.push({ phase, status, at, durationMs: rounded });
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
    const status = JSON.parse(
      readFileSync(join(runsDir(stagingRoot), runId, "status.json"), "utf8"),
    ) as RunStatus;
    status.transitions ??= transitionsOf(status.phases ?? []);
    return status;
  } catch {
    return undefined;
  }
}

/** Records written before transitions were kept: what their phase list still tells. */
function transitionsOf(phases: PhaseStatus[]): PhaseTransition[] {
  return phases.flatMap((p) => [
    { phase: p.name, status: "running" as const, at: p.startedAt },
    ...(p.endedAt === undefined
      ? []
      : [{ phase: p.name, status: p.status, at: p.endedAt, ...optionalDuration(p.durationMs) }]),
  ]);
}

function optionalDuration(durationMs: number | undefined): { durationMs?: number } {
  return durationMs === undefined ? {} : { durationMs };
}

/** Run ids, newest first (ids start with their UTC start time). */
export function listRunIds(stagingRoot: string): string[] {
  try {
    return readdirSync(runsDir(stagingRoot))
      .filter((n) => RUN_ID_PATTERN.test(n))
      .sort()
      .reverse();
  } catch {
    return [];
  }
}

/** How a run stands, as `runs list` tells it. */
export type RunState =
  | { kind: "finished"; outcome: NonNullable<RunStatus["outcome"]>; exitCode: number | undefined }
  | { kind: "running"; phase: Phase | undefined }
  | { kind: "stopped"; pid: number }
  | { kind: "unrecorded" };

export interface RunSummary {
  runId: string;
  /** Undefined when the run was killed before its first status reached the disk. */
  status: RunStatus | undefined;
  state: RunState;
}

/** Every run directory, newest first, those without a readable status.json included. */
export function listRuns(stagingRoot: string): RunSummary[] {
  return listRunIds(stagingRoot).map((runId) => {
    const status = readRunStatus(stagingRoot, runId);
    return { runId, status, state: runState(status) };
  });
}

export function runState(status: RunStatus | undefined): RunState {
  if (status === undefined) return { kind: "unrecorded" };
  if (status.outcome !== undefined)
    return { kind: "finished", outcome: status.outcome, exitCode: status.exitCode };
  return processAlive(status.pid)
    ? { kind: "running", phase: status.phase }
    : { kind: "stopped", pid: status.pid };
}
