/**
 * Layers the architecture check has read before, by digest: what a layer leaves in the file tree (layers.ts's
 * LayerChanges) depends on its bytes only, so a layer checked in an earlier run on this runner (a toolchain's base
 * layers, unchanged between releases) is not read again. Kept in the runner's tool cache, a bounded number of
 * entries, never anything but paths, modes, link targets and the first bytes of executables.
 */
import * as core from '@actions/core'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { LayerChanges, LayerEntry } from './layers.js'

export interface LayerCache {
  get(digest: string): Promise<LayerChanges | undefined>
  /** Stores a layer's changes and returns them. */
  put(digest: string, changes: LayerChanges): Promise<LayerChanges>
}

/** A cache that keeps nothing. */
export const noLayerCache: LayerCache = {
  get: async () => undefined,
  put: async (_digest, changes) => changes
}

/** How many layers the cache keeps; the oldest go first. */
export const LAYER_CACHE_ENTRIES = 256

/** The directory of the layer cache: `$RUNNER_TOOL_CACHE/go-build-action/checked-layers-v1`. */
export function layerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.RUNNER_TOOL_CACHE || path.join(tmpdir(), 'go-build-action-cache'), 'go-build-action', 'checked-layers-v1')
}

type StoredEntry = [path: string, type: LayerEntry['type'], mode: number, link: string | null, head: string | null]
interface Stored {
  entries: StoredEntry[]
  deleted: string[]
  opaque: string[]
}

export function serializeChanges(changes: LayerChanges): string {
  const stored: Stored = {
    entries: [...changes.entries].map(([p, e]) => [p, e.type, e.mode, e.link ?? null, e.head ? Buffer.from(e.head).toString('base64') : null]),
    deleted: changes.deleted,
    opaque: changes.opaque
  }
  return JSON.stringify(stored)
}

export function deserializeChanges(text: string): LayerChanges {
  const stored = JSON.parse(text) as Stored
  const entries = new Map<string, LayerEntry>()
  for (const [p, type, mode, link, head] of stored.entries) {
    const entry: LayerEntry = { type, mode }
    if (link !== null) entry.link = link
    if (head !== null) entry.head = new Uint8Array(Buffer.from(head, 'base64'))
    entries.set(p, entry)
  }
  return { entries, deleted: stored.deleted, opaque: stored.opaque }
}

/** The layer cache in a directory; any failure to read or write it only means the layer is read. */
export function directoryLayerCache(dir: string = layerCacheDir(), limit = LAYER_CACHE_ENTRIES): LayerCache {
  const file = (digest: string): string => path.join(dir, `${digest.replace(/[^a-z0-9]/gi, '-')}.json`)
  return {
    async get(digest) {
      try {
        return deserializeChanges(await readFile(file(digest), 'utf8'))
      } catch {
        return undefined
      }
    },
    async put(digest, changes) {
      try {
        await mkdir(dir, { recursive: true })
        const target = file(digest)
        // written aside and renamed: a concurrent run never reads half an entry
        const temporary = `${target}.${process.pid}.tmp`
        await writeFile(temporary, serializeChanges(changes))
        await rename(temporary, target)
        await prune(dir, limit)
      } catch (error) {
        core.debug(`the layer cache ${dir} could not keep ${digest}: ${(error as Error).message}`)
      }
      return changes
    }
  }
}

/** Keeps the newest `limit` entries. */
async function prune(dir: string, limit: number): Promise<void> {
  const names = (await readdir(dir)).filter(n => n.endsWith('.json'))
  if (names.length <= limit) return
  const dated = await Promise.all(names.map(async n => ({ n, t: (await stat(path.join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })))
  dated.sort((a, b) => a.t - b.t)
  await Promise.all(dated.slice(0, names.length - limit).map(({ n }) => rm(path.join(dir, n), { force: true })))
}
