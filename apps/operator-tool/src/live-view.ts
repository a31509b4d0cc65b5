import type { LogSink } from "./context.js";
import type { Terminal } from "./terminal.js";
import { formatByteRate, formatBytes, formatClock, formatEta } from "./units.js";

export interface TileProgress {
  done: number;
  planned: number;
  fetched: number;
  cached: number;
  absent: number;
  failed: number;
  bytesFetched: number;
  startedAt: number;
}

export interface SyncProgress {
  sent: number;
  /** Files to send (those the companion lacks). */
  total: number;
  bytesSent: number;
}

/** What the remote build last said: compile-engines' `engine-build` records (docs/operator-guide.md). */
interface RemoteBuildState {
  startedAt: number;
  model: string | undefined;
  builder: string | undefined;
  buildPhase: string | undefined;
  /** The model's elapsed seconds as last reported, and when that report came. */
  elapsedS: number | undefined;
  elapsedAt: number;
  lastLine: string | undefined;
  finished: string[];
}

/** How often the view is redrawn while nothing reports (elapsed times tick) and how often a non-TTY run logs progress. */
const TICK_MS = 1_000;
export const PROGRESS_LOG_INTERVAL_MS = 5_000;
const REDRAW_MIN_MS = 100;

/**
 * What a long command is doing, as it does it. On a live terminal: the phase
 * and its elapsed time, tiles, syncs and the remote build, redrawn in place
 * under the scrolling log. Elsewhere (a pipe, CI, --json): one `progress` log
 * record every few seconds, so a long phase is never silent and never floods.
 */
