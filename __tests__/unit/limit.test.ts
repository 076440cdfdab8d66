import { describe, expect, it } from '@jest/globals'
import { forEachLimited, mapLimited } from '../../src/core/limit.js'

/** Tasks that end only when the test says so: which have started, and how many ran at once at most. */
function gatedTasks() {
  const started: number[] = []
  const gates = new Map<number, { open: () => void; fail: (error: Error) => void }>()
  let running = 0
  let most = 0
  const task = (item: number): Promise<number> => {
    started.push(item)
    running++
    most = Math.max(most, running)
    return new Promise<number>((resolve, reject) => {
      gates.set(item, {
        open: () => {
          running--
          resolve(item * 10)
        },
        fail: error => {
          running--
          reject(error)
        }
      })
    })
  }
  /** Lets pending promise callbacks run (no timer: only the microtask and I/O queues). */
  const settle = () => new Promise(resolve => setImmediate(resolve))
  return { task, started, gates, settle, most: () => most }
}

describe('forEachLimited / mapLimited', () => {
  it('runs at most `limit` tasks at once, starting them in the items\' order as earlier ones end', async () => {
    const t = gatedTasks()
    const all = forEachLimited([1, 2, 3, 4, 5], 2, async item => void (await t.task(item)))
    await t.settle()
    expect(t.started).toEqual([1, 2])
    t.gates.get(2)!.open()
    await t.settle()
    expect(t.started).toEqual([1, 2, 3])
    for (const item of [1, 3, 4, 5]) {
      await t.settle()
      t.gates.get(item)!.open()
    }
    await all
    expect(t.started).toEqual([1, 2, 3, 4, 5])
    expect(t.most()).toBe(2)
  })

  it('after the first failure starts no further task, waits for the running ones, and throws the first error', async () => {
    const t = gatedTasks()
    let done = false
    const all = forEachLimited([1, 2, 3, 4], 2, async item => void (await t.task(item))).finally(() => (done = true))
    await t.settle()
    t.gates.get(1)!.fail(new Error('first'))
    await t.settle()
    // task 2 still runs: the call has not ended, and nothing else started
    expect(done).toBe(false)
    expect(t.started).toEqual([1, 2])
    t.gates.get(2)!.fail(new Error('second'))
    await expect(all).rejects.toThrow('first')
    expect(t.started).toEqual([1, 2])
  })

  it('mapLimited returns every result in the items\' order, whatever order they end in', async () => {
    const t = gatedTasks()
    const all = mapLimited([1, 2, 3], 3, t.task)
    await t.settle()
    for (const item of [3, 1, 2]) t.gates.get(item)!.open()
    expect(await all).toEqual([10, 20, 30])
  })

  it('an empty list runs nothing; a limit below 1 still runs one at a time', async () => {
    expect(await mapLimited([], 4, async () => 1)).toEqual([])
    const t = gatedTasks()
    const all = mapLimited([1, 2], 0, t.task)
    await t.settle()
    expect(t.started).toEqual([1])
    t.gates.get(1)!.open()
    await t.settle()
    t.gates.get(2)!.open()
    expect(await all).toEqual([10, 20])
    expect(t.most()).toBe(1)
  })
})
