/**
 * Layers the architecture check has read before, by digest: what a layer leaves in the file tree (layers.ts's
 * LayerChanges) depends on its bytes only, so a layer checked in an earlier run on this runner (a toolchain's base
 * layers, unchanged between releases) is not read again. Kept in the runner's tool cache, a bounded number of
 * entries, never anything but paths, modes, link targets and the first bytes of executables.
 *
 * What an entry may be trusted for (decided once; anything that reads the cache relies on exactly this): an entry
 * is the listing of the layer whose content digest it is stored under, written by a run of this action as this
 * runner's OS user. Each entry carries an HMAC-SHA256, under a key of this user's, of the layer's digest and the
 * listing together; an entry whose MAC does not verify (pre-seeded by name, moved to another digest, written under
 * another key, or written by an older version without one) is ignored and the layer read again. The key is 32
 * random bytes in a file of the user's home (`~/.config/go-build-action/layer-cache.key`), made 0600, and used only
 * while it is a regular file this user owns that no one else can read: not in the tool cache, so neither a tool
 * cache shared with other users, nor one restored from an actions/cache entry or copied from another machine,
 * brings a key with it.
 *
 * What it does not stop: every process that runs as the runner's user can read the key, and so forge entries. On a
 * runner that runs code it does not trust as that user (a later step of the same job, another workflow's job on a
 * self-hosted runner, a fork's pull request given a self-hosted runner), that code could equally replace the docker
 * CLI, its plugins, or the runner itself; the cache grants it nothing more. A build's own steps run inside BuildKit,
 * not as the runner's user, and cannot reach the key. "Only this action's runs" therefore means: this user's runs
 * on this machine. Where that is not enough, the cache is an optimisation only: without a usable key it is off.
 */
import * as core from '@actions/core'
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import * as path from 'node:path'
import type { LayerChanges, LayerEntry } from './layers.js'
import * as log from '../core/log.js'
import { mapLimited } from '../core/limit.js'

export interface LayerCache {
  get(digest: string): Promise<LayerChanges | undefined>
  /** Stores a layer's changes and returns them. */
  put(digest: string, changes: LayerChanges): Promise<LayerChanges>
  /** Every entry the cache holds that {@link get} would answer, read and verified now, each parsed when first asked for. */
  known(): Promise<KnownLayers>
}

/** Entries read and verified at one time: digest → the layer's changes (parsed on the first call; undefined if unparsable). */
export type KnownLayers = ReadonlyMap<string, () => LayerChanges | undefined>

/** A cache that keeps nothing. */
export const noLayerCache: LayerCache = {
  get: async () => undefined,
  put: async (_digest, changes) => changes,
  known: async () => new Map()
}

/** Parses an entry's listing once, when first asked for. */
function parsedOnce(serialized: string): () => LayerChanges | undefined {
  let parsed: LayerChanges | undefined
  let tried = false
  return () => {
    if (!tried) {
      tried = true
      try {
        parsed = deserializeChanges(serialized)
      } catch {
        parsed = undefined
      }
    }
    return parsed
  }
}

/**
 * `inner`, answering first from `entries` (read from a cache earlier, {@link LayerCache.known}): what was read then
 * stays the answer, whatever happens to the cache's files in between (another run's prune, a changed key).
 */
export function withKnownLayers(entries: KnownLayers, inner: LayerCache): LayerCache {
  return {
    get: async digest => entries.get(digest)?.() ?? inner.get(digest),
    put: (digest, changes) => inner.put(digest, changes),
    known: async () => new Map([...(await inner.known()), ...entries])
  }
}

/** How many layers the cache keeps; the oldest go first. */
export const LAYER_CACHE_ENTRIES = 256

/** The directory of the layer cache: `$RUNNER_TOOL_CACHE/go-build-action/checked-layers-v2` (v1 had no MAC). */
export function layerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.RUNNER_TOOL_CACHE || path.join(tmpdir(), 'go-build-action-cache'), 'go-build-action', 'checked-layers-v2')
}

/** The file of the key that signs the layer cache's entries: in the runner user's home, never in the tool cache. */
export function layerCacheKeyFile(home: string = homedir()): string {
  return path.join(home, '.config', 'go-build-action', 'layer-cache.key')
}

const KEY_BYTES = 32
/** What the MAC covers besides the listing: the scheme, then the layer's digest. */
const MAC_SCHEME = 'go-build-action layer cache v2'

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

/** The MAC of a layer's listing: HMAC-SHA256 over the scheme, the layer's digest and the serialized listing. */
export function entryMac(key: Buffer, digest: string, serialized: string): string {
  return createHmac('sha256', key).update(`${MAC_SCHEME}\0${digest}\0`).update(serialized).digest('hex')
}

/** An entry as stored: the listing and its MAC. */
interface StoredFile {
  mac: string
  changes: string
}

/**
 * The key at `file`, made (32 random bytes, 0600) when there is none; undefined, with the reason, when the file is
 * not one only this user can read (then the cache is off: someone else may know the key).
 */
