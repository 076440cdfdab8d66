import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { createHash } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createReadStream, existsSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { checkArchitectures, describeForeign, foreignExecutables, pathPattern, programsToCheck, readArchitectureSettings } from '../../src/verify/architecture.js'
import { readElfHeader } from '../../src/verify/elf.js'
import { applyLayers, DECOMPRESSED_CHUNK_BYTES, decompressor, LayerReadError, readLayer, readTar, resolveEntry, type LayerChanges } from '../../src/verify/layers.js'
import { directoryLayerCache, entryMac, noLayerCache, readOrCreateKey, serializeChanges, withKnownLayers, type LayerCache } from '../../src/verify/layer-cache.js'
import { OciLayout, placeKnownLayers } from '../../src/verify/oci-layout.js'
import { parsePlatform } from '../../src/core/platform.js'
import { NO_RETRY, type RetryPolicy } from '../../src/core/retry.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '__fixtures__', 'layers')
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
const layer = (name: string) => readLayer(createReadStream(path.join(dir, name)), GZIP)
const LONG = '/usr/local/lib/a-directory-name-long-enough-that-the-whole-path-does-not-fit-in-the-hundred-bytes-of-a-tar-header/bin/tool'

describe('readLayer over real GNU and pax tar layers (__fixtures__/layers)', () => {
  it('reads entries, link targets and the heads of executable files only', async () => {
    const base = await layer('base.tar.gz')
    expect([...base.entries.keys()].sort()).toEqual(['/', '/bin', '/bin/busybox', '/bin/ls', '/bin/sh', '/etc', '/etc/hostname'])
    expect(base.entries.get('/bin/sh')).toEqual({ type: 'symlink', mode: 0o777, link: 'busybox' })
    expect(base.entries.get('/bin/ls')).toMatchObject({ type: 'hardlink', link: './bin/busybox' })
    expect(base.entries.get('/bin/busybox')?.head?.length).toBe(4096)
    expect(base.entries.get('/etc/hostname')?.head).toBeUndefined()

    const app = await layer('app.tar.gz')
    expect(app.entries.get(LONG)).toMatchObject({ type: 'file', mode: 0o755 })
    expect(app.entries.get('/usr/local/bin/tool')).toEqual({ type: 'symlink', mode: 0o777, link: LONG })
    expect(app.entries.get('/usr/bin/wrong-but-not-executable')?.head).toBeUndefined()
    expect(app.deleted).toEqual(['/etc/hostname'])
  })

  it('gives the same result whatever the chunk sizes the stream arrives in', async () => {
    const tar = gunzipSync(readFileSync(path.join(dir, 'app.tar.gz')))
    const chunks = function* () {
      for (let i = 0; i < tar.length; i += 333) yield tar.subarray(i, i + 333)
    }
    const whole = await readTar(Readable.from([tar]))
    const pieces = await readTar(Readable.from(chunks()))
    expect([...pieces.entries.entries()]).toEqual([...whole.entries.entries()])
  })

  it('reads chunks in place but keeps copies: overwriting every chunk after the read changes nothing it returned', async () => {
    const tar = gunzipSync(readFileSync(path.join(dir, 'base.tar.gz')))
    const expected = await readTar(Readable.from([Buffer.from(tar)]))
    // small chunks (a header or a head cut across chunks) and large ones (a whole head inside one chunk)
    for (const size of [333, 64 * 1024]) {
      const chunks: Buffer[] = []
      for (let i = 0; i < tar.length; i += size) chunks.push(Buffer.from(tar.subarray(i, i + size)))
      const read = await readTar(Readable.from(chunks))
      for (const chunk of chunks) chunk.fill(0)
      expect(read.entries.get('/bin/busybox')?.head?.length).toBe(4096)
      expect([...read.entries.entries()]).toEqual([...expected.entries.entries()])
    }
  })

  it('decompresses a gzip layer in chunks of DECOMPRESSED_CHUNK_BYTES, not zlib\'s 16 KiB', async () => {
    const gunzip = decompressor(GZIP)!
    const sizes: number[] = []
    gunzip.on('data', (chunk: Buffer) => sizes.push(chunk.length))
    const ended = new Promise(resolve => gunzip.on('end', resolve))
    gunzip.end(gzipSync(Buffer.alloc(4 * DECOMPRESSED_CHUNK_BYTES)))
    await ended
    expect(DECOMPRESSED_CHUNK_BYTES).toBeGreaterThan(16 * 1024)
    expect(sizes).toEqual([DECOMPRESSED_CHUNK_BYTES, DECOMPRESSED_CHUNK_BYTES, DECOMPRESSED_CHUNK_BYTES, DECOMPRESSED_CHUNK_BYTES])
  })

  it('applies layers in order, whiteouts included, and follows symlinks and hardlinks', async () => {
    const tree = applyLayers([await layer('base.tar.gz'), await layer('app.tar.gz')])
    expect(tree.has('/etc/hostname')).toBe(false)
    expect(resolveEntry(tree, '/bin/sh')?.path).toBe('/bin/busybox')
    expect(resolveEntry(tree, '/bin/ls')?.path).toBe('/bin/busybox')
    expect(resolveEntry(tree, '/usr/local/bin/tool')?.path).toBe(LONG)
    expect(readElfHeader(resolveEntry(tree, '/usr/local/bin/tool')!.entry.head!)?.dynamic).toBe(true)
    expect(resolveEntry(tree, '/nowhere')).toBeUndefined()
  })

  it('refuses a layer that is not a tar', () => {
    expect(() => decompressor('application/vnd.in-toto+json')).toThrow('not a tar layer')
  })
})

