import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { checkArchitectures } from '../../src/verify/architecture.js'
import { directoryLayerCache, noLayerCache } from '../../src/verify/layer-cache.js'
import { readOciExport, StreamedExport } from '../../src/verify/oci-export.js'
import { ustar } from '../../__fixtures__/ustar.js'

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '__fixtures__', 'layers')
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
const BASE = readFileSync(path.join(fixtures, 'base.tar.gz'))
const APP = readFileSync(path.join(fixtures, 'app.tar.gz'))

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

/**
 * The export of two platform images over the same base layer (arm64: base; amd64: base + app) and an attestation,
 * as buildx streams it: blobs in digest order, then index.json. `blobs` replaces or adds blobs by name.
 */
function exportOf(options: { layers?: { base?: Buffer; app?: Buffer; baseType?: string }; indexJson?: unknown; rename?: Record<string, string> } = {}) {
  const blobs = new Map<string, Buffer>()
  const blob = (bytes: Buffer, mediaType: string, extra: Record<string, unknown> = {}) => {
    const digest = digestOf(bytes)
    blobs.set(digest, bytes)
    return { mediaType, digest, size: bytes.length, ...extra }
  }
  const base = blob(options.layers?.base ?? BASE, options.layers?.baseType ?? GZIP)
  const app = blob(options.layers?.app ?? APP, GZIP)
  const image = (architecture: string, config: unknown, layers: unknown[]) => {
    const cfg = blob(json({ architecture, os: 'linux', config }), 'application/vnd.oci.image.config.v1+json')
    return blob(json({ schemaVersion: 2, config: cfg, layers }), 'application/vnd.oci.image.manifest.v1+json', { platform: { os: 'linux', architecture } })
  }
  const arm64 = image('arm64', { Cmd: ['/bin/sh'] }, [base])
  const amd64 = image('amd64', { Entrypoint: ['/hello'] }, [base, app])
  const attestation = blob(json({ schemaVersion: 2, config: {}, layers: [] }), 'application/vnd.oci.image.manifest.v1+json', {
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest' }
  })
  const index = blob(json({ schemaVersion: 2, manifests: [arm64, amd64, attestation] }), 'application/vnd.oci.image.index.v1+json')
  const names = [...blobs.keys()].sort()
  const files: Array<[string, Buffer]> = names.map(d => [`blobs/sha256/${(options.rename?.[d] ?? d).slice('sha256:'.length)}`, blobs.get(d)!])
  files.push(['index.json', json(options.indexJson ?? { schemaVersion: 2, manifests: [index] })], ['oci-layout', json({ imageLayoutVersion: '1.0.0' })])
  return { tar: ustar(files), base: base.digest, app: app.digest, arm64: arm64.digest, amd64: amd64.digest, index: index.digest }
}

/** The tar as a stream of `size`-byte chunks (the reader must not depend on where chunks end). */
const chunks = (bytes: Buffer, size = 65536): Readable => {
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size))
  return Readable.from(parts)
}

