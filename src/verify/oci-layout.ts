/**
 * The build's own local export: an OCI image layout directory (`index.json`, `blobs/sha256/…`) that BuildKit
 * writes beside the push or the engine load (`--output type=oci,dest=DIR,tar=false`, build.ts). The architecture
 * check reads the layers from here, where the build already put them, instead of downloading them again; the
 * registry's side is covered by comparing digests (content hashes) with what the registry serves.
 */
import { createReadStream } from 'node:fs'
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import { platformKey } from '../core/platform.js'
import { isAttestation, type Descriptor, type ImageIndex } from '../core/registry.js'

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']

export class OciLayoutError extends Error {
  override name = 'OciLayoutError'
}

/** One OCI image layout on disk. */
export class OciLayout {
  constructor(readonly dir: string) {}

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
    const digests: Record<string, string> = {}
    const visit = async (descriptor: Descriptor): Promise<void> => {
      if (INDEX_TYPES.includes(descriptor.mediaType)) {
        const index = await this.json<ImageIndex>(descriptor.digest)
        for (const child of index.manifests) await visit(child)
        return
      }
      if (isAttestation(descriptor)) return
      if (descriptor.platform) {
        digests[platformKey(descriptor.platform)] = descriptor.digest
        return
      }
      const manifest = await this.json<{ config: { digest: string } }>(descriptor.digest)
      const config = await this.json<{ os?: string; architecture?: string; variant?: string }>(manifest.config.digest)
      if (config.os && config.architecture && config.os !== 'unknown') {
        digests[platformKey({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })] = descriptor.digest
      }
    }
    for (const descriptor of top.manifests ?? []) {
      if (INDEX_TYPES.includes(descriptor.mediaType) && !(await this.hasManifest(descriptor.digest))) {
        for (const index of await this.indexBlobs()) await visit(index)
      } else await visit(descriptor)
    }
    return digests
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
        const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<ImageIndex>
        if (Array.isArray(parsed.manifests) && parsed.manifests.some(m => !!m.platform)) {
          found.push({ mediaType: INDEX_TYPES[0]!, digest: `sha256:${name}`, size })
        }
      } catch {
        // a layer or a config: not an index
      }
    }
    return found
  }
}
