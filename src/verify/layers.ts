/**
 * Image layers as the registry stores them (tar, gzip'd or zstd'd), read as a stream: the file tree they leave
 * behind (later layers over earlier ones, whiteouts applied), with the first bytes of every executable file, which
 * is all the architecture check needs. Nothing else of a layer is kept.
 */
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as zlib from 'node:zlib'
import { ELF_HEAD_BYTES } from './elf.js'

export interface LayerEntry {
  type: 'file' | 'symlink' | 'hardlink' | 'directory' | 'other'
  mode: number
  /** Symlink or hardlink target, as archived. */
  link?: string
  /** The first bytes of a regular file with an execute bit. */
  head?: Uint8Array
}

/** Absolute path → entry. */
export type FileTree = Map<string, LayerEntry>

/** One layer's entries and its deletions (whiteouts). */
export interface LayerChanges {
  entries: FileTree
  /** Paths deleted by `.wh.<name>` files. */
  deleted: string[]
  /** Directories made opaque by `.wh..wh..opq`: what earlier layers had under them is gone. */
  opaque: string[]
}

interface EntryData {
  remaining: number
  padding: number
  /** The first `keep` bytes, collected. */
  collect?: Buffer[]
  keep: number
  done: (data: Buffer) => void
}

/** The decompressing stream for a layer media type. */
export function decompressor(mediaType: string): NodeJS.ReadWriteStream | undefined {
  if (/gzip/.test(mediaType)) return zlib.createGunzip()
  if (/zstd/.test(mediaType)) {
    const create = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress
    if (!create) throw new Error(`a layer is ${mediaType}, which this Node cannot decompress (Node 22.15 or later can)`)
    return create()
  }
  if (/\.tar$|tar$/.test(mediaType)) return undefined
  throw new Error(`a layer has media type ${mediaType}, which is not a tar layer`)
}

function normalize(name: string): string {
  const parts: string[] = []
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') parts.pop()
    else parts.push(part)
  }
  return `/${parts.join('/')}`
}

function octal(block: Uint8Array, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length)
  if ((field[0]! & 0x80) !== 0) {
    // base-256 (GNU) for sizes of 8 GiB and more
    let value = field[0]! & 0x7f
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!
    return value
  }
  const text = Buffer.from(field).toString('latin1').replace(/\0.*$/s, '').trim()
  return text === '' ? 0 : parseInt(text, 8)
}

function text(block: Uint8Array, offset: number, length: number): string {
  const field = Buffer.from(block.subarray(offset, offset + length))
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8')
}

/** `len key=value\n` records of a pax extended header. */
function paxRecords(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {}
  let offset = 0
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset)
    if (space === -1) break
    const length = parseInt(data.subarray(offset, space).toString('latin1'), 10)
    if (!length) break
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8')
    const eq = record.indexOf('=')
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1)
    offset += length
  }
  return records
}

/**
 * Reads one layer (an uncompressed tar stream): every entry's type, mode and link target, and the first
 * {@link ELF_HEAD_BYTES} of regular files with an execute bit. Long names (pax `path`, GNU `L`) are followed.
 */
export async function readTar(stream: AsyncIterable<Buffer | Uint8Array>): Promise<LayerChanges> {
  const changes: LayerChanges = { entries: new Map(), deleted: [], opaque: [] }
  let pending = Buffer.alloc(0)
  // what the bytes being read belong to: the next header (data undefined), or an entry's data and padding
  const at: { data?: EntryData } = {}
  let pax: Record<string, string> = {}
  let longName: string | undefined
  let longLink: string | undefined
  let ended = false

  const onHeader = (block: Buffer): void => {
    if (block.every(b => b === 0)) {
      ended = true
      return
    }
    const typeflag = String.fromCharCode(block[156] || 48)
    const size = pax.size !== undefined ? Number(pax.size) : octal(block, 124, 12)
    const prefix = text(block, 257, 6) === 'ustar' ? text(block, 345, 155) : ''
    const name = longName ?? pax.path ?? (prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100))
    const link = longLink ?? pax.linkpath ?? text(block, 157, 100)
    const mode = octal(block, 100, 8)
    const padding = (512 - (size % 512)) % 512
    const consume = (keep: number, done: (data: Buffer) => void): void => {
      if (size === 0) done(Buffer.alloc(0))
      else at.data = { remaining: size, padding, collect: keep > 0 ? [] : undefined, keep, done }
    }
    if (typeflag === 'x') return consume(size, data => (pax = { ...pax, ...paxRecords(data) }))
    if (typeflag === 'g') return consume(0, () => undefined)
    if (typeflag === 'L') return consume(size, data => (longName = data.toString('utf8').replace(/\0+$/, '')))
    if (typeflag === 'K') return consume(size, data => (longLink = data.toString('utf8').replace(/\0+$/, '')))
    pax = {}
    longName = undefined
    longLink = undefined

    const path = normalize(name)
    const base = path.slice(path.lastIndexOf('/') + 1)
    const dir = path.slice(0, path.lastIndexOf('/')) || '/'
    if (base === '.wh..wh..opq') {
      changes.opaque.push(dir)
      return consume(0, () => undefined)
    }
    if (base.startsWith('.wh.')) {
      changes.deleted.push(`${dir === '/' ? '' : dir}/${base.slice(4)}`)
      return consume(0, () => undefined)
    }
    const type: LayerEntry['type'] =
      typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '2' ? 'symlink' : typeflag === '1' ? 'hardlink' : typeflag === '5' ? 'directory' : 'other'
    const entry: LayerEntry = type === 'symlink' || type === 'hardlink' ? { type, mode, link } : { type, mode }
    changes.entries.set(path, entry)
    const executable = type === 'file' && (mode & 0o111) !== 0
    consume(executable ? Math.min(size, ELF_HEAD_BYTES) : 0, data => {
      if (executable) entry.head = new Uint8Array(data)
    })
  }

  for await (const chunk of stream) {
    // after the end-of-archive blocks only padding follows: drained, so the stream ends as streams do
    if (ended) continue
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk])
    let offset = 0
    while (!ended) {
      const current = at.data
      if (!current) {
        if (pending.length - offset < 512) break
        onHeader(pending.subarray(offset, offset + 512))
        offset += 512
        continue
      }
      if (current.remaining > 0) {
        const take = Math.min(current.remaining, pending.length - offset)
        if (take === 0) break
        if (current.collect) {
          const collected = current.collect.reduce((n, b) => n + b.length, 0)
          if (collected < current.keep) current.collect.push(Buffer.from(pending.subarray(offset, offset + Math.min(take, current.keep - collected))))
        }
        current.remaining -= take
        offset += take
        if (current.remaining > 0) break
        current.done(current.collect ? Buffer.concat(current.collect) : Buffer.alloc(0))
      }
      const skip = Math.min(current.padding, pending.length - offset)
      current.padding -= skip
      offset += skip
      if (current.padding > 0) break
      at.data = undefined
    }
    pending = pending.subarray(offset)
  }
  if (!ended && (at.data !== undefined || pending.length > 0)) {
    throw new LayerReadError('the layer ends in the middle of an entry: the blob is cut short or truncated')
  }
  return changes
}

