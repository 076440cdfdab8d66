/**
 * A pinned buildx for real: a local HTTP server on loopback serves the real buildx 0.30.1 release binary (built
 * from the upstream tag, ../shared/buildkit; or the GitHub release where scripts/e2e-env.sh fetched it) and a
 * checksums.txt in GitHub's release layout; the action downloads it once, verifies it, caches it in the tool cache,
 * installs it as the docker CLI plugin of this job only (a DOCKER_CONFIG of the job's own: the runner user's own
 * plugin stays, for later jobs), and the build then runs on it. A tampered binary (one byte changed, the release's checksum) installs nothing.
 * A program put in the tool cache under buildx's name (what another job of a self-hosted runner could leave there)
 * never runs: the next job checks the cached copy against checksums.txt, says so, and installs the release again.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, readdir } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { execFile } from 'node:child_process'
import { runAction, type ActionRun } from '../../scripts/run-action.mjs'
import { copyOnlyContext, expectSucceeded, freshRepository, MINUTES, requireEnvironment } from './support/environment.js'
import { HOSTED_PATH, HOSTED_STATUS } from './support/paths.js'

/** The machine's own buildx (Debian's 0.13.1). */
const MACHINE_BUILDX = '/usr/libexec/docker/cli-plugins/docker-buildx'
// The current buildx of GitHub-hosted runners; the machine's own is Debian's 0.13.1.
const VERSION = '0.30.1'
const FILE = `buildx-v${VERSION}.linux-amd64`
const RELEASE_FILES = ['darwin-amd64', 'darwin-arm64', 'linux-amd64', 'linux-arm-v7', 'linux-arm64', 'linux-ppc64le', 'linux-s390x', 'windows-amd64.exe']

const releaseBinary = HOSTED_PATH.available ? path.join(HOSTED_STATUS.buildxPluginDir!, 'docker-buildx') : ''
const binary = releaseBinary ? readFileSync(releaseBinary) : Buffer.alloc(0)
const sha256 = createHash('sha256').update(binary).digest('hex')
/** The same binary with one byte changed: what a compromised mirror would serve under the release's checksum. */
const tampered = Buffer.from(binary)
if (tampered.length > 0) tampered.writeUInt8(tampered.readUInt8(tampered.length >> 1) ^ 0xff, tampered.length >> 1)
const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')
/** checksums.txt as a buildx release has it: one `SHA256 *FILE` line per release file. */
const checksums = RELEASE_FILES.map(f => `buildx-v${VERSION}.${f}`)
  .map(f => `${f === FILE ? sha256 : sha(`not served: ${f}`)} *${f}`)
  .join('\n')
const requests: string[] = []
let server: Server
let base = ''

const temp = (name: string): Promise<string> => mkdtemp(path.join(tmpdir(), `go-build-action-${name}-`))

function run(mirror: 'good' | 'bad', dockerConfig: string, toolCache: string): Promise<ActionRun> {
  return copyOnlyContext().then(cwd =>
    runAction({
      cwd,
      env: { DOCKER_CONFIG: dockerConfig, RUNNER_TOOL_CACHE: toolCache },
      inputs: {
        images: freshRepository('buildx-pinned'),
        'tag-template': 'x',
        push: 'false',
        platforms: 'linux/amd64',
        'buildx-version': VERSION,
        'buildx-download-url': `${base}/${mirror}/v{version}/buildx-v{version}.{os}-{arch}`
      }
    })
  )
}

