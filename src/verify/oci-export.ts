/**
 * The build's own export of its result, read as it streams past: buildx writes what it pushes (or loads) once more
 * as an OCI image layout in a tar on its standard output (`--output type=oci,dest=-`, build.ts), and this reads that
 * tar as it comes, nothing written to the runner's disk. Every blob is hashed and must be the digest it is named by;
 * every layer is decompressed and read for the architecture check (layers.ts) on the way, unless the layer cache
 * knows its digest (then it is only hashed); the small blobs (index, manifests, configs) are kept. Whether the
 * registry holds this very content is a comparison of digests with what it serves (architecture.ts).
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { PassThrough, Readable, type Writable } from 'node:stream'
import type { Descriptor, ImageIndex } from '../core/registry.js'
import { readLayer, scanTar, type EntryReader, type LayerChanges } from './layers.js'
import { noLayerCache, type LayerCache } from './layer-cache.js'
import { INDEX_TYPES, isPlatformIndex, platformManifestsOf } from './oci-layout.js'

/** Blobs up to this size that are not layers are kept (indexes, manifests, configs, attestations). */
const KEPT_BLOB_BYTES = 4 * 1024 * 1024

/** What a blob's first bytes say it is: a gzip'd, zstd'd or plain tar layer, or something else. */
type BlobKind = 'gzip' | 'zstd' | 'tar' | 'other'

/** Bytes needed to tell a plain tar (its `ustar` magic at offset 257). */
const SNIFF_BYTES = 262

export function blobKind(head: Buffer): BlobKind {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd'
  if (head.length >= SNIFF_BYTES && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar'
  return 'other'
}

/** The kind of layer a media type declares (`other` for one that is not a tar layer). */
export function declaredKind(mediaType: string): BlobKind {
  if (/gzip/.test(mediaType)) return 'gzip'
  if (/zstd/.test(mediaType)) return 'zstd'
  return /tar$/.test(mediaType) ? 'tar' : 'other'
}

const MEDIA_TYPES: Record<Exclude<BlobKind, 'other'>, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  tar: 'application/vnd.oci.image.layer.v1.tar'
}

export class OciExportError extends Error {
  override name = 'OciExportError'
}

interface ReadLayer {
  kind: BlobKind
  changes: Promise<LayerChanges>
}

/** The build's export, read: its index.json, its small blobs, and what each layer leaves in the file tree. */
export class OciExport {
  constructor(
    private readonly top: ImageIndex,
    private readonly small: ReadonlyMap<string, Buffer>,
    private readonly layers: ReadonlyMap<string, ReadLayer>,
    /** Bytes of the export read, and of them the layers decompressed and read (the rest the cache knew). */
    readonly bytes: { total: number; layersRead: number; layersCached: number }
  ) {}

  /** A small blob (index, manifest, config), parsed. */
  async json<T>(digest: string): Promise<T> {
    const bytes = this.small.get(digest)
    if (!bytes) throw new OciExportError(`the build's export has no blob ${digest}`)
    return JSON.parse(bytes.toString('utf8')) as T
  }

  /** Whether the export holds a manifest by that digest (every blob was hashed as it was read). */
  async hasManifest(digest: string): Promise<boolean> {
    return this.small.has(digest)
  }

  /** What a layer leaves in the file tree; its bytes must be of the kind its media type declares. */
  async layer(digest: string, mediaType: string): Promise<LayerChanges> {
    const read = this.layers.get(digest)
    const declared = declaredKind(mediaType)
    if (read) {
      if (read.kind !== declared) throw new OciExportError(`its media type is ${mediaType}, but its bytes are ${read.kind === 'other' ? 'not a tar layer' : `a ${read.kind} layer`}`)
      return read.changes
    }
    const bytes = this.small.get(digest)
    if (!bytes) throw new OciExportError(`the build's export does not hold it`)
    return readLayer(Readable.from([bytes]), mediaType)
  }

  /** Platform (`linux/arm64`) → image manifest digest, for every platform image of the export (oci-layout.ts platformManifestsOf). */
  async platformManifests(): Promise<Record<string, string>> {
    return platformManifestsOf(this.top, this, async () => this.indexBlobs())
  }

  /** The image indexes among the export's small blobs. */
  private indexBlobs(): Descriptor[] {
    const found: Descriptor[] = []
    for (const [digest, bytes] of this.small) {
      try {
        if (isPlatformIndex(JSON.parse(bytes.toString('utf8')) as Partial<ImageIndex>)) found.push({ mediaType: INDEX_TYPES[0]!, digest, size: bytes.length })
      } catch {
        // a config or an attestation: not an index
      }
    }
    return found
  }
}

