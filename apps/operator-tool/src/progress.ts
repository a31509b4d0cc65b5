import type { CommandContext, LogSink } from "./context.js";

export interface ProgressCounts {
  done: number;
  planned: number;
  fetched: number;
  failed: number;
  bytesFetched: number;
  startedAt: number;
}

/**
 * A live bar on a terminal; otherwise (CI, pipes, --json) a log line every few
 * seconds, so long phases are never silent and never flood the log.
 */
export function createProgressReporter(ctx: CommandContext, label: string, logger: LogSink = ctx.logger) {
  const tty = ctx.stderrIsTTY && !ctx.json;
  let lastDraw = 0;
  let lastLog = Date.now();
  let drawn = false;
  return {
    update(p: ProgressCounts) {
      const now = Date.now();
      if (tty) {
        if (now - lastDraw < 100 && p.done < p.planned) return;
        lastDraw = now;
        drawn = true;
        ctx.err(`\r${renderBar(label, p, now)}\x1b[K`);
      } else if (now - lastLog >= 5_000) {
        lastLog = now;
        logger.info(
          { done: p.done, planned: p.planned, fetched: p.fetched, failed: p.failed, bytes: p.bytesFetched },
          `${label}: ${p.done}/${p.planned}`,
        );
      }
    },
    finish() {
      if (drawn) ctx.err("\n");
    },
  };
}

function renderBar(label: string, p: ProgressCounts, now: number): string {
  const width = 24;
  const fraction = p.planned === 0 ? 1 : p.done / p.planned;
  const filled = Math.round(fraction * width);
  const seconds = Math.max(0.001, (now - p.startedAt) / 1000);
  const rate = p.fetched / seconds;
  const remaining = p.planned - p.done;
  const eta = rate > 0 ? formatMinutes(remaining / rate) : "--:--";
  return `${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${p.done}/${p.planned}  ${(p.bytesFetched / 1e6).toFixed(1)} MB  ${rate.toFixed(0)}/s  ETA ${eta}${p.failed ? `  ${p.failed} failed` : ""}`;
}

function formatMinutes(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