export async function readOrCreateKey(file: string): Promise<{ key?: Buffer; problem?: string }> {
  const opened = async (): Promise<FileHandle | NodeJS.ErrnoException> => open(file, 'r').catch((error: NodeJS.ErrnoException) => error)
  let handle = await opened()
  if (!('stat' in handle) && handle.code === 'ENOENT') {
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
      // made aside and linked into place: a concurrent run finds no key or the whole key, never half of one
      const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
      await writeFile(aside, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' })
      await link(aside, file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
      })
      await rm(aside, { force: true })
    } catch (error) {
      return { problem: `cannot make the key ${file}: ${(error as Error).message}` }
    }
    handle = await opened()
  }
  if (!('stat' in handle)) return { problem: `cannot read the key ${file}: ${handle.message}` }
  try {
    // checked on the open file: what is read is what was checked
    const info = await handle.stat()
    const uid = process.getuid?.()
    if (!info.isFile() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o077) !== 0 || info.size !== KEY_BYTES) {
      return {
        problem: `the key ${file} is not a ${KEY_BYTES}-byte file that only this user (uid ${uid ?? '?'}) can read (owner uid ${info.uid}, mode ${(info.mode & 0o777).toString(8)}, ${info.size} bytes): remove it, and the next run makes a new one`
      }
    }
    const key = Buffer.alloc(KEY_BYTES)
    const { bytesRead } = await handle.read(key, 0, KEY_BYTES, 0)
    return bytesRead === KEY_BYTES ? { key } : { problem: `the key ${file} could not be read whole` }
  } finally {
    await handle.close()
  }
}

/**
 * The layer cache in a directory, its entries signed with the key in `keyFile` (see the module comment): an entry
 * that fails its MAC is ignored; without a usable key nothing is read or kept. Any failure to read or write the
 * cache only means the layer is read.
 */
export function directoryLayerCache(dir: string = layerCacheDir(), limit = LAYER_CACHE_ENTRIES, keyFile: string = layerCacheKeyFile()): LayerCache {
  const file = (digest: string): string => path.join(dir, `${digest.replace(/[^a-z0-9]/gi, '-')}.json`)
  /** An entry's serialized listing, once its MAC verifies. */
  const verified = async (digest: string): Promise<string | undefined> => {
    const secret = await key()
    if (!secret) return undefined
    let stored: StoredFile
    try {
      stored = JSON.parse(await readFile(file(digest), 'utf8')) as StoredFile
    } catch {
      return undefined
    }
    const expected = Buffer.from(entryMac(secret, digest, String(stored.changes)), 'hex')
    const given = Buffer.from(typeof stored.mac === 'string' ? stored.mac : '', 'hex')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      log.info(`the layer cache's entry for ${digest} is not one this runner's runs wrote (its MAC does not verify): ignored, the layer is read`)
      return undefined
    }
    return String(stored.changes)
  }
  let keyPromise: Promise<Buffer | undefined> | undefined
  const key = (): Promise<Buffer | undefined> =>
    (keyPromise ??= readOrCreateKey(keyFile).then(({ key, problem }) => {
      if (problem) core.warning(`the layer cache is off (every layer is read): ${problem}`)
      return key
    }))
  return {
    async get(digest) {
      const serialized = await verified(digest)
      return serialized === undefined ? undefined : parsedOnce(serialized)()
    },
    async known() {
      const names = await readdir(dir).catch(() => [] as string[])
      const digests = names.flatMap(n => /^sha256-([a-f0-9]{64})\.json$/.exec(n)?.[1] ?? []).map(hex => `sha256:${hex}`)
      const read = await mapLimited(digests, KNOWN_READ_CONCURRENCY, async digest => [digest, await verified(digest)] as const)
      return new Map(read.flatMap(([digest, serialized]) => (serialized === undefined ? [] : [[digest, parsedOnce(serialized)] as const])))
    },
    async put(digest, changes) {
      const secret = await key()
      if (!secret) return changes
      try {
        await mkdir(dir, { recursive: true })
        const target = file(digest)
        const serialized = serializeChanges(changes)
        const stored: StoredFile = { mac: entryMac(secret, digest, serialized), changes: serialized }
        // written aside and renamed: a concurrent run never reads half an entry
        const temporary = `${target}.${process.pid}.tmp`
        await writeFile(temporary, JSON.stringify(stored))
        await rename(temporary, target)
        await prune(dir, limit)
      } catch (error) {
        core.debug(`the layer cache ${dir} could not keep ${digest}: ${(error as Error).message}`)
      }
      return changes
    }
  }
}

/** How many of the cache's entries {@link LayerCache.known} reads at once. */
const KNOWN_READ_CONCURRENCY = 8

/** Keeps the newest `limit` entries. */
async function prune(dir: string, limit: number): Promise<void> {
  const names = (await readdir(dir)).filter(n => n.endsWith('.json'))
  if (names.length <= limit) return
  const dated = await Promise.all(names.map(async n => ({ n, t: (await stat(path.join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })))
  dated.sort((a, b) => a.t - b.t)
  await Promise.all(dated.slice(0, names.length - limit).map(({ n }) => rm(path.join(dir, n), { force: true })))
}
