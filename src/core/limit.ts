/**
 * Bounded concurrency for independent registry operations.
 */

/** How many registry operations of one step run at once. */
export const REGISTRY_CONCURRENCY = 4

/**
 * Runs `task` for every item, at most `limit` at a time, in the items' order. After the first failure no further
 * task starts; the ones running are awaited, and the first error is thrown.
 */
export async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T
      try {
        await task(item)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  if (failure) throw failure.error
}

/** `forEachLimited` that keeps every result, in the items' order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length)
  const indexed = items.map((item, i) => ({ item, i }))
  await forEachLimited(indexed, limit, async ({ item, i }) => {
    results[i] = await task(item)
  })
  return results
}
