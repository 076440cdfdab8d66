import { describe, expect, it } from '@jest/globals'
import { createReadStream, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { describeForeign, foreignExecutables, programsToCheck } from '../../src/verify/architecture.js'
import { readElfHeader } from '../../src/verify/elf.js'
import { applyLayers, decompressor, LayerReadError, readLayer, readTar, resolveEntry, type LayerChanges } from '../../src/verify/layers.js'
import { parsePlatform } from '../../src/core/platform.js'

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
