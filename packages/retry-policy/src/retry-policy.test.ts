import { describe, expect, it } from "vitest";
import { backoffDelay, parseRetryAfter, sleep } from "./retry-policy.js";

describe("retry policy", () => {
  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter("1.5")).toBe(1500);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it("backs off exponentially with jitter, within the cap", () => {
    for (let round = 0; round < 200; round++) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const delay = backoffDelay(100, attempt, 2000);
        // Whole milliseconds: the upper end of the jitter may round up to exactly 1.5×.
        expect(delay).toBeGreaterThanOrEqual(Math.min(2000, 100 * 2 ** attempt) * 0.5);
        expect(delay).toBeLessThanOrEqual(Math.min(2000, 100 * 2 ** attempt) * 1.5);
      }
    }
  });

  it("sleep ends early, without throwing, when aborted", async () => {
    const controller = new AbortController();
    // A minute: longer than the test's timeout, so only the abort can end it in time.
    const sleeping = sleep(60_000, controller.signal);
    controller.abort();
    await expect(sleeping).resolves.toBeUndefined();
    await expect(sleep(60_000, controller.signal)).resolves.toBeUndefined();
  });
});