beforeAll(async () => {
  await requireEnvironment()
  if (!HOSTED_PATH.available) return
  server = createServer((req, res) => {
    requests.push(req.url ?? '')
    const [, mirror, dir, file] = (req.url ?? '').split('/')
    if (dir !== `v${VERSION}` || (mirror !== 'good' && mirror !== 'bad')) return void res.writeHead(404).end()
    if (file === FILE) return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(mirror === 'good' ? binary : tampered)
    if (file === 'checksums.txt') return void res.writeHead(200).end(`${checksums}\n`)
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}, MINUTES)

afterAll(async () => {
  if (server) await new Promise(resolve => server.close(resolve))
})

const describeWithRelease = HOSTED_PATH.available ? describe : describe.skip
describeWithRelease(`buildx-version with the real buildx ${VERSION}${HOSTED_PATH.available ? '' : ` (skipped: ${HOSTED_PATH.skipReason})`}`, () => {
  let toolCache: string

  it('downloads once, verifies, caches and installs the plugin; the second run uses the tool cache', async () => {
    toolCache = await temp('toolcache')
    // a self-hosted runner user with a docker-buildx plugin of their own
    const firstConfig = await temp('docker-config')
    mkdirSync(path.join(firstConfig, 'cli-plugins'))
    symlinkSync(MACHINE_BUILDX, path.join(firstConfig, 'cli-plugins', 'docker-buildx'))
    const first = await run('good', firstConfig, toolCache)
    expectSucceeded(first)
    expect(first.main.log).toMatch(/buildx 0\.13\.1\+ds1 is installed; buildx-version asks for 0\.30\.1/)
    expect(first.main.log).toContain(`sha256 ${sha256} matches`)
    expect(requests).toEqual([`/good/v${VERSION}/checksums.txt`, `/good/v${VERSION}/${FILE}`])

    // installed for this job only: the runner user's own plugin (here the machine's 0.13.1) is what later jobs get
    const own = path.join(firstConfig, 'cli-plugins', 'docker-buildx')
    expect(readlinkSync(own)).toBe(MACHINE_BUILDX)
    expect(readdirSync(path.join(firstConfig, 'cli-plugins'))).toEqual(['docker-buildx'])
    expect(first.main.log).toMatch(/installed buildx 0\.30\.1 as \S+\/docker-config\/cli-plugins\/docker-buildx, for this job only/)
    expect(first.state.dockerConfig).toMatch(/\/docker-config$/)
    expect(existsSync(first.state.dockerConfig ?? '')).toBe(false) // the post step removed it with the work directory
    const cached = path.join(toolCache, 'docker-buildx', VERSION, 'amd64')
    expect(await readdir(cached)).toEqual(['docker-buildx'])
    expect(existsSync(`${cached}.complete`)).toBe(true)
    // The build ran on it: the builder phase logs `docker buildx version` and the version it reports.
    expect(first.main.log).toMatch(new RegExp(`docker buildx version\\n.*github.com/docker/buildx v${VERSION.replace(/\./g, '\\.')} `))
    expect(first.main.log).toMatch(new RegExp(`builder \\S+ \\(docker, buildx ${VERSION.replace(/\./g, '\\.')}\\) supports`))
    // The post step removed the builder with the same plugin, and a later job's docker CLI runs the runner's own.
    expect(first.post?.log).toMatch(/removed docker context/)
    const { stdout } = await promisify(execFile)('docker', ['buildx', 'version'], { env: { ...process.env, DOCKER_CONFIG: firstConfig } })
    expect(stdout).toMatch(/buildx 0\.13\.1/)

    const secondConfig = await temp('docker-config')
    const beforeSecond = requests.length
    const second = await run('good', secondConfig, toolCache)
    expectSucceeded(second)
    expect(second.main.log).toMatch(new RegExp(`buildx ${VERSION.replace(/\./g, '\\.')} found in the tool cache \\(.*\\); sha256 ${sha256} matches .*/good/v${VERSION}/checksums\\.txt`))
    // the cached copy is checked against the release's checksums again; the binary is not downloaded again
    expect(requests.slice(beforeSecond)).toEqual([`/good/v${VERSION}/checksums.txt`])
    expect(existsSync(path.join(secondConfig, 'cli-plugins', 'docker-buildx'))).toBe(false)
  }, 10 * MINUTES)

  it('never runs a program left in the tool cache under buildx\'s name: the cached copy is checked, reported, downloaded again and replaced', async () => {
    const before = requests.length
    const toolCache = await temp('toolcache')
    const marker = path.join(await temp('marker'), 'ran')
    const cached = path.join(toolCache, 'docker-buildx', VERSION, 'amd64')
    mkdirSync(cached, { recursive: true })
    writeFileSync(path.join(cached, 'docker-buildx'), `#!/bin/sh\ntouch ${marker}\nexit 1\n`, { mode: 0o755 })
    writeFileSync(`${cached}.complete`, '')
    const seeded = await run('good', await temp('docker-config'), toolCache)
    expectSucceeded(seeded)
    expect(existsSync(marker)).toBe(false)
    expect(seeded.main.log).toMatch(
      new RegExp(`::warning::the buildx ${VERSION.replace(/\./g, '\\.')} in the tool cache \\(${cached}/docker-buildx\\) has sha256 [0-9a-f]{64}, but \\S+/good/v${VERSION}/checksums\\.txt says ${sha256}: it is not run`)
    )
    expect(requests.slice(before)).toEqual([`/good/v${VERSION}/checksums.txt`, `/good/v${VERSION}/${FILE}`])
    expect(sha(readFileSync(path.join(cached, 'docker-buildx')))).toBe(sha256)
    expect(seeded.main.log).toMatch(new RegExp(`builder \\S+ \\(docker, buildx ${VERSION.replace(/\./g, '\\.')}\\) supports`))
    expect(existsSync(marker)).toBe(false)
  }, 5 * MINUTES)

  it('fails clearly on a tampered binary and installs nothing', async () => {
    const before = requests.length
    const dockerConfig = await temp('docker-config')
    const emptyCache = await temp('toolcache')
    const bad = await run('bad', dockerConfig, emptyCache)
    expect(bad.main.exitCode).toBe(1)
    expect(requests.slice(before)).toEqual([`/bad/v${VERSION}/checksums.txt`, `/bad/v${VERSION}/${FILE}`])
    expect(bad.main.log).toMatch(
      new RegExp(`::error::the buildx ${VERSION} download from .*/bad/v${VERSION}/${FILE} has sha256 ${sha(tampered)}, but .*checksums.txt says ${sha256}: nothing was installed`)
    )
    expect(existsSync(path.join(dockerConfig, 'cli-plugins'))).toBe(false)
    expect(await readdir(emptyCache)).toEqual([])
    expect(bad.main.log).not.toMatch(/buildx build/)
    expect(bad.post?.exitCode).toBe(0)
  }, 5 * MINUTES)
})