describe('the architecture check on those layers', () => {
  const config = (entrypoint: string[] | null, env: string[] = []) => ({ architecture: 'arm64', os: 'linux', config: { Entrypoint: entrypoint, Env: env } })

  it('finds the x86-64 /hello entrypoint in an arm64 image, and nothing else', async () => {
    const tree = applyLayers([await layer('base.tar.gz'), await layer('app.tar.gz')])
    const result = foreignExecutables(tree, config(['/hello']), parsePlatform('linux/arm64'))
    expect(result.foreign.map(f => [f.path, f.header.machine])).toEqual([['/hello', 62]])
    // /hello, /bin/busybox (sh and ls lead there), the script and the tool in /usr/local/bin
    expect(result.checked).toBe(4)
  })

  it('passes the same layers for arm64 without that entrypoint', async () => {
    const tree = applyLayers([await layer('base.tar.gz'), await layer('app.tar.gz')])
    expect(foreignExecutables(tree, config(null), parsePlatform('linux/arm64')).foreign).toEqual([])
  })

  it('reports the symlink and where it leads, for a platform the layers do not fit', async () => {
    const tree = applyLayers([await layer('base.tar.gz'), await layer('app.tar.gz')])
    const { foreign } = foreignExecutables(tree, config(null), parsePlatform('linux/s390x'))
    expect(foreign.map(f => [f.path, f.target])).toEqual([
      ['/bin/busybox', undefined],
      ['/usr/local/bin/tool', LONG]
    ])
  })

  it('says which platform, which file, what it is, the likely cause and the fix', async () => {
    const tree = applyLayers([await layer('base.tar.gz'), await layer('app.tar.gz')])
    const { foreign } = foreignExecutables(tree, config(['/hello']), parsePlatform('linux/arm64'))
    const message = describeForeign(parsePlatform('linux/arm64'), foreign, 'amd64')
    expect(message).toMatch(/^linux\/arm64: \/hello is an x86-64 executable, statically linked, but linux\/arm64 runs aarch64 executables\. /)
    expect(message).toContain("Cause: it was built for the runner's own architecture (amd64): likely a build stage FROM a single-architecture image")
    expect(message).toContain('Fix: build the stage FROM a multi-architecture image with --platform=$BUILDPLATFORM and compile for the target (GOOS=$TARGETOS GOARCH=$TARGETARCH)')
    expect(describeForeign(parsePlatform('linux/arm64'), foreign, 's390x')).toContain('Cause: binaries of another platform were copied in')
  })
})