describe('readOciExport: the build\'s export, read as it streams', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'oci-export-test-'))
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('finds the platform images, keeps the small blobs and decompresses each layer once, whatever the chunks', async () => {
    const e = exportOf()
    for (const size of [7, 512, 65536]) {
      const exported = await readOciExport(chunks(e.tar, size))
      expect(await exported.platformManifests()).toEqual({ 'linux/arm64': e.arm64, 'linux/amd64': e.amd64 })
      expect(await exported.hasManifest(e.arm64)).toBe(true)
      expect(exported.bytes).toEqual({ total: expect.any(Number), layersRead: BASE.length + APP.length, layersCached: 0 })
      expect([...(await exported.layer(e.base, GZIP)).entries.keys()]).toContain('/bin/busybox')
    }
  })

  it('check: fails naming every platform whose executables are foreign', async () => {
    const exported = await readOciExport(chunks(exportOf().tar))
    await expect(checkArchitectures(exported, 'amd64')).rejects.toThrow(
      /^linux\/amd64: \/bin\/busybox is an aarch64 executable, statically linked, but linux\/amd64 runs x86-64 executables \(and 1 more: \/usr\/local\/bin\/tool \(→ \/usr\/local\/lib\/.*\/bin\/tool\)\)\. Cause: binaries of another platform were copied in/
    )
  })

  it('check: passes and reports what it checked when the platforms the registry serves fit', async () => {
    const e = exportOf()
    const reports = await checkArchitectures(await readOciExport(chunks(e.tar)), 'amd64', { expected: { 'linux/arm64': e.arm64 } })
    expect(reports).toEqual([{ platform: 'linux/arm64', checked: 1, foreign: [], skipped: [] }])
  })

  it('only hashes a layer the layer cache knows by digest: a later export decompresses its new layer only', async () => {
    const cache = directoryLayerCache(path.join(root, 'cache'), undefined, path.join(root, 'cache-key', 'layer-cache.key'))
    const e = exportOf()
    expect((await readOciExport(chunks(e.tar), cache)).bytes).toMatchObject({ layersRead: BASE.length + APP.length, layersCached: 0 })
    // the same files, compressed anew: another digest
    const app = gzipSync(gunzipSync(APP), { level: 1 })
    const changed = exportOf({ layers: { app } })
    expect(changed.app).not.toBe(e.app)
    const again = await readOciExport(chunks(changed.tar), cache)
    expect(again.bytes).toMatchObject({ layersRead: app.length, layersCached: BASE.length })
    await expect(checkArchitectures(again, 'amd64')).rejects.toThrow(/linux\/amd64: \/bin\/busybox/)
  })

  it('architecture-check: off: hashes every blob and decompresses no layer', async () => {
    const e = exportOf()
    const exported = await readOciExport(chunks(e.tar), noLayerCache, false)
    expect(exported.bytes).toMatchObject({ layersRead: 0, layersCached: 0 })
    expect(await checkArchitectures(exported, 'amd64', { expected: { 'linux/arm64': e.arm64 }, settings: { mode: 'off', skip: [] } })).toEqual([])
    const corrupt = exportOf({ rename: { [e.base]: `sha256:${'a'.repeat(64)}` } })
    await expect(readOciExport(chunks(corrupt.tar), noLayerCache, false)).rejects.toThrow(/whose bytes hash to/)
  })

  it('fails when the registry serves a manifest the export does not hold', async () => {
    const exported = await readOciExport(chunks(exportOf().tar))
    const other = `sha256:${'f'.repeat(64)}`
    await expect(checkArchitectures(exported, 'amd64', { expected: { 'linux/arm64': other } })).rejects.toThrow(
      `the registry does not hold what this build produced (linux/arm64: the registry serves ${other}, which the build's export does not hold); no tag moved`
    )
  })

  it('refuses a blob whose bytes do not hash to its name: no manifest of a corrupt export is taken for the registry\'s', async () => {
    const e = exportOf()
    const corrupt = exportOf({ rename: { [e.base]: `sha256:${'a'.repeat(64)}` } })
    await expect(readOciExport(chunks(corrupt.tar))).rejects.toThrow(
      `the build's export holds a blob named sha256:${'a'.repeat(64)} whose bytes hash to ${e.base}: the export is corrupt`
    )
  })

  it('finds its own index when index.json names another exporter\'s (buildx with several outputs)', async () => {
    const e = exportOf({ indexJson: { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 1 }] } })
    expect(await (await readOciExport(chunks(e.tar))).platformManifests()).toEqual({ 'linux/arm64': e.arm64, 'linux/amd64': e.amd64 })
  })

  it('ends a cut layer in one clear error naming the layer and the platform', async () => {
    const e = exportOf({ layers: { base: BASE.subarray(0, Math.floor(BASE.length / 2)) } })
    const exported = await readOciExport(chunks(e.tar))
    await expect(checkArchitectures(exported, 'amd64', { expected: { 'linux/arm64': e.arm64 } })).rejects.toThrow(
      new RegExp(`^the architecture check could not read layer ${e.base} of linux/arm64 from the build's export: .*; no tag moved$`)
    )
  })

  it('refuses a layer whose bytes are not of the kind its media type declares', async () => {
    const e = exportOf({ layers: { base: gunzipSync(BASE) } })
    const exported = await readOciExport(chunks(e.tar))
    await expect(checkArchitectures(exported, 'amd64', { expected: { 'linux/arm64': e.arm64 } })).rejects.toThrow(
      `the architecture check could not read layer ${e.base} of linux/arm64 from the build's export: its media type is ${GZIP}, but its bytes are a tar layer; no tag moved`
    )
  })

  it('reads a plain tar layer declared as one', async () => {
    const e = exportOf({ layers: { base: gunzipSync(BASE), baseType: 'application/vnd.oci.image.layer.v1.tar' } })
    const reports = await checkArchitectures(await readOciExport(chunks(e.tar)), 'amd64', { expected: { 'linux/arm64': e.arm64 } })
    expect(reports).toEqual([{ platform: 'linux/arm64', checked: 1, foreign: [], skipped: [] }])
  })

  it('refuses a stream that is not an OCI layout', async () => {
    await expect(readOciExport(chunks(ustar([['hello.txt', Buffer.from('hi')]])))).rejects.toThrow("the build's export has no index.json: it is not an OCI image layout")
  })
})

describe('StreamedExport: one build command\'s export', () => {
  it('reads the last attempt\'s stream; a failed attempt\'s read is never an unhandled rejection', async () => {
    const exported = new StreamedExport()
    await expect(exported.contents()).rejects.toThrow('the build wrote no export to read')
    const first = exported.sink()
    first.end(Buffer.from('not a tar, cut short'))
    const second = exported.sink()
    const e = exportOf()
    second.end(e.tar)
    expect(await (await exported.contents()).platformManifests()).toEqual({ 'linux/arm64': e.arm64, 'linux/amd64': e.amd64 })
  })
})
