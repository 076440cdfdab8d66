/**
 * The build's local export: an OCI image layout directory (`index.json`, `blobs/sha256/…`) that BuildKit writes
 * (`--output type=oci,dest=DIR,tar=false`, build.ts). Two builds export here instead of streaming (oci-export.ts):
 * - one that pushes nothing and must load its images from it for the verify command (every blob written);
 * - one on a runner whose layer cache knows layers (a runner that keeps its tool cache: the engine path, a
 *   self-hosted builder): the layers it knows are placed first as empty files ({@link placeKnownLayers}). buildx
 *   writes the export into a containerd content store over this directory, which takes a blob whose file exists as
 *   one it already has (containerd's `content.Ingester`: `ErrAlreadyExists`), so BuildKit sends only the blobs not
 *   there: a warm publish sends its manifests and configs, not the image's layers again (measured on the
 *   go-build-sized image, CONTRIBUTING.md), and a layer of a registry cache is not fetched for it. What the cache
 *   did not know is written here, read and removed with the directory.
 * The architecture check reads the layers from here, each once (a layer the layer cache knows by digest not at all).
 */
import { createReadStream } from 'node:fs'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import { platformKey } from '../core/platform.js'
import { isAttestation, type Descriptor, type ImageIndex } from '../core/registry.js'
import { DEFAULT_RETRY, type RetryPolicy } from '../core/retry.js'
import * as core from '@actions/core'
import { readLayer, type LayerChanges } from './layers.js'
import { noLayerCache, type LayerCache } from './layer-cache.js'

export const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']

export class OciLayoutError extends Error {
  override name = 'OciLayoutError'
}

/** One OCI image layout on disk. */
export class OciLayout {
  private readonly layers = new Map<string, Promise<LayerChanges>>()
  /** Layers read from the directory, and layers the layer cache answered. */
  readonly counts = { read: 0, cached: 0 }

  constructor(
    readonly dir: string,
    private readonly cache: LayerCache = noLayerCache,
    private readonly retry: RetryPolicy = DEFAULT_RETRY
  ) {}

  /**
   * What a layer leaves in the file tree: from the layer cache, else read once (again where the read failed for an
   * I/O reason, up to the retry policy's attempts) and kept there.
   */
  layer(digest: string, mediaType: string): Promise<LayerChanges> {
    let changes = this.layers.get(digest)
    if (!changes) {
      changes = (async () => {
        const cached = await this.cache.get(digest)
        if (cached) {
          this.counts.cached++
          return cached
        }
        this.counts.read++
        return this.cache.put(digest, await this.readWithRetry(digest, mediaType))
      })()
      this.layers.set(digest, changes)
    }
    return changes
  }

  private async readWithRetry(digest: string, mediaType: string): Promise<LayerChanges> {
    // a placed file the layer cache no longer answers for (never a layer's bytes: a tar layer is never empty)
    if ((await stat(this.blobPath(digest)).catch(() => undefined))?.size === 0) {
      throw new OciLayoutError(`the build's local export holds no bytes for layer ${digest}, and the layer cache no longer knows it`)
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await readLayer(this.blob(digest), mediaType)
      } catch (error) {
        if (!isTransientReadError(error) || attempt >= this.retry.attempts) throw error
        core.warning(`reading layer ${digest} failed (${(error as Error).message}); reading it again (attempt ${attempt + 1} of ${this.retry.attempts})`)
      }
    }
  }

  /** Bytes of the blobs the build wrote into the layout (the layers placed empty count nothing). */
  async storedBytes(): Promise<number> {
    const dir = path.join(this.dir, 'blobs', 'sha256')
    const sizes = await Promise.all((await readdir(dir).catch(() => [] as string[])).map(async n => (await stat(path.join(dir, n)).catch(() => undefined))?.size ?? 0))
    return sizes.reduce((sum, size) => sum + size, 0)
  }

  /** Where a blob is stored. */
  blobPath(digest: string): string {
    const [algorithm, hex] = digest.split(':')
    if (!algorithm || !hex || !/^[a-z0-9]+$/.test(algorithm) || !/^[a-f0-9]+$/.test(hex)) throw new OciLayoutError(`not a digest: ${digest}`)
    return path.join(this.dir, 'blobs', algorithm, hex)
  }

  /** A small blob (index, manifest, config), parsed. */
  async json<T>(digest: string): Promise<T> {
    let text: string
    try {
      text = await readFile(this.blobPath(digest), 'utf8')
    } catch (error) {
      throw new OciLayoutError(`the build's local export ${this.dir} has no blob ${digest} (${(error as Error).message})`, { cause: error })
    }
    return JSON.parse(text) as T
  }

  /** Whether the layout holds a manifest by that digest (its bytes hash to it: a manifest is small). */
  async hasManifest(digest: string): Promise<boolean> {
    const bytes = await readFile(this.blobPath(digest)).catch(() => undefined)
    const [algorithm, hex] = digest.split(':')
    return bytes !== undefined && algorithm === 'sha256' && createHash('sha256').update(bytes).digest('hex') === hex
  }

  /** A blob as a stream: layers are read as they come off the disk, never held whole. */
  blob(digest: string): Readable {
    return createReadStream(this.blobPath(digest))
  }

  /**
   * Platform (`linux/arm64`) → image manifest digest, for every platform image of the layout (attestations left
   * out). A layout whose index.json names one image manifest without a platform takes the platform from its config.
   * (With several exporters, buildx may write index.json with the last exporter's index digest: where index.json
   * names an index the layout does not hold, the layout's own index is found among its blobs.)
   */
  async platformManifests(): Promise<Record<string, string>> {
    let top: ImageIndex
    try {
      top = JSON.parse(await readFile(path.join(this.dir, 'index.json'), 'utf8')) as ImageIndex
    } catch (error) {
      throw new OciLayoutError(`the build wrote no readable local export at ${this.dir} (${(error as Error).message})`, { cause: error })
    }
    return platformManifestsOf(top, this, () => this.indexBlobs())
  }

  /** The image indexes among the layout's small blobs. */
  private async indexBlobs(): Promise<Descriptor[]> {
    const dir = path.join(this.dir, 'blobs', 'sha256')
    const found: Descriptor[] = []
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const file = path.join(dir, name)
      const size = (await stat(file)).size
      if (size > 1024 * 1024) continue
      try {
        if (isPlatformIndex(JSON.parse(await readFile(file, 'utf8')) as Partial<ImageIndex>)) found.push({ mediaType: INDEX_TYPES[0]!, digest: `sha256:${name}`, size })
      } catch {
        // a layer or a config: not an index
      }
    }
    return found
  }
}

