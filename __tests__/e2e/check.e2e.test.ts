/**
 * `mode: check` end to end: the bundled action (main step, then post step) against a loopback HTTP server this test
 * starts, which serves the release fixtures in their real formats (__fixtures__/releases/). The check needs no
 * docker (it logs in nowhere, sets up no QEMU and no builder, pushes nothing), so it runs once, not on both runner
 * paths: the runs below get a PATH without docker and a DOCKER_HOST nothing listens on, and still pass.
 *
 * - the versions file is rewritten with the new versions and the new checksums, and not one other byte;
 * - a second check changes nothing;
 * - a source that answers HTTP 500 or malformed JSON fails the check naming the URL, and no file changes (the
 *   Kubernetes source answered fine in those runs: nothing of its answer is written either);
 * - versions from the Dockerfile's ARG defaults are rewritten there, with `update: minor`;
 * - calico's tinygo, rust and binfmt versions files (__fixtures__/calico-toolchain/): the versions the check has a
 *   source for are checked and rewritten whatever the template can render, and the tag is named as a publish
 *   names it (the first-run tag, with the same notice, where the default template's versions are not there).
 * `result` is `checked` and `pushed` `false` on every check that ends, `failed` on one that does not.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { repoRoot, runAction, type ActionRun } from '../../scripts/run-action.mjs'
import { errorLines, expectSucceeded, NO_DOCKER } from './support/environment.js'

const FIXTURES = path.join(repoRoot, '__fixtures__', 'releases')
const SECONDS = 1000

/**
 * A Go download list in go.dev's format with a later 1.23 patch than calico's tinygo pins (1.23.12): go1.23.13 is
 * made up for this test (1.23 had no 13th patch), its sums the sha256 of the file names.
 */
const fakeSum = (name: string): string => createHash('sha256').update(name).digest('hex')
const GO_123 = ['go1.23.13', 'go1.23.12'].map(version => ({
  version,
  stable: true,
  files: ['amd64', 'arm64', 'ppc64le', 's390x'].map(arch => ({
    filename: `${version}.linux-${arch}.tar.gz`,
    os: 'linux',
    arch,
    version,
    sha256: fakeSum(`${version}.linux-${arch}.tar.gz`),
    size: 1,
    kind: 'archive'
  }))
}))
const CALICO = path.join(repoRoot, '__fixtures__', 'calico-toolchain')

interface Served {
  status?: number
  body: string
}