/** A layer that could not be read: a corrupt or cut blob, or a read that failed. */
export class LayerReadError extends Error {
  override name = 'LayerReadError'
}

/**
 * Reads a layer blob stream of the given media type. The blob, the decompressor and the tar reader are one
 * `stream.pipeline`: a failure of any of them (a read error, a cut or corrupt blob) rejects this promise, and every
 * stream is destroyed; nothing is left to raise an unhandled 'error' event.
 */
export async function readLayer(blob: Readable, mediaType: string): Promise<LayerChanges> {
  const decompress = decompressor(mediaType)
  let changes: LayerChanges | undefined
  const consume = async (source: AsyncIterable<string | Buffer>): Promise<void> => {
    changes = await readTar(source as AsyncIterable<Buffer>)
  }
  if (decompress) await pipeline(blob, decompress, consume)
  else await pipeline(blob, consume)
  return changes!
}

/** An entry's path with its parent directory, for the tree's directory index. */
function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/'
}

/**
 * The file tree the layers leave, applied in order. A whiteout of a directory and an opaque directory remove what
 * lower layers have under it through an index of each directory's children, so each removal costs the entries it
 * removes: applying layers costs a number of tree operations proportional to their entries and whiteouts, however
 * many whiteouts a layer has (a toolchain layer of `apt-get purge` can have thousands). `counter.operations` counts
 * them, for the tests.
 */
export function applyLayers(layers: readonly LayerChanges[], counter: { operations: number } = { operations: 0 }): FileTree {
  const tree: FileTree = new Map()
  const children = new Map<string, Set<string>>()
  const removeBelow = (dir: string): void => {
    const below = children.get(dir)
    if (!below) return
    children.delete(dir)
    for (const child of below) {
      counter.operations++
      tree.delete(child)
      removeBelow(child)
    }
  }
  const remove = (path: string): void => {
    counter.operations++
    tree.delete(path)
    children.get(parentOf(path))?.delete(path)
    removeBelow(path)
  }
  const add = (path: string, entry: LayerEntry): void => {
    counter.operations++
    tree.set(path, entry)
    if (path === '/') return
    // the parents' children sets, up to the first that already knew its child (implied directories included)
    let child = path
    for (;;) {
      const parent = parentOf(child)
      let set = children.get(parent)
      if (!set) children.set(parent, (set = new Set()))
      if (set.has(child)) break
      set.add(child)
      counter.operations++
      if (parent === '/') break
      child = parent
    }
  }
  for (const layer of layers) {
    for (const dir of layer.opaque) removeBelow(dir)
    for (const deleted of layer.deleted) remove(deleted)
    for (const [path, entry] of layer.entries) add(path, entry)
  }
  return tree
}

/** Follows symlinks (absolute or relative, in any directory of the path) and hardlinks to the file itself. */
export function resolveEntry(tree: FileTree, path: string, hops = 0): { path: string; entry: LayerEntry } | undefined {
  if (hops > 16) return undefined
  const parts = normalize(path).split('/').slice(1)
  let current = ''
  for (let i = 0; i < parts.length; i++) {
    current = `${current}/${parts[i]}`
    const entry = tree.get(current)
    if (entry?.type === 'symlink' && entry.link) {
      const target = entry.link.startsWith('/') ? entry.link : `${current.slice(0, current.lastIndexOf('/'))}/${entry.link}`
      return resolveEntry(tree, [normalize(target), ...parts.slice(i + 1)].join('/'), hops + 1)
    }
    if (i === parts.length - 1) {
      if (entry?.type === 'hardlink' && entry.link) return resolveEntry(tree, `/${entry.link}`, hops + 1)
      return entry ? { path: current, entry } : undefined
    }
  }
  return undefined
}