/**
 * Makes `dir` an OCI layout's blob directory holding an empty file for each digest in `digests` (layers the layer
 * cache knows), before the build exports into it: BuildKit then leaves those blobs out (see the file's comment).
 */
export async function placeKnownLayers(dir: string, digests: Iterable<string>): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256')
  await mkdir(blobs, { recursive: true })
  for (const digest of digests) {
    const hex = /^sha256:([a-f0-9]{64})$/.exec(digest)?.[1]
    // never over a blob already there
    if (hex) {
      await writeFile(path.join(blobs, hex), '', { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
      })
    }
  }
}

/** Whether a failed layer read may succeed when tried again: an I/O fault, not a corrupt or cut blob. */
export function isTransientReadError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  if (typeof code !== 'string' || code.startsWith('Z_') || code.startsWith('ERR_')) return false
  return !['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR'].includes(code)
}

/** What {@link platformManifestsOf} reads of a layout: its small blobs, and the image indexes among them. */
export interface ManifestSource {
  json<T>(digest: string): Promise<T>
  hasManifest(digest: string): Promise<boolean>
}

/**
 * Platform (`linux/arm64`) → image manifest digest, for every platform image under a layout's index.json (`top`),
 * attestations left out; an image manifest without a platform takes it from its config. Where `top` names an index
 * the layout does not hold (buildx with several exporters), the layout's own indexes (`indexBlobs`) are read.
 */
export async function platformManifestsOf(top: ImageIndex, blobs: ManifestSource, indexBlobs: () => Promise<Descriptor[]>): Promise<Record<string, string>> {
  const digests: Record<string, string> = {}
  const visit = async (descriptor: Descriptor): Promise<void> => {
    if (INDEX_TYPES.includes(descriptor.mediaType)) {
      const index = await blobs.json<ImageIndex>(descriptor.digest)
      for (const child of index.manifests) await visit(child)
      return
    }
    if (isAttestation(descriptor)) return
    if (descriptor.platform) {
      digests[platformKey(descriptor.platform)] = descriptor.digest
      return
    }
    const manifest = await blobs.json<{ config: { digest: string } }>(descriptor.digest)
    const config = await blobs.json<{ os?: string; architecture?: string; variant?: string }>(manifest.config.digest)
    if (config.os && config.architecture && config.os !== 'unknown') {
      digests[platformKey({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })] = descriptor.digest
    }
  }
  for (const descriptor of top.manifests ?? []) {
    if (INDEX_TYPES.includes(descriptor.mediaType) && !(await blobs.hasManifest(descriptor.digest))) {
      for (const index of await indexBlobs()) await visit(index)
    } else await visit(descriptor)
  }
  return digests
}

/** Whether a parsed small blob is an image index of platform images (an exporter's own index). */
export function isPlatformIndex(parsed: Partial<ImageIndex>): boolean {
  return Array.isArray(parsed.manifests) && parsed.manifests.some(m => !!m.platform)
}
