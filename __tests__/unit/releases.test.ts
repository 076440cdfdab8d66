/**
 * The release sources of `mode: check`, parsed from fixtures in their real formats (__fixtures__/releases/): the Go
 * download list (stable and unstable entries, archives for other systems), the Kubernetes release markers and the
 * GitHub releases API shape of llvm/llvm-project; the policy; and the fetch against a loopback server.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fixture } from '../../__fixtures__/fixtures.js'
import {
  fetchText,
  goChecksums,
  k8sMarkerUrl,
  newestAllowed,
  parseGoReleases,
  parseK8sMarker,
  parseLlvmReleases,
  parseReleaseVersion,
  readCheckSettings,
  ReleaseSourceError,
  type ReleaseVersion
} from '../../src/check/releases.js'

const GO_URL = 'https://go.dev/dl/?mode=json&include=all'
const LLVM_URL = 'https://api.github.com/repos/llvm/llvm-project/releases'
const goList = fixture('releases/go-dl.json')
const v = (text: string): ReleaseVersion => parseReleaseVersion(text)!
const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''

/** The sha256 the fixture lists for one file, read without the code under test. */
const listed = (filename: string): string => {
  const entries = JSON.parse(goList) as Array<{ files: Array<{ filename: string; sha256: string }> }>
  return entries.flatMap(e => e.files).find(f => f.filename === filename)!.sha256
}

