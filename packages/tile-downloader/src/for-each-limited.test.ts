import { describe, expect, it } from "vitest";
import { forEachLimited } from "./for-each-limited.js";

/** A call that stays in flight until released, so the test sees what runs at once. */
function gatedCalls() {
  const started: number[] = [];
  const release = new Map<number, () => void>();
  let waiter: (() => void) | undefined;
  const fn = (item: number) =>
    new Promise<void>((resolve) => {
      started.push(item);
      release.set(item, resolve);
      waiter?.();
    });
  const untilStarted = async (count: number) => {
    while (started.length < count) await new Promise<void>((resolve) => (waiter = resolve));
  };
  return { started, release, fn, untilStarted };
}

describe("forEachLimited", () => {
  it("keeps at most `limit` calls in flight, taking items in order", async () => {
    const calls = gatedCalls();
    const done = forEachLimited([1, 2, 3, 4, 5], 2, calls.fn);
    await calls.untilStarted(2);
    expect(calls.started).toEqual([1, 2]);
    calls.release.get(2)!();
    await calls.untilStarted(3);
    expect(calls.started).toEqual([1, 2, 3]);
    for (const item of [1, 3]) calls.release.get(item)!();
    await calls.untilStarted(5);
    for (const item of [4, 5]) calls.release.get(item)!();
    await done;
    expect(calls.started).toEqual([1, 2, 3, 4, 5]);
  });

  it("after a failure takes no new item, waits for the calls in flight, then rejects with the first error", async () => {
    const finished: number[] = [];
    let releaseSlow: (() => void) | undefined;
    const done = forEachLimited([1, 2, 3, 4], 2, async (item) => {
      if (item === 1) {
        await new Promise<void>((resolve) => (releaseSlow = resolve));
        finished.push(1);
        return;
      }
      throw new Error(`failed ${item}`);
    });
    let settled = false;
    void done.catch(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled, "must wait for the call still in flight").toBe(false);
    releaseSlow!();
    await expect(done).rejects.toThrow("failed 2");
    expect(finished).toEqual([1]);
  });

  it("takes no new item once the signal aborts", async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    await forEachLimited(
      [1, 2, 3, 4],
      1,
      async (item) => {
        seen.push(item);
        if (item === 2) controller.abort();
      },
      controller.signal,
    );
    expect(seen).toEqual([1, 2]);
  });
});