describe('architecture-check-skip', () => {
  it.each([
    ['/usr/bin/qemu-*-static', '/usr/bin/qemu-aarch64-static', true],
    ['/usr/bin/qemu-*-static', '/usr/bin/qemu-aarch64-static.bak', false],
    ['/usr/bin/qemu-*-static', '/usr/bin/sub/qemu-x-static', false],
    ['/opt/**', '/opt/tools/bin/x', true],
    ['/usr/bin/tool?', '/usr/bin/tool2', true],
    ['/usr/bin/a.b', '/usr/bin/aXb', false],
    ['/usr/bin/c++', '/usr/bin/c++', true]
  ])('%s matches %s: %s', (glob, file, matches) => expect(pathPattern(glob).test(file)).toBe(matches))

  it('reads the inputs: error and nothing skipped by default; a relative path is an error naming the input', () => {
    const read = (inputs: Record<string, string>) => (name: string) => inputs[name] ?? ''
    expect(readArchitectureSettings(read({}))).toEqual({ mode: 'error', skip: [] })
    expect(readArchitectureSettings(read({ 'architecture-check': 'warn', 'architecture-check-skip': '/usr/bin/qemu-*-static\n/opt/x' }))).toEqual({
      mode: 'warn',
      skip: ['/usr/bin/qemu-*-static', '/opt/x']
    })
    expect(() => readArchitectureSettings(read({ 'architecture-check-skip': 'usr/bin/qemu' }))).toThrow(/^input "architecture-check-skip": "usr\/bin\/qemu" is not an absolute path/)
    expect(() => readArchitectureSettings(read({ 'architecture-check': 'maybe' }))).toThrow(/^input "architecture-check": /)
  })
})

describe('programsToCheck', () => {
  it.each([
    [{ config: { Entrypoint: ['/usr/local/bin/hello'] } }, '/usr/local/bin/hello', 6],
    [{ config: { Cmd: ['./app'], WorkingDir: '/srv/' } }, '/srv/./app', 6],
    [{ config: { Cmd: ['go', 'version'], Env: ['PATH=/usr/local/go/bin:/go/bin:/usr/bin/'] } }, undefined, 8],
    [{}, undefined, 6]
  ])('%j → %s and %i directories', (config, program, dirs) => {
    const checked = programsToCheck(config)
    expect(checked.program).toBe(program)
    expect(checked.dirs).toHaveLength(dirs)
  })
})