describe('the Go download list', () => {
  const releases = parseGoReleases(goList, GO_URL)

  it('keeps the stable releases only (no rc), in the list order', () => {
    expect(releases.map(r => r.version.text)).toEqual(['1.26.0', '1.25.5', '1.25.4', '1.24.11', '1.20'])
    expect(releases.find(r => r.version.text === '1.20')?.version.numbers).toEqual([1, 20, 0])
    expect(parseGoReleases('[{"version": "go1", "stable": true, "files": []}]', GO_URL)[0]?.version.numbers).toEqual([1, 0, 0])
  })

  it.each([
    ['patch', '1.25.4', '1.25.5'],
    ['patch', '1.25.5', undefined],
    ['patch', '1.24.3', '1.24.11'],
    ['patch', '1.26.0', undefined],
    ['minor', '1.25.4', '1.26.0'],
    ['minor', '1.26.0', undefined],
    ['patch', '1.19.13', undefined]
  ] as const)('update: %s from %s → %s (the newer minor and the prereleases 1.26rc2, 1.27rc1 ignored as the policy says)', (policy, from, to) => {
    expect(newestAllowed(policy, v(from), releases)?.version.text).toBe(to)
  })

  it('gives the sha256 of the linux-ARCH archive of the release, never of another system or an installer', () => {
    const release = releases.find(r => r.version.text === '1.25.5')!
    const sums = goChecksums(release, ['amd64', 'arm64', 'ppc64le', 's390x', 'arm'], GO_URL)
    expect(sums).toEqual({
      amd64: listed('go1.25.5.linux-amd64.tar.gz'),
      arm64: listed('go1.25.5.linux-arm64.tar.gz'),
      ppc64le: listed('go1.25.5.linux-ppc64le.tar.gz'),
      s390x: listed('go1.25.5.linux-s390x.tar.gz'),
      arm: listed('go1.25.5.linux-armv6l.tar.gz')
    })
    expect(sums.amd64).not.toBe(listed('go1.25.5.darwin-amd64.tar.gz'))
    expect(sums.amd64).not.toBe(listed('go1.25.5.windows-amd64.zip'))
  })

  it('a checksum key the release has no linux archive for is an error naming the URL and the key', () => {
    const release = releases.find(r => r.version.text === '1.24.11')!
    expect(() => goChecksums(release, ['amd64', 's390x'], GO_URL)).toThrow(
      `${GO_URL}: go1.24.11 has no linux-s390x archive, which the checksum key "s390x" needs; nothing was changed`
    )
  })

  it.each([
    ['HTML instead of JSON', '<!DOCTYPE html><html>', /did not answer JSON \(Unexpected token '<'/],
    ['an object', '{"version": "go1.25.5"}', /answered JSON that is not a list of releases/],
    ['an entry without stable', '[{"version": "go1.25.5", "files": []}]', /entry 1 is not a release \(\{version, stable, files\}\)/],
    ['a stable entry that is no release', '[{"version": "gotip", "stable": true, "files": []}]', /entry 1: "gotip" is marked stable but is not a release version/],
    ['a file without sha256', '[{"version": "go1.25.5", "stable": true, "files": [{"filename": "x", "os": "linux", "arch": "amd64", "kind": "archive"}]}]', /entry 1 \(go1\.25\.5\), file 1 is not \{filename, os, arch, kind, sha256\}/],
    ['no stable release', '[{"version": "go1.26rc1", "stable": false, "files": []}]', /lists no stable Go release/]
  ])('%s is an error naming the URL and the input to fix', (_, text, problem) => {
    let error: unknown
    try {
      parseGoReleases(text, GO_URL)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ReleaseSourceError)
    expect((error as Error).message).toMatch(problem)
    expect((error as Error).message.startsWith(`${GO_URL}: `)).toBe(true)
    expect((error as Error).message).toContain('"go-releases-url"')
  })

  it('a malformed sha256 of a needed archive is an error', () => {
    const text = '[{"version": "go1.25.5", "stable": true, "files": [{"filename": "go1.25.5.linux-amd64.tar.gz", "os": "linux", "arch": "amd64", "kind": "archive", "sha256": "abc"}]}]'
    expect(() => goChecksums(parseGoReleases(text, GO_URL)[0]!, ['amd64'], GO_URL)).toThrow(/the sha256 of go1\.25\.5\.linux-amd64\.tar\.gz \("abc"\) is not 64 hexadecimal digits/)
  })
})

describe('the Kubernetes release markers', () => {
  it('patch reads the marker of the minor in use, minor the stable marker', () => {
    expect(k8sMarkerUrl('https://dl.k8s.io/release/', 'patch', v('1.34.1'))).toBe('https://dl.k8s.io/release/stable-1.34.txt')
    expect(k8sMarkerUrl('https://dl.k8s.io/release', 'minor', v('1.34.1'))).toBe('https://dl.k8s.io/release/stable.txt')
  })

  it('reads a marker as the release server serves it', () => {
    expect(parseK8sMarker(fixture('releases/k8s-stable-1.34.txt'), 'u').text).toBe('1.34.3')
    expect(parseK8sMarker(fixture('releases/k8s-stable.txt'), 'u').text).toBe('1.35.0')
  })

  it.each(['<html><body>Not Found</body></html>', 'v1.35.0-rc.1', '', 'latest'])('"%s" is an error naming the URL', text => {
    expect(() => parseK8sMarker(text, 'https://dl.k8s.io/release/stable-1.34.txt')).toThrow(
      /^https:\/\/dl\.k8s\.io\/release\/stable-1\.34\.txt: answered ".*", not a release marker such as v1\.34\.3; nothing was changed\. .*"k8s-releases-url"/
    )
  })
})

describe('LLVM releases in the GitHub releases API shape', () => {
  const releases = parseLlvmReleases(fixture('releases/llvm-releases.json'), LLVM_URL)

  it('drops drafts (18.1.9), prereleases and rc tags', () => {
    expect(releases.map(r => r.version.text)).toEqual(['19.1.7', '18.1.8', '18.1.7'])
  })

  it.each([
    ['patch', '18.1.7', '18.1.8'],
    ['patch', '18.1.8', undefined],
    ['minor', '18.1.8', undefined],
    ['minor', '19.1.0', '19.1.7']
  ] as const)('update: %s from %s → %s', (policy, from, to) => {
    expect(newestAllowed(policy, v(from), releases)?.version.text).toBe(to)
  })

  it('an answer without a release is an error (a wrong URL, or a page past the end)', () => {
    expect(() => parseLlvmReleases('[]', LLVM_URL)).toThrow(`${LLVM_URL}: lists no LLVM release`)
    expect(() => parseLlvmReleases('{"message": "Not Found"}', LLVM_URL)).toThrow(/not a list of releases/)
  })
})

describe('readCheckSettings', () => {
  it('defaults: patch, rewrite, the upstream sources, no LLVM', () => {
    expect(readCheckSettings(reader({}))).toEqual({
      policy: 'patch',
      updateVersions: true,
      goUrl: GO_URL,
      k8sUrl: 'https://dl.k8s.io/release'
    })
  })

  it('takes mirrors and the LLVM source', () => {
    const s = readCheckSettings(reader({ update: 'minor', 'update-versions': 'false', 'llvm-releases-url': LLVM_URL, 'go-releases-url': 'http://127.0.0.1:8080/go.json' }))
    expect(s).toMatchObject({ policy: 'minor', updateVersions: false, llvmUrl: LLVM_URL, goUrl: 'http://127.0.0.1:8080/go.json' })
  })

  it.each([
    [{ update: 'major' }, 'input "update": "major" is not valid: write one of patch, minor'],
    [{ 'go-releases-url': 'go.dev/dl' }, 'input "go-releases-url": "go.dev/dl" is not a URL: write an http or https URL such as https://go.dev/dl/?mode=json&include=all'],
    [{ 'k8s-releases-url': 'file:///srv/k8s' }, 'input "k8s-releases-url": "file:///srv/k8s" is not an http or https URL']
  ])('%j is refused', (inputs, message) => {
    expect(() => readCheckSettings(reader(inputs))).toThrow(message)
  })
})

describe('fetchText against a loopback server', () => {
  let server: Server
  let base: string
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/ok') response.end('v1.34.3\n')
      else if (request.url === '/hang') setTimeout(() => response.end('late'), 5_000).unref()
      else {
        response.statusCode = 500
        response.end('internal error')
      }
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })

  it('reads the body', async () => {
    await expect(fetchText(`${base}/ok`, 'k8s-releases-url')).resolves.toBe('v1.34.3\n')
  })

  it('an HTTP error names the URL and the status', async () => {
    await expect(fetchText(`${base}/fail`, 'go-releases-url')).rejects.toThrow(`${base}/fail: answered HTTP 500 Internal Server Error; nothing was changed`)
  })

  it('a source that does not answer in time is an error, not a hang', async () => {
    await expect(fetchText(`${base}/hang`, 'go-releases-url', 300)).rejects.toThrow(`${base}/hang: no answer within 0.3 s`)
  })

  it('a source nothing listens on names the URL and the reason', async () => {
    const closed = createServer()
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/go.json`
    await new Promise(resolve => closed.close(resolve))
    await expect(fetchText(url, 'go-releases-url')).rejects.toThrow(`${url}: could not be reached (ECONNREFUSED)`)
  })
})
