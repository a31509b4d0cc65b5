/**
 * The one way sizes, rates and times are written for people: IEC units
 * (KiB, MiB, GiB), in bars, summaries and tables alike.
 */

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatByteRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** `m:ss`, or `h:mm:ss` past an hour: elapsed times and ETAs. */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Time left at the rate so far; `--:--` until there is a rate. */
export function formatEta(remaining: number, perSecond: number): string {
  return perSecond > 0 && Number.isFinite(remaining / perSecond)
    ? formatClock(remaining / perSecond)
    : "--:--";
}