export class LiveView {
  #phase: { name: string; startedAt: number } | undefined;
  #tiles: (TileProgress & { endedAt: number | undefined }) | undefined;
  readonly #syncs = new Map<string, SyncRow>();
  #remote: RemoteBuildState | undefined;
  #lastDraw = 0;
  #lastLog = Date.now();
  #ticker: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  constructor(
    private readonly terminal: Terminal,
    private readonly logger: LogSink,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.#ticker ??= setInterval(() => this.#tick(), TICK_MS);
    this.#ticker.unref?.();
  }

  /** Stops drawing and removes the live area: the summary prints where it was. */
  stop(): void {
    this.#stopped = true;
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.terminal.clear();
  }

  phase(name: string, status: "running" | "done" | "failed"): void {
    if (status === "running") this.#phase = { name, startedAt: this.now() };
    else if (this.#phase?.name === name) this.#phase = undefined;
    if (status === "running" && name === "remote-provision") this.#remote = newRemoteState(this.now());
    this.#draw(true);
  }

  tiles(progress: TileProgress): void {
    const done = progress.done >= progress.planned;
    // A finished row keeps its final rate: it is measured to when it ended, not to now.
    this.#tiles = { ...progress, endedAt: done ? (this.#tiles?.endedAt ?? this.now()) : undefined };
    this.#draw(done);
  }

  sync(name: string, progress: SyncProgress): void {
    const known = this.#syncs.get(name);
    const done = progress.sent >= progress.total;
    this.#syncs.set(name, {
      ...progress,
      startedAt: known?.startedAt ?? this.now(),
      endedAt: done ? (known?.endedAt ?? this.now()) : undefined,
    });
    this.#draw(done);
  }

  /** One line of the remote command's stderr (already redacted): its JSON log records drive the build row. */
  remoteLine(line: string): void {
    this.#remote ??= newRemoteState(this.now());
    const remote = this.#remote;
    const record = parseRecord(line);
    if (record === undefined) {
      if (line.trim() !== "") remote.lastLine = clean(line);
    } else {
      if (typeof record.msg === "string") remote.lastLine = clean(record.msg);
      if (record.event === "engine-build" || record.event === "engine-build-progress") {
        const model = typeof record.model === "string" ? record.model : undefined;
        if (model !== undefined && model !== remote.model) remote.builder = undefined;
        remote.model = model ?? remote.model;
        if (typeof record.phase === "string") remote.buildPhase = record.phase;
        if (typeof record.builder === "string") remote.builder = record.builder;
        if (typeof record.elapsedS === "number") {
          remote.elapsedS = record.elapsedS;
          remote.elapsedAt = this.now();
        }
        if ((record.phase === "done" || record.phase === "failed") && model !== undefined)
          remote.finished.push(`${model} ${record.phase === "done" ? "built" : "failed"}`);
      }
    }
    this.#draw(false);
  }

  /** The live area's lines as they are now. */
  lines(): string[] {
    const now = this.now();
    const out: string[] = [];
    if (this.#phase !== undefined)
      out.push(`» ${this.#phase.name}  ${formatClock((now - this.#phase.startedAt) / 1000)}`);
    if (this.#tiles !== undefined) out.push(`  ${tilesLine(this.#tiles, now)}`);
    for (const [name, sync] of this.#syncs) out.push(`  ${syncLine(name, sync, now)}`);
    if (this.#remote !== undefined) out.push(...remoteLines(this.#remote, now));
    return out;
  }

  /** The progress record a non-live run logs every few seconds. */
  summary(): { fields: object; message: string } | undefined {
    if (this.#phase === undefined) return undefined;
    const now = this.now();
    const elapsedS = Math.round((now - this.#phase.startedAt) / 1000);
    const fields: Record<string, unknown> = { event: "progress", phase: this.#phase.name, elapsedS };
    const parts = [`${this.#phase.name} ${formatClock(elapsedS)}`];
    const tiles = this.#tiles;
    if (tiles !== undefined && this.#phase.name === "tile-download") {
      fields.tiles = { done: tiles.done, planned: tiles.planned, bytesFetched: tiles.bytesFetched };
      parts.push(tilesLine(tiles, now, false));
    }
    for (const [name, sync] of this.#syncs) {
      if (sync.endedAt !== undefined) continue;
      fields[name.replace(/ (\w)/g, (_, c: string) => c.toUpperCase())] = {
        sent: sync.sent,
        total: sync.total,
        bytesSent: sync.bytesSent,
      };
      parts.push(syncLine(name, sync, now, false));
    }
    const remote = this.#remote;
    if (remote !== undefined && this.#phase.name === "remote-provision") {
      fields.remote = { model: remote.model ?? null, buildPhase: remote.buildPhase ?? null };
      parts.push(remoteLines(remote, now)[0]!.trim());
    }
    return { fields, message: `progress: ${parts.join("; ")}` };
  }

  #tick(): void {
    if (this.terminal.live) this.#draw(true);
    else if (this.now() - this.#lastLog >= PROGRESS_LOG_INTERVAL_MS) {
      this.#lastLog = this.now();
      const summary = this.summary();
      if (summary !== undefined) this.logger.info(summary.fields, summary.message);
    }
  }

  #draw(force: boolean): void {
    if (!this.terminal.live || this.#stopped) return;
    const now = this.now();
    if (!force && now - this.#lastDraw < REDRAW_MIN_MS) return;
    this.#lastDraw = now;
    this.terminal.show(this.lines());
  }
}

interface SyncRow extends SyncProgress {
  startedAt: number;
  endedAt: number | undefined;
}

/** Rows are labelled in one column, so their figures line up. */
const label = (text: string) => text.padEnd(LABEL_WIDTH);
const LABEL_WIDTH = 11;

function newRemoteState(now: number): RemoteBuildState {
  return {
    startedAt: now,
    model: undefined,
    builder: undefined,
    buildPhase: undefined,
    elapsedS: undefined,
    elapsedAt: now,
    lastLine: undefined,
    finished: [],
  };
}

const BAR_WIDTH = 20;

function bar(fraction: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
}

export function tilesLine(
  p: TileProgress & { endedAt?: number | undefined },
  now: number,
  withBar = true,
): string {
  const toFetch = p.planned - p.cached - p.absent;
  if (p.fetched === 0 && p.failed === 0 && p.done >= p.planned)
    return `${label("tiles")}  all ${p.planned} present (${p.cached} cached, ${p.absent} known absent): nothing to fetch`;
  const seconds = Math.max(0.001, ((p.endedAt ?? now) - p.startedAt) / 1000);
  const tileRate = p.fetched / seconds;
  const fetchedOfPlan = `${p.fetched}/${toFetch} fetched`;
  return [
    label("tiles"),
    withBar ? bar(toFetch <= 0 ? 1 : (p.fetched + p.failed) / toFetch) : "",
    `${fetchedOfPlan} (${p.done}/${p.planned} incl. cached)`,
    formatBytes(p.bytesFetched),
    formatByteRate(p.bytesFetched / seconds),
    `${tileRate.toFixed(0)} tiles/s`,
    `ETA ${formatEta(p.planned - p.done, tileRate)}`,
    p.failed > 0 ? `${p.failed} failed` : "",
  ]
    .filter(Boolean)
    .join("  ");
}

function syncLine(name: string, s: SyncRow, now: number, withBar = true): string {
  const seconds = Math.max(0.001, ((s.endedAt ?? now) - s.startedAt) / 1000);
  const head = label(name);
  if (s.total === 0) return `${head} nothing to send: the companion has every file`;
  return [
    head,
    withBar ? bar(s.sent / s.total) : "",
    `${s.sent}/${s.total} files`,
    formatBytes(s.bytesSent),
    formatByteRate(s.bytesSent / seconds),
    s.endedAt !== undefined ? "done" : `ETA ${formatEta(s.total - s.sent, s.sent / seconds)}`,
  ]
    .filter(Boolean)
    .join("  ");
}

function remoteLines(r: RemoteBuildState, now: number): string[] {
  const modelElapsed = r.elapsedS === undefined ? undefined : r.elapsedS + (now - r.elapsedAt) / 1000;
  const building =
    r.model === undefined
      ? "checking engines"
      : `${r.model}${r.builder === undefined ? "" : ` (${r.builder})`}: ${r.buildPhase ?? "started"}${
          modelElapsed === undefined ? "" : ` ${formatClock(modelElapsed)}`
        }`;
  const lines = [
    `  ${label("remote")}  ${building}  (remote ${formatClock((now - r.startedAt) / 1000)}${
      r.finished.length > 0 ? `; ${r.finished.join(", ")}` : ""
    })`,
  ];
  if (r.lastLine !== undefined) lines.push(`  ${label("last line")}  ${r.lastLine}`);
  return lines;
}

function parseRecord(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A remote line drawn in the live area: no control characters that could move the cursor. */
function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u009b]/g, " ").trim();
}