describe('checkArchitectures on a local OCI layout (the local export of a build that pushes nothing)', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'layers-test-'))
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  /** Writes a blob, returning its descriptor. */
  async function blob(layout: string, bytes: Buffer, mediaType: string, extra: Record<string, unknown> = {}) {
    const hex = createHash('sha256').update(bytes).digest('hex')
    await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true })
    await writeFile(path.join(layout, 'blobs', 'sha256', hex), bytes)
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length, ...extra }
  }
  const json = (value: unknown) => Buffer.from(JSON.stringify(value))

  /** Two platform images over the same base layer (arm64: base; amd64: base + app), as BuildKit's oci exporter lays them out. */
  async function layout(name: string) {
    const dirPath = path.join(root, name)
    const base = await blob(dirPath, readFileSync(path.join(dir, 'base.tar.gz')), GZIP)
    const app = await blob(dirPath, readFileSync(path.join(dir, 'app.tar.gz')), GZIP)
    const image = async (architecture: string, config: unknown, layers: unknown[]) => {
      const cfg = await blob(dirPath, json({ architecture, os: 'linux', config }), 'application/vnd.oci.image.config.v1+json')
      return blob(dirPath, json({ schemaVersion: 2, config: cfg, layers }), 'application/vnd.oci.image.manifest.v1+json', { platform: { os: 'linux', architecture } })
    }
    const arm64 = await image('arm64', { Cmd: ['/bin/sh'] }, [base])
    const amd64 = await image('amd64', { Entrypoint: ['/hello'] }, [base, app])
    const attestation = await blob(dirPath, json({ schemaVersion: 2, config: {}, layers: [] }), 'application/vnd.oci.image.manifest.v1+json', {
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' }
    })
    const index = await blob(dirPath, json({ schemaVersion: 2, manifests: [arm64, amd64, attestation] }), 'application/vnd.oci.image.index.v1+json')
    await writeFile(path.join(dirPath, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [index] }))
    const reads: string[] = []
    /** The layout, counting the layers it reads (a flaky one fails its first `failures` reads with EIO). */
    const source = (cache: LayerCache = noLayerCache, retry: RetryPolicy = NO_RETRY, failures = 0) =>
      new (class extends OciLayout {
        override blob(d: string): Readable {
          reads.push(d)
          if (failures-- <= 0) return super.blob(d)
          const broken = new Readable({ read() {} })
          setImmediate(() => broken.destroy(Object.assign(new Error('read EIO'), { code: 'EIO' })))
          return broken
        }
      })(dirPath, cache, retry)
    return { dir: dirPath, source, reads, base: base.digest, app: app.digest, arm64: arm64.digest, amd64: amd64.digest, index: index.digest }
  }

  it('fails naming every platform whose executables are foreign, reading a shared layer once and no attestation', async () => {
    const l = await layout('foreign')
    const check = checkArchitectures(l.source(), 'amd64')
    await expect(check).rejects.toThrow(/^linux\/amd64: \/bin\/busybox is an aarch64 executable, statically linked, but linux\/amd64 runs x86-64 executables \(and 1 more: \/usr\/local\/bin\/tool \(→ \/usr\/local\/lib\/.*\/bin\/tool\)\)\. Cause: binaries of another platform were copied in/)
    expect(l.reads.sort()).toEqual([l.base, l.app].sort())
  })

  it('passes and reports what it checked when every executable fits', async () => {
    const l = await layout('fits')
    const reports = await checkArchitectures(l.source(), 'amd64', { expected: { 'linux/arm64': l.arm64 } })
    expect(reports).toEqual([{ platform: 'linux/arm64', checked: 1, foreign: [], skipped: [] }])
    expect(l.reads).toEqual([l.base])
  })

  it('does not read a layer checked before (by digest): the cache answers', async () => {
    const l = await layout('cached')
    const cacheDir = path.join(root, 'cache')
    const cache = directoryLayerCache(cacheDir, undefined, path.join(root, 'cache-key', 'layer-cache.key'))
    await checkArchitectures(l.source(cache), 'amd64', { expected: { 'linux/arm64': l.arm64 } })
    expect(l.reads).toEqual([l.base])
    // a later run: the base layer is in the cache, only the app layer is read
    const again = await layout('cached-again')
    await expect(checkArchitectures(again.source(cache), 'amd64')).rejects.toThrow(/linux\/amd64: \/bin\/busybox/)
    expect(again.reads).toEqual([again.app])
  })

  it('ignores cache entries it did not sign: a "clean" listing pre-seeded under each layer\'s name (with no MAC, a wrong one, or one moved from another layer) is not trusted, and the foreign executables are found', async () => {
    const l = await layout('forged')
    const cacheDir = path.join(root, 'forged-cache')
    const keyFile = path.join(root, 'forged-key', 'layer-cache.key')
    const clean = serializeChanges({ entries: new Map(), deleted: [], opaque: [] })
    const name = (digest: string): string => path.join(cacheDir, `${digest.replace(/[^a-z0-9]/gi, '-')}.json`)
    await mkdir(cacheDir, { recursive: true })
    // what another job can write by file name: the bare listing (the old format), and one with a made-up MAC
    await writeFile(name(l.base), clean)
    await writeFile(name(l.app), JSON.stringify({ mac: '0'.repeat(64), changes: clean }))
    await expect(checkArchitectures(l.source(directoryLayerCache(cacheDir, undefined, keyFile)), 'amd64')).rejects.toThrow(/linux\/amd64: \/bin\/busybox is an aarch64 executable/)
    expect(l.reads.sort()).toEqual([l.base, l.app].sort())

    // an entry this runner signed for one layer, copied under another layer's name, fails too: the MAC covers the digest
    const { key } = await readOrCreateKey(keyFile)
    const other = `sha256:${'c'.repeat(64)}`
    await writeFile(name(l.base), JSON.stringify({ mac: entryMac(key!, other, clean), changes: clean }))
    const again = await layout('forged-again')
    await expect(checkArchitectures(again.source(directoryLayerCache(cacheDir, undefined, keyFile)), 'amd64')).rejects.toThrow(/linux\/amd64: \/bin\/busybox/)
    expect(again.reads).toContain(again.base)
  })

  it('a layout whose known layers were placed empty (BuildKit left them out): those are answered by the entries read before the build, even once the cache lost them, only the written layers are read, and a foreign executable in a known layer is still found', async () => {
    const cacheDir = path.join(root, 'placed-cache')
    const keyFile = path.join(root, 'placed-key', 'layer-cache.key')
    // an earlier run checked the base layer (only arm64's is asked for: its one layer)
    const earlier = await layout('placed-earlier')
    await checkArchitectures(earlier.source(directoryLayerCache(cacheDir, undefined, keyFile)), 'amd64', { expected: { 'linux/arm64': earlier.arm64 } })
    const known = await directoryLayerCache(cacheDir, undefined, keyFile).known()
    expect([...known.keys()]).toEqual([earlier.base])

    // this run's export: the base layer's file is the empty one placed before the build, the app layer was written
    const l = await layout('placed')
    const baseFile = l.source().blobPath(l.base)
    await rm(baseFile)
    await placeKnownLayers(l.dir, known.keys())
    expect((await stat(baseFile)).size).toBe(0)
    // the cache's files change after the build started (another run's prune): what was read before still answers
    await rm(cacheDir, { recursive: true })
    const source = l.source(withKnownLayers(known, directoryLayerCache(cacheDir, undefined, keyFile)))
    await expect(checkArchitectures(source, 'amd64')).rejects.toThrow(/^linux\/amd64: \/bin\/busybox is an aarch64 executable/)
    expect(l.reads).toEqual([l.app])
    expect(source.counts).toEqual({ read: 1, cached: 1 })
    expect(await source.storedBytes()).toBe((await stat(l.source().blobPath(l.app))).size + (await storedSmallBytes(l.dir, [l.base, l.app])))
  })

  it('a layer placed empty that no entry answers for is never taken as checked: the check fails naming it', async () => {
    const l = await layout('placed-unknown')
    await rm(l.source().blobPath(l.base))
    await placeKnownLayers(l.dir, [l.base])
    await expect(checkArchitectures(l.source(withKnownLayers(new Map(), noLayerCache)), 'amd64')).rejects.toThrow(
      new RegExp(`holds no bytes for layer ${l.base}, and the layer cache no longer knows it`)
    )
  })

  it('architecture-check-skip: executables of another architecture at the listed paths (globs) are reported as skipped, never as foreign', async () => {
    const l = await layout('skipped')
    const reports = await checkArchitectures(l.source(), 'amd64', { settings: { mode: 'error', skip: ['/bin/busybox', '/usr/local/**/tool'] } })
    const amd64 = reports.find(r => r.platform === 'linux/amd64')
    expect(amd64?.foreign).toEqual([])
    expect(amd64?.skipped.map(f => [f.path, f.target])).toEqual([
      ['/bin/busybox', undefined],
      ['/usr/local/bin/tool', LONG]
    ])
    // one path skipped is not all: the other still fails the check
    await expect(checkArchitectures(l.source(), 'amd64', { settings: { mode: 'error', skip: ['/bin/busybox'] } })).rejects.toThrow(
      /^linux\/amd64: \/usr\/local\/bin\/tool \(→ .*\) is an aarch64 executable.*list it in architecture-check-skip/
    )
  })

  it('architecture-check: warn reports the foreign executables and passes; off reads no layer', async () => {
    const l = await layout('warn')
    const reports = await checkArchitectures(l.source(), 'amd64', { settings: { mode: 'warn', skip: [] } })
    expect(reports.find(r => r.platform === 'linux/amd64')?.foreign.map(f => f.path)).toEqual(['/bin/busybox', '/usr/local/bin/tool'])
    const off = await layout('off')
    expect(await checkArchitectures(off.source(), 'amd64', { settings: { mode: 'off', skip: [] } })).toEqual([])
    expect(off.reads).toEqual([])
    // off still compares what the registry serves with what was built
    await expect(checkArchitectures(off.source(), 'amd64', { expected: { 'linux/arm64': `sha256:${'f'.repeat(64)}` }, settings: { mode: 'off', skip: [] } })).rejects.toThrow(
      /the registry does not hold what this build produced/
    )
  })

  it('fails when the registry serves a manifest the local export does not hold', async () => {
    const l = await layout('mismatch')
    const other = `sha256:${'f'.repeat(64)}`
    await expect(checkArchitectures(l.source(), 'amd64', { expected: { 'linux/arm64': other } })).rejects.toThrow(
      `the registry does not hold what this build produced (linux/arm64: the registry serves ${other}, which the build's export does not hold); no tag moved`
    )
  })

  it('finds its own index when index.json names another exporter\'s (buildx with several outputs)', async () => {
    const l = await layout('other-index')
    await writeFile(path.join(l.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 1 }] }))
    expect(await new OciLayout(l.dir).platformManifests()).toEqual({ 'linux/arm64': l.arm64, 'linux/amd64': l.amd64 })
  })

  it('ends a cut layer in one clear error naming the layer and the platform', async () => {
    const l = await layout('cut')
    const file = path.join(l.dir, 'blobs', 'sha256', l.base.slice('sha256:'.length))
    const whole = readFileSync(file)
    await writeFile(file, whole.subarray(0, Math.floor(whole.length / 2)))
    await expect(checkArchitectures(l.source(), 'amd64', { expected: { 'linux/arm64': l.arm64 } })).rejects.toThrow(
      new RegExp(`^the architecture check could not read layer ${l.base} of linux/arm64 from the build's export: .*; no tag moved$`)
    )
  })

  it('reads a layer again when the read failed for a transient reason', async () => {
    const l = await layout('transient')
    const reports = await checkArchitectures(l.source(noLayerCache, { attempts: 2, baseDelayMs: 0, maxDelayMs: 0 }, 1), 'amd64', { expected: { 'linux/arm64': l.arm64 } })
    expect(reports[0]?.foreign).toEqual([])
    expect(l.reads).toEqual([l.base, l.base])
  })
})

