/**
 * Runs `fn` over `items` with at most `limit` calls in flight, in order of
 * the items. Stops taking new items once `signal` aborts or a call throws;
 * always waits for the calls already running before it settles, so nothing
 * keeps working after it returns. Rejects with the first error thrown.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && failure === undefined && signal?.aborted !== true) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