/**
 * Reads an OCI image layout tar as it streams: see the file's comment. Resolves once the stream has ended and every
 * layer is read (and kept in the layer cache), every blob's hash checked. `readLayers: false` (`architecture-check:
 * off`): every blob is hashed, no layer decompressed.
 */
export async function readOciExport(stream: AsyncIterable<Buffer | Uint8Array>, cache: LayerCache = noLayerCache, readLayers = true): Promise<OciExport> {
  let top: ImageIndex | undefined
  const small = new Map<string, Buffer>()
  const layers = new Map<string, ReadLayer>()
  const bytes = { total: 0, layersRead: 0, layersCached: 0 }

  const blobReader = (digest: string, size: number): EntryReader => {
    const hash = createHash('sha256')
    let head: Buffer[] = []
    let headBytes = 0
    let kind: BlobKind | undefined
    let kept: Buffer[] | undefined
    // a layer being read: its bytes go through `input`; `failed` once its read has failed (the rest is only hashed)
    let parse: { input: PassThrough; changes: Promise<LayerChanges>; failed: boolean } | undefined
    let cached: LayerChanges | undefined

    const start = async (first: Buffer): Promise<void> => {
      kind = blobKind(first)
      if (kind === 'other') {
        if (size <= KEPT_BLOB_BYTES) kept = []
        return
      }
      if (!readLayers) return
      cached = await cache.get(digest)
      if (cached) {
        bytes.layersCached += size
        return
      }
      bytes.layersRead += size
      const input = new PassThrough()
      const changes = readLayer(input, MEDIA_TYPES[kind])
      parse = { input, changes, failed: false }
      const current = parse
      changes.catch(() => {
        current.failed = true
      })
    }
    const pass = async (slice: Buffer): Promise<void> => {
      hash.update(slice)
      if (kept) kept.push(Buffer.from(slice))
      if (!parse || parse.failed) return
      if (!parse.input.write(slice)) {
        const { input, changes } = parse
        // the read drains the input, or fails (and then drains nothing)
        await Promise.race([once(input, 'drain'), changes.catch(() => undefined)])
      }
    }
    return {
      async data(slice) {
        bytes.total += slice.length
        if (kind !== undefined) return pass(slice)
        head.push(Buffer.from(slice))
        headBytes += slice.length
        if (headBytes < SNIFF_BYTES && headBytes < size) return
        const first = Buffer.concat(head)
        head = []
        await start(first)
        await pass(first)
      },
      async end() {
        if (kind === undefined) {
          const first = Buffer.concat(head)
          await start(first)
          await pass(first)
        }
        const actual = `sha256:${hash.digest('hex')}`
        if (actual !== digest) throw new OciExportError(`the build's export holds a blob named ${digest} whose bytes hash to ${actual}: the export is corrupt`)
        if (kept) small.set(digest, Buffer.concat(kept))
        if (cached) layers.set(digest, { kind: kind!, changes: Promise.resolve(cached) })
        else if (parse) {
          parse.input.end()
          const changes = parse.changes.then(c => cache.put(digest, c))
          changes.catch(() => undefined)
          layers.set(digest, { kind: kind!, changes })
        }
      }
    }
  }

  await scanTar(stream, header => {
    if (header.type !== 'file') return undefined
    const name = header.name.replace(/^(\.\/)+/, '')
    if (name === 'index.json') {
      const parts: Buffer[] = []
      return {
        data: slice => void parts.push(Buffer.from(slice)),
        end: () => {
          top = JSON.parse(Buffer.concat(parts).toString('utf8')) as ImageIndex
        }
      }
    }
    const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name)
    return blob ? blobReader(`sha256:${blob[1]}`, header.size) : undefined
  })
  if (!top) throw new OciExportError("the build's export has no index.json: it is not an OCI image layout")
  // the last layers' reads end with the stream's tail (a layer that failed says so where it is used)
  await Promise.allSettled([...layers.values()].map(l => l.changes))
  return new OciExport(top, small, layers, bytes)
}

/**
 * The export of one build command: a fresh stream to write it into for each attempt (the exec wrapper asks for one
 * per attempt, docker.ts), and the last attempt's export, read.
 */
export class StreamedExport {
  private current?: Promise<OciExport>

  constructor(
    private readonly cache: LayerCache = noLayerCache,
    private readonly readLayers = true
  ) {}

  /** A stream for one attempt's tar; reading it starts now. */
  readonly sink = (): Writable => {
    const input = new PassThrough()
    const read = readOciExport(input, this.cache, this.readLayers)
    // awaited by contents(); a failed attempt's read is never an unhandled rejection
    read.catch(() => undefined)
    this.current = read
    return input
  }

  /** The last attempt's export, once its stream has ended. */
  contents(): Promise<OciExport> {
    if (!this.current) return Promise.reject(new OciExportError('the build wrote no export to read'))
    return this.current
  }
}
