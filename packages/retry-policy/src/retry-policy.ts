/**
 * An HTTP `Retry-After` value in milliseconds: delay-seconds (decimals
 * tolerated) or an HTTP date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Exponential backoff with jitter: `base·2^attempt`, capped at `max`, then
 * scaled by a random factor in [0.5, 1.5) so clients that failed together do
 * not retry together.
 */
export function backoffDelay(baseMs: number, attempt: number, maxMs = Number.POSITIVE_INFINITY): number {
  return Math.round(Math.min(maxMs, baseMs * 2 ** attempt) * (0.5 + Math.random()));
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
