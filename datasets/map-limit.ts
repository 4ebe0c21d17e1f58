/**
 * Maps with at most `limit` calls in flight and keeps the input order, so output (manifest lines, problem lists) is
 * deterministic however the I/O interleaves. sharp runs its work on libuv threads, so a handful in flight keeps both
 * cores busy without queueing thousands of decodes at once.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}