describe('mode: check (no docker: one run per case, no runner paths)', () => {
  let server: Server
  let base: string
  const asked: string[] = []
  const original = (): Promise<string> => readFile(path.join(FIXTURES, 'versions.yaml'), 'utf8')
  const goList = (): Promise<string> => readFile(path.join(FIXTURES, 'go-dl.json'), 'utf8')

  beforeAll(async () => {
    const routes: Record<string, Served> = {
      '/go/dl/?mode=json&include=all': { body: await goList() },
      '/k8s/release/stable-1.34.txt': { body: await readFile(path.join(FIXTURES, 'k8s-stable-1.34.txt'), 'utf8') },
      '/k8s/release/stable.txt': { body: await readFile(path.join(FIXTURES, 'k8s-stable.txt'), 'utf8') },
      '/llvm/releases': { body: await readFile(path.join(FIXTURES, 'llvm-releases.json'), 'utf8') },
      '/go/dl-1.23/?mode=json&include=all': { body: JSON.stringify(GO_123) },
      '/broken/500': { status: 500, body: 'upstream error' },
      '/broken/malformed': { body: '[{"version": "go1.25.5", "stable": true, "files": [' }
    }
    server = createServer((request, response) => {
      asked.push(request.url ?? '')
      const route = routes[request.url ?? '']
      response.statusCode = route ? (route.status ?? 200) : 404
      response.end(route ? route.body : 'not found')
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })

  /** A context with the fixture's versions file (comments, odd indentation, extra keys) and the go-build example's Dockerfile. */
  async function context(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-check-'))
    await copyFile(path.join(FIXTURES, 'versions.yaml'), path.join(dir, 'versions.yaml'))
    await copyFile(path.join(repoRoot, 'examples', 'go-build', 'Dockerfile'), path.join(dir, 'Dockerfile'))
    return dir
  }

  const check = (dir: string, inputs: Record<string, string> = {}): Promise<ActionRun> =>
    runAction({
      cwd: dir,
      env: NO_DOCKER,
      inputs: {
        mode: 'check',
        'go-releases-url': `${base}/go/dl/?mode=json&include=all`,
        'k8s-releases-url': `${base}/k8s/release`,
        'llvm-releases-url': `${base}/llvm/releases`,
        ...inputs
      }
    })

  /** The sha256 of a file of the served Go list, read without the action's code. */
  async function listed(filename: string): Promise<string> {
    const entries = JSON.parse(await goList()) as Array<{ files: Array<{ filename: string; sha256: string }> }>
    return entries.flatMap(e => e.files).find(f => f.filename === filename)!.sha256
  }

  it(
    'rewrites versions.yaml with the new patch releases and their checksums, keeping everything else; a second check changes nothing',
    async () => {
      const dir = await context()
      const file = path.join(dir, 'versions.yaml')
      const before = await original()
      const first = await check(dir)
      expectSucceeded(first)

      const sums = Object.fromEntries(
        await Promise.all(['amd64', 'arm64', 'ppc64le', 's390x'].map(async arch => [arch, await listed(`go1.25.5.linux-${arch}.tar.gz`)] as const))
      )
      const expected = before
        .replace('version: 1.25.4 #', 'version: 1.25.5 #')
        .replace(/amd64: [0-9a-f]{64}/, `amd64: ${sums.amd64}`)
        .replace(/arm64: "[0-9a-f]{64}"/, `arm64: "${sums.arm64}"`)
        .replace(/ppc64le: [0-9a-f]{64}/, `ppc64le: ${sums.ppc64le}`)
        .replace(/s390x: [0-9a-f]{64}/, `s390x: ${sums.s390x}`)
        .replace('version: v1.34.1', 'version: v1.34.3')
      expect(await readFile(file, 'utf8')).toBe(expected)

      expect(JSON.parse(first.outputs.updates ?? '')).toEqual([
        { name: 'go', from: '1.25.4', to: '1.25.5', source: `${base}/go/dl/?mode=json&include=all` },
        { name: 'k8s', from: '1.34.1', to: '1.34.3', source: `${base}/k8s/release/stable-1.34.txt` }
      ])
      expect(first.outputs).toMatchObject({ tag: '1.25.5-llvm18.1.8-k8s1.34.3', changed: 'true', result: 'checked', pushed: 'false' })
      expect(JSON.parse(first.outputs.versions ?? '')).toEqual({ go: '1.25.5', llvm: '18.1.8', k8s: '1.34.3' })
      // the newer minor (1.26.0), the prereleases and the LLVM draft were seen and not taken
      expect(first.main.log).not.toMatch(/1\.26\.0|1\.27rc1|18\.1\.9|1\.35\.0/)
      expect(asked).toEqual(expect.arrayContaining(['/go/dl/?mode=json&include=all', '/k8s/release/stable-1.34.txt', '/llvm/releases']))

      // the summary: the table, the tag, the file rewritten
      expect(first.summary).toContain('<h2>Toolchain update check</h2>')
      expect(first.summary).toContain('2 updates under <code>update: patch</code>')
      expect(first.summary).toContain('<td>go</td><td><code>1.25.4</code></td><td><code>1.25.5</code></td>')
      expect(first.summary).toContain('<td>llvm</td><td><code>18.1.8</code></td><td>current</td>')
      expect(first.summary).toContain('<code>1.25.5-llvm18.1.8-k8s1.34.3</code>')
      expect(first.summary).toContain(
        "Rewritten: <code>versions.yaml</code>, with the sha256 of the Go archive for <code>amd64</code>, <code>arm64</code>, <code>ppc64le</code>, <code>s390x</code>"
      )

      // no docker: nothing logged in, no QEMU, no builder, no work directory; the post step has nothing to clean
      expect(Object.keys(first.state)).toEqual(['isPost'])
      expect(first.main.log).not.toMatch(/Log in|Set up QEMU|Set up the builder|buildx/)
      expect(first.post?.log).toBe('')

      const second = await check(dir)
      expectSucceeded(second)
      expect(await readFile(file, 'utf8')).toBe(expected)
      expect(second.outputs).toMatchObject({ updates: '[]', changed: 'false', tag: '1.25.5-llvm18.1.8-k8s1.34.3' })
      expect(second.summary).toContain('Every version checked is the newest under <code>update: patch</code>')
    },
    60 * SECONDS
  )

  it(
    'a source answering HTTP 500 or malformed JSON fails the check naming the URL, and changes no file',
    async () => {
      const [failing, malformed] = await Promise.all([context(), context()])
      const before = await original()
      const runs = await Promise.all([
        check(failing, { 'go-releases-url': `${base}/broken/500` }),
        check(malformed, { 'go-releases-url': `${base}/broken/malformed` })
      ])
      const errors = runs.map(run => errorLines(run.main))
      expect(errors).toEqual([
        [
          `::error::${base}/broken/500: answered HTTP 500 Internal Server Error; nothing was changed. Check the source, or point "go-releases-url" at a mirror that serves it`
        ],
        [expect.stringMatching(new RegExp(`^::error::${base.replace(/\./g, '\\.')}/broken/malformed: did not answer JSON \\(.+\\); nothing was changed\\.`))]
      ])
      for (const run of runs) {
        expect(run.main.exitCode).not.toBe(0)
        expect(run.post?.exitCode).toBe(0)
        expect(run.outputs).toMatchObject({ changed: '', result: 'failed', pushed: 'false' })
      }
      // the Kubernetes marker answered 1.34.3 in both runs: it was not written either
      expect(await readFile(path.join(failing, 'versions.yaml'), 'utf8')).toBe(before)
      expect(await readFile(path.join(malformed, 'versions.yaml'), 'utf8')).toBe(before)
    },
    60 * SECONDS
  )

  it(
    'versions from the Dockerfile ARG defaults are rewritten there; update: minor takes the newest minor, never a prerelease',
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-check-args-'))
      const dockerfile = ['ARG GO_VERSION=1.25.4', 'ARG K8S_VERSION=v1.34.1', 'FROM scratch', 'ARG GO_VERSION', 'ARG K8S_VERSION', 'LABEL go=${GO_VERSION} k8s=${K8S_VERSION}', ''].join('\n')
      await writeFile(path.join(dir, 'Dockerfile'), dockerfile)
      const run = await check(dir, { update: 'minor', 'tag-template': 'go{go}-k8s{k8s}', 'llvm-releases-url': '' })
      expectSucceeded(run)
      expect(await readFile(path.join(dir, 'Dockerfile'), 'utf8')).toBe(dockerfile.replace('GO_VERSION=1.25.4', 'GO_VERSION=1.26.0').replace('K8S_VERSION=v1.34.1', 'K8S_VERSION=v1.35.0'))
      expect(JSON.parse(run.outputs.updates ?? '')).toEqual([
        { name: 'go', from: '1.25.4', to: '1.26.0', source: `${base}/go/dl/?mode=json&include=all` },
        { name: 'k8s', from: '1.34.1', to: '1.35.0', source: `${base}/k8s/release/stable.txt` }
      ])
      expect(run.outputs).toMatchObject({ tag: 'go1.26.0-k8s1.35.0', changed: 'true' })
    },
    60 * SECONDS
  )

  /** A context with one of calico's versions files and a Dockerfile with no ARG. */
  async function calico(image: string): Promise<{ dir: string; file: string; before: string }> {
    const dir = await mkdtemp(path.join(tmpdir(), `go-build-action-check-${image}-`))
    await copyFile(path.join(CALICO, image, 'versions.yaml'), path.join(dir, 'versions.yaml'))
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY versions.yaml /etc/versions.yaml\n')
    const file = path.join(dir, 'versions.yaml')
    return { dir, file, before: await readFile(file, 'utf8') }
  }

  it(
    "calico's tinygo file (golang: and tinygo:, amd64 and arm64): Go is checked and rewritten with its two checksums, the tag is the first-run tag with the publish's notice",
    async () => {
      const tinygo = await calico('calico-tinygo')
      const run = await check(tinygo.dir, { platforms: 'linux/amd64,linux/arm64', 'go-releases-url': `${base}/go/dl-1.23/?mode=json&include=all`, 'llvm-releases-url': '' })
      expectSucceeded(run)
      const expected = tinygo.before
        .replace('  version: 1.23.12\n', '  version: 1.23.13\n')
        .replace(/amd64: d3847fef[0-9a-f]{56}/, `amd64: ${fakeSum('go1.23.13.linux-amd64.tar.gz')}`)
        .replace(/arm64: 52ce172f[0-9a-f]{56}/, `arm64: ${fakeSum('go1.23.13.linux-arm64.tar.gz')}`)
      expect(expected).not.toBe(tinygo.before)
      expect(await readFile(tinygo.file, 'utf8')).toBe(expected)
      expect(run.outputs).toMatchObject({ result: 'checked', pushed: 'false', changed: 'true', tag: 'sha-0000000', versions: '{"go":"1.23.13"}' })
      expect(run.main.log).toContain(
        "::notice::the image carries no {llvm}, {k8s} version (only go 1.23.13), so the versioned tag {go}-llvm{llvm}-k8s{k8s} does not apply: the main tag is the commit's sha-0000000"
      )
      expect(run.summary).toContain('Rewritten: <code>versions.yaml</code>, with the sha256 of the Go archive for <code>amd64</code>, <code>arm64</code>')
    },
    60 * SECONDS
  )

  it(
    "calico's rust and binfmt files (rust:, qemu:): nothing to ask with defaults, and with version-args the tag names the version, reported as not checked",
    async () => {
      const [rust, rustNamed, binfmt] = await Promise.all([calico('calico-rust-build'), calico('calico-rust-build'), calico('calico-binfmt')])
      const runs = await Promise.all([
        check(rust.dir),
        check(rustNamed.dir, { 'version-args': 'rust=RUST_VERSION', 'tag-template': 'rust{rust}' }),
        check(binfmt.dir, { 'version-args': 'qemu=QEMU_VERSION', 'tag-template': 'qemu{qemu}' })
      ])
      for (const run of runs) expectSucceeded(run)
      expect(runs.map(run => ({ result: run.outputs.result, changed: run.outputs.changed, tag: run.outputs.tag }))).toEqual([
        { result: 'checked', changed: 'false', tag: 'sha-0000000' },
        { result: 'checked', changed: 'false', tag: 'rust1.96.0' },
        { result: 'checked', changed: 'false', tag: 'qemu10.2.2' }
      ])
      expect(runs[0]!.summary).toContain('No version with a release source to ask')
      expect(runs[1]!.summary).toContain('Not checked: rust <code>1.96.0</code>')
      expect(runs[2]!.summary).toContain('Not checked: qemu <code>10.2.2</code>')
      for (const { file, before } of [rust, rustNamed, binfmt]) expect(await readFile(file, 'utf8')).toBe(before)
    },
    60 * SECONDS
  )
})
