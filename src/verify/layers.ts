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

/**
 * The size of the decompressor's output chunks: zlib's default (16 KiB) costs a thread-pool round trip and an
 * allocation per 16 KiB of a layer's tar; 256 KiB halves the CPU of decompressing a go-build-sized image (measured
 * on its 1.5 GB of tar: 5.3 CPU-s at 16 KiB, 2.7 at 256 KiB).
 */
export const DECOMPRESSED_CHUNK_BYTES = 256 * 1024

/** The decompressing stream for a layer media type. */
export function decompressor(mediaType: string): NodeJS.ReadWriteStream | undefined {
  if (/gzip/.test(mediaType)) return zlib.createGunzip({ chunkSize: DECOMPRESSED_CHUNK_BYTES })
  if (/zstd/.test(mediaType)) {
    const create = (zlib as unknown as { createZstdDecompress?: (options: { chunkSize: number }) => NodeJS.ReadWriteStream }).createZstdDecompress
    if (!create) throw new Error(`a layer is ${mediaType}, which this Node cannot decompress (Node 22.15 or later can)`)
    return create({ chunkSize: DECOMPRESSED_CHUNK_BYTES })
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

/** One entry of a tar stream, as its header (and a pax header or GNU long name before it) describes it. */
export interface TarHeader {
  /** The name as archived (pax \`path\`, GNU long name and ustar prefix applied), not normalized. */
  name: string
  type: LayerEntry['type']
  /** The raw typeflag, for the kinds {@link LayerEntry} does not tell apart. */
  typeflag: string
  mode: number
  link: string
  size: number
}

/** What reads an entry's data: each slice in order (awaited when it returns a promise), then the end. */
export interface EntryReader {
  data(slice: Buffer): void | Promise<void>
  end(): void | Promise<void>
}

interface EntryData {
  remaining: number
  padding: number
  reader?: EntryReader
}

function entryType(typeflag: string): LayerEntry['type'] {
  return typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '2' ? 'symlink' : typeflag === '1' ? 'hardlink' : typeflag === '5' ? 'directory' : 'other'
}

/** A reader keeping an entry's data (a pax header, a long name), then handing it on. */
function keepAll(done: (data: Buffer) => void): EntryReader {
  const parts: Buffer[] = []
  return { data: slice => void parts.push(Buffer.from(slice)), end: () => done(Buffer.concat(parts)) }
}

/**
 * Reads a tar stream entry by entry: `onEntry` gets each entry's header and returns the reader of its data, or
 * undefined to skip the data. Long names (pax \`path\`, GNU \`L\`) are followed; pax and GNU headers are not
 * entries. A stream that ends in the middle of an entry is a {@link LayerReadError}.
 */
export async function scanTar(
  stream: AsyncIterable<Buffer | Uint8Array>,
  onEntry: (header: TarHeader) => EntryReader | undefined | Promise<EntryReader | undefined>
): Promise<void> {
  let pending: Buffer = Buffer.alloc(0)
  // what the bytes being read belong to: the next header (data undefined), or an entry's data and padding
  let at: EntryData | undefined
  let pax: Record<string, string> = {}
  let longName: string | undefined
  let longLink: string | undefined
  let ended = false

  const onHeader = async (block: Buffer): Promise<void> => {
    if (block.every(b => b === 0)) {
      ended = true
      return
    }
    const typeflag = String.fromCharCode(block[156] || 48)
    const size = pax.size !== undefined ? Number(pax.size) : octal(block, 124, 12)
    const prefix = text(block, 257, 6) === 'ustar' ? text(block, 345, 155) : ''
    const name = longName ?? pax.path ?? (prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100))
    const link = longLink ?? pax.linkpath ?? text(block, 157, 100)
    const padding = (512 - (size % 512)) % 512
    let reader: EntryReader | undefined
    if (typeflag === 'x') reader = keepAll(data => (pax = { ...pax, ...paxRecords(data) }))
    else if (typeflag === 'L') reader = keepAll(data => (longName = data.toString('utf8').replace(/\0+$/, '')))
    else if (typeflag === 'K') reader = keepAll(data => (longLink = data.toString('utf8').replace(/\0+$/, '')))
    else if (typeflag !== 'g') {
      pax = {}
      longName = undefined
      longLink = undefined
      reader = await onEntry({ name, type: entryType(typeflag), typeflag, mode: octal(block, 100, 8), link, size })
    }
    if (size === 0) await reader?.end()
    else at = { remaining: size, padding, reader }
  }

  for await (const chunk of stream) {
    // after the end-of-archive blocks only padding follows: drained, so the stream ends as streams do
    if (ended) continue
    // a chunk is read in place (readers copy what they keep); only a header cut across two chunks is joined
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
    pending = pending.length === 0 ? bytes : Buffer.concat([pending, bytes])
    let offset = 0
    while (!ended) {
      const current = at
      if (!current) {
        if (pending.length - offset < 512) break
        await onHeader(pending.subarray(offset, offset + 512))
        offset += 512
        continue
      }
      if (current.remaining > 0) {
        const take = Math.min(current.remaining, pending.length - offset)
        if (take === 0) break
        if (current.reader) {
          const wrote = current.reader.data(pending.subarray(offset, offset + take))
          if (wrote) await wrote
        }
        current.remaining -= take
        offset += take
        if (current.remaining > 0) break
        const finished = current.reader?.end()
        if (finished) await finished
      }
      const skip = Math.min(current.padding, pending.length - offset)
      current.padding -= skip
      offset += skip
      if (current.padding > 0) break
      at = undefined
    }
    pending = pending.subarray(offset)
  }
  if (!ended && (at !== undefined || pending.length > 0)) {
    throw new LayerReadError('the layer ends in the middle of an entry: the blob is cut short or truncated')
  }
}

/**
 * Reads one layer (an uncompressed tar stream): every entry's type, mode and link target, and the first
 * {@link ELF_HEAD_BYTES} of regular files with an execute bit. Long names (pax \`path\`, GNU \`L\`) are followed.
 */
export async function readTar(stream: AsyncIterable<Buffer | Uint8Array>): Promise<LayerChanges> {
  const changes: LayerChanges = { entries: new Map(), deleted: [], opaque: [] }
  await scanTar(stream, ({ name, type, mode, link, size }) => {
    const path = normalize(name)
    const base = path.slice(path.lastIndexOf('/') + 1)
    const dir = path.slice(0, path.lastIndexOf('/')) || '/'
    if (base === '.wh..wh..opq') {
      changes.opaque.push(dir)
      return undefined
    }
    if (base.startsWith('.wh.')) {
      changes.deleted.push(`${dir === '/' ? '' : dir}/${base.slice(4)}`)
      return undefined
    }
    const entry: LayerEntry = type === 'symlink' || type === 'hardlink' ? { type, mode, link } : { type, mode }
    changes.entries.set(path, entry)
    if (type !== 'file' || (mode & 0o111) === 0) return undefined
    if (size === 0) {
      entry.head = new Uint8Array(0)
      return undefined
    }
    // an executable: its first bytes, for the ELF header
    const parts: Buffer[] = []
    let kept = 0
    return {
      data: slice => {
        if (kept >= ELF_HEAD_BYTES) return
        const part = Buffer.from(slice.subarray(0, ELF_HEAD_BYTES - kept))
        parts.push(part)
        kept += part.length
      },
      end: () => {
        entry.head = new Uint8Array(Buffer.concat(parts))
      }
    }
  })
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