describe('readLayer: a failed or cut read is an error of the promise, never an unhandled event', () => {
  it('rejects when the source fails mid-body', async () => {
    const whole = readFileSync(path.join(dir, 'app.tar.gz'))
    const source = new Readable({ read() {} })
    source.push(whole.subarray(0, 100))
    setImmediate(() => source.destroy(new TypeError('terminated')))
    await expect(readLayer(source, GZIP)).rejects.toThrow('terminated')
  })

  it('rejects a tar cut in the middle of an entry', async () => {
    const tar = gunzipSync(readFileSync(path.join(dir, 'app.tar.gz')))
    await expect(readLayer(Readable.from([tar.subarray(0, 700)]), 'application/vnd.oci.image.layer.v1.tar')).rejects.toThrow(LayerReadError)
  })

  it('rejects a gzip cut short', async () => {
    const gz = readFileSync(path.join(dir, 'app.tar.gz'))
    await expect(readLayer(Readable.from([gz.subarray(0, gz.length - 20)]), GZIP)).rejects.toThrow(/unexpected end of file|ends in the middle/)
  })
})

describe('applyLayers: whiteouts in linear time', () => {
  it('a layer with 10 000 whiteouts costs tree operations proportional to the entries, counted', () => {
    const n = 10_000
    const lower: LayerChanges = { entries: new Map(), deleted: [], opaque: [] }
    for (let i = 0; i < n; i++) {
      lower.entries.set(`/usr/lib/pkg${i}`, { type: 'directory', mode: 0o755 })
      lower.entries.set(`/usr/lib/pkg${i}/file`, { type: 'file', mode: 0o644 })
    }
    const upper: LayerChanges = { entries: new Map([['/usr/bin/kept', { type: 'file', mode: 0o755 }]]), deleted: [], opaque: ['/opt'] }
    for (let i = 0; i < n; i++) upper.deleted.push(`/usr/lib/pkg${i}`)
    const counter = { operations: 0 }
    const tree = applyLayers([lower, upper], counter)
    expect([...tree.keys()]).toEqual(['/usr/bin/kept'])
    const entries = lower.entries.size + upper.entries.size + upper.deleted.length + upper.opaque.length
    // each entry is added once (with its new parent links) and removed at most once: a few operations per entry,
    // where a scan of the tree per whiteout would be n × 2n
    expect(counter.operations).toBeLessThanOrEqual(4 * entries)
  })

  it('an opaque directory removes what lower layers had under it, and keeps the directory', () => {
    const lower: LayerChanges = { entries: new Map([['/etc', { type: 'directory', mode: 0o755 }], ['/etc/a', { type: 'file', mode: 0o644 }], ['/etc/x/y', { type: 'file', mode: 0o644 }], ['/etcetera', { type: 'file', mode: 0o644 }]]), deleted: [], opaque: [] }
    const upper: LayerChanges = { entries: new Map([['/etc/b', { type: 'file', mode: 0o644 }]]), deleted: [], opaque: ['/etc'] }
    expect([...applyLayers([lower, upper]).keys()].sort()).toEqual(['/etc', '/etc/b', '/etcetera'])
  })
})

