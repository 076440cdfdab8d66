/**
 * The release download over a real HTTP server on loopback and a real tool cache directory (@actions/tool-cache's
 * layout): what runs is always checked against the pinned or the release's sha256, the tool cache's copy included.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { installRelease, type ReleaseDownload } from '../../src/setup/release-download.js'
import { PINNED_COSIGN_SHA256, PINNED_COSIGN_VERSION, pinnedCosignSha256 } from '../../src/setup/cosign-install.js'

const GOOD = Buffer.from('#!/bin/sh\necho the release\n')
const TAMPERED = Buffer.from('#!/bin/sh\necho someone else\n')
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

let server: Server
let base = ''
const requests: string[] = []
/** What the server serves: the binary, and the checksums file's text. */
const served = { binary: GOOD, sums: `${sha(GOOD)}  tool-linux-amd64\n` }

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '')
    if (req.url === '/v1.2.3/tool-linux-amd64') return void res.writeHead(200).end(served.binary)
    if (req.url === '/v1.2.3/checksums.txt') return void res.writeHead(200).end(served.sums)
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise(resolve => server.close(resolve)))

let toolCache: string
let job: string
let output: string[]
const saved = { cache: process.env.RUNNER_TOOL_CACHE, temp: process.env.RUNNER_TEMP }
beforeEach(async () => {
  requests.length = 0
  served.binary = GOOD
  served.sums = `${sha(GOOD)}  tool-linux-amd64\n`
  toolCache = await mkdtemp(path.join(tmpdir(), 'go-build-action-toolcache-'))
  job = await mkdtemp(path.join(tmpdir(), 'go-build-action-job-'))
  process.env.RUNNER_TOOL_CACHE = toolCache
  process.env.RUNNER_TEMP = job
  output = []
  jest.spyOn(process.stdout, 'write').mockImplementation(chunk => (output.push(String(chunk)), true))
})
afterEach(() => {
  jest.restoreAllMocks()
  process.env.RUNNER_TOOL_CACHE = saved.cache
  process.env.RUNNER_TEMP = saved.temp
})

const download = (pinned?: string): ReleaseDownload => ({
  what: 'tool 1.2.3',
  url: `${base}/v1.2.3/tool-linux-amd64`,
  checksumsFile: 'checksums.txt',
  pinned,
  urlInput: 'tool-download-url',
  fix: 'fix it',
  fail: message => new Error(message)
})
const cachedFile = path.join('tool', '1.2.3', 'amd64', 'tool')

/** The tool cache as an earlier job (or someone else) left it: the file, and the marker tc.find wants. */
async function seedCache(content: Buffer): Promise<string> {
  const dir = path.join(toolCache, 'tool', '1.2.3', 'amd64')
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'tool'), content)
  await writeFile(`${dir}.complete`, '')
  return path.join(dir, 'tool')
}

describe('installRelease: what runs is checked, wherever it comes from', () => {
  it('does not install a tool-cache binary that no longer matches its release checksum: it says so, downloads the release again and replaces the cached copy', async () => {
    const seeded = await seedCache(TAMPERED)
    const destination = path.join(job, 'tool')
    expect(await installRelease('tool', '1.2.3', 'amd64', 'tool', download(), destination)).toBe('download')
    expect(await readFile(destination)).toEqual(GOOD)
    expect((await stat(destination)).mode & 0o111).toBe(0o111)
    expect(await readFile(path.join(toolCache, cachedFile))).toEqual(GOOD)
    expect(output.join('')).toContain(
      `::warning::the tool 1.2.3 in the tool cache (${seeded}) has sha256 ${sha(TAMPERED)}, but ${base}/v1.2.3/checksums.txt says ${sha(GOOD)}: it is not run.`
    )
    // the checksums once, then the binary
    expect(requests).toEqual(['/v1.2.3/checksums.txt', '/v1.2.3/tool-linux-amd64'])
  })

  it('installs a matching tool-cache binary after reading its release checksum again, downloading nothing else', async () => {
    await seedCache(GOOD)
    const destination = path.join(job, 'tool')
    expect(await installRelease('tool', '1.2.3', 'amd64', 'tool', download(), destination)).toBe('cache')
    expect(await readFile(destination)).toEqual(GOOD)
    expect(requests).toEqual(['/v1.2.3/checksums.txt'])
    expect(output.join('')).not.toContain('::warning::')
  })

  it('checks a pinned release against the pin, never the checksums file beside it: a mirror that serves another file with matching checksums installs nothing', async () => {
    served.binary = TAMPERED
    served.sums = `${sha(TAMPERED)}  tool-linux-amd64\n`
    const destination = path.join(job, 'tool')
    await expect(installRelease('tool', '1.2.3', 'amd64', 'tool', download(sha(GOOD)), destination)).rejects.toThrow(
      `the tool 1.2.3 download from ${base}/v1.2.3/tool-linux-amd64 has sha256 ${sha(TAMPERED)}, but the sha256 this action pins for tool 1.2.3 (tool-linux-amd64) says ${sha(GOOD)}: nothing was installed`
    )
    expect(requests).toEqual(['/v1.2.3/tool-linux-amd64'])
    expect(existsSync(destination)).toBe(false)
    expect(existsSync(path.join(toolCache, 'tool'))).toBe(false)
  })

  it('checks a pinned release in the tool cache against the pin, without a request', async () => {
    await seedCache(GOOD)
    expect(await installRelease('tool', '1.2.3', 'amd64', 'tool', download(sha(GOOD)), path.join(job, 'tool'))).toBe('cache')
    expect(requests).toEqual([])
    const seeded = await seedCache(TAMPERED)
    expect(await installRelease('tool', '1.2.3', 'amd64', 'tool', download(sha(GOOD)), path.join(job, 'tool'))).toBe('download')
    expect(output.join('')).toContain(`::warning::the tool 1.2.3 in the tool cache (${seeded}) has sha256 ${sha(TAMPERED)}, but the sha256 this action pins`)
    expect(await readFile(path.join(job, 'tool'))).toEqual(GOOD)
  })
})

describe('the cosign release the action defaults to is pinned', () => {
  it('pins the sha256 of each Linux binary GitHub runners run (amd64, arm64, arm) for the default version only', () => {
    expect(Object.keys(PINNED_COSIGN_SHA256).sort()).toEqual(['linux-amd64', 'linux-arm', 'linux-arm64'])
    for (const sum of Object.values(PINNED_COSIGN_SHA256)) expect(sum).toMatch(/^[0-9a-f]{64}$/)
    expect(pinnedCosignSha256(PINNED_COSIGN_VERSION, 'linux', 'amd64')).toBe('1f6c194dd0891eb345b436bb71ff9f996768355f5e0ce02dde88567029ac2188')
    expect(pinnedCosignSha256('2.4.3', 'linux', 'amd64')).toBeUndefined()
    expect(pinnedCosignSha256(PINNED_COSIGN_VERSION, 'linux', 'ppc64le')).toBeUndefined()
  })
})