/** Bytes of a layout's blobs, the listed ones left out. */
async function storedSmallBytes(dir: string, except: string[]): Promise<number> {
  const blobs = path.join(dir, 'blobs', 'sha256')
  const names = (await readdir(blobs)).filter(n => !except.includes(`sha256:${n}`))
  return (await Promise.all(names.map(async n => (await stat(path.join(blobs, n))).size))).reduce((a, b) => a + b, 0)
}

describe('the layer cache\'s key', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'layer-cache-key-'))
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })
  const listing = (): LayerChanges => ({ entries: new Map([['/bin/sh', { type: 'file', mode: 0o755 }]]), deleted: [], opaque: [] })

  it('is made once, 32 random bytes only this user can read, and the entries it signs are read back', async () => {
    const keyFile = path.join(root, 'made', 'layer-cache.key')
    const cache = directoryLayerCache(path.join(root, 'made-cache'), undefined, keyFile)
    const digest = `sha256:${'1'.repeat(64)}`
    await cache.put(digest, listing())
    const info = await stat(keyFile)
    expect({ mode: info.mode & 0o777, size: info.size, uid: info.uid }).toEqual({ mode: 0o600, size: 32, uid: process.getuid!() })
    // a later run (a new cache object) reads the same key and trusts the entry
    expect((await directoryLayerCache(path.join(root, 'made-cache'), undefined, keyFile).get(digest))?.entries.get('/bin/sh')).toEqual({ type: 'file', mode: 0o755 })
    expect((await readOrCreateKey(keyFile)).key).toEqual(await readFile(keyFile))
  })

  it('known() reads every entry this runner signed, and leaves out one whose MAC fails and files of other names; a cache with no directory knows none', async () => {
    const keyFile = path.join(root, 'known', 'layer-cache.key')
    const cacheDir = path.join(root, 'known-cache')
    expect((await directoryLayerCache(cacheDir, undefined, keyFile).known()).size).toBe(0)
    const cache = directoryLayerCache(cacheDir, undefined, keyFile)
    const [good, forged] = [`sha256:${'4'.repeat(64)}`, `sha256:${'5'.repeat(64)}`]
    await cache.put(good, listing())
    await cache.put(forged, listing())
    const forgedFile = path.join(cacheDir, `sha256-${'5'.repeat(64)}.json`)
    await writeFile(forgedFile, JSON.stringify({ ...JSON.parse(await readFile(forgedFile, 'utf8')), mac: '0'.repeat(64) }))
    await writeFile(path.join(cacheDir, 'sha256-notadigest.json'), '{}')
    const known = await directoryLayerCache(cacheDir, undefined, keyFile).known()
    expect([...known.keys()]).toEqual([good])
    expect(known.get(good)?.()?.entries.get('/bin/sh')).toEqual({ type: 'file', mode: 0o755 })
  })

  it('turns the cache off, with a warning naming the file and the fix, when the key could be read by others', async () => {
    const keyFile = path.join(root, 'open', 'layer-cache.key')
    const cacheDir = path.join(root, 'open-cache')
    const digest = `sha256:${'2'.repeat(64)}`
    await directoryLayerCache(cacheDir, undefined, keyFile).put(digest, listing())
    await chmod(keyFile, 0o644)
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      const cache = directoryLayerCache(cacheDir, undefined, keyFile)
      expect(await cache.get(digest)).toBeUndefined()
      await cache.put(`sha256:${'3'.repeat(64)}`, listing())
      const warnings = write.mock.calls.map(c => String(c[0])).filter(l => l.startsWith('::warning::'))
      expect(warnings).toEqual([
        `::warning::the layer cache is off (every layer is read): the key ${keyFile} is not a 32-byte file that only this user (uid ${process.getuid!()}) can read (owner uid ${process.getuid!()}, mode 644, 32 bytes): remove it, and the next run makes a new one\n`
      ])
      expect(existsSync(path.join(cacheDir, `sha256-${'3'.repeat(64)}.json`))).toBe(false)
    } finally {
      write.mockRestore()
    }
  })
})
