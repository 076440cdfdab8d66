/**
 * Build nodes (`nodes`), on the hosted path (nodes need the docker-container driver): BuildKit daemons of the
 * project's own BuildKit image, each a `buildkitd` container listening on loopback TCP with mutual TLS (a CA and
 * certificates this file makes with openssl), one declaring linux/amd64, the other linux/arm64 and linux/s390x
 * (`--oci-worker-platform`). Each daemon keeps its state under a root of its own (`--root`), and a RUN step writes
 * the root its filesystem lives under (from /proc/self/mountinfo) into the image, so the registry shows which
 * daemon built each platform. The nodes share this machine's CPU: what is measured is correctness, not speed.
 * Every container this file starts is removed (with its volume) in `afterAll`, whatever happened.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import * as http from 'node:http'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { BASE_IMAGE, FOUR_PLATFORMS, docker, expectSucceeded, freshRepository, leaks, MINUTES, registryManifest, registryTags, requireEnvironment, theError, UNREACHABLE } from './support/environment.js'
import { builderLeftovers, ENGINE_PATH, HOSTED_PATH, runOnPath } from './support/paths.js'

const execFileAsync = promisify(execFile)
const TAG = 'nodes'
const BUILDKIT_IMAGE = HOSTED_PATH.inputs['buildkit-image'] ?? ''
const onHosted = HOSTED_PATH.available ? describe : describe.skip
const skipped = HOSTED_PATH.available ? '' : ` (skipped: ${HOSTED_PATH.skipReason})`

beforeAll(requireEnvironment, MINUTES)

// ---------------------------------------------------------------------------------------------------------------
// Certificates and daemons

interface Pki {
  dir: string
  /** The CA, the runner's client certificate and key, as PEM: what a workflow passes as secrets. */
  ca: string
  cert: string
  key: string
  /** A client certificate and key of another CA: what the nodes refuse. */
  otherCert: string
  otherKey: string
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd: dir })
}

/** A CA; the daemons' certificate (for 127.0.0.1) and the runner's client certificate, both signed by it; and a client certificate of another CA. */
async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-nodes-pki-'))
  const key = (name: string): string[] => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-key.pem`]
  await writeFile(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  await writeFile(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const ca of ['ca', 'other-ca']) await openssl(dir, ['req', '-x509', ...key(ca), '-days', '2', '-subj', `/CN=go-build-action e2e ${ca}`, '-out', `${ca}.pem`])
  for (const [name, ca, ext] of [['server', 'ca', 'server.ext'], ['client', 'ca', 'client.ext'], ['other-client', 'other-ca', 'client.ext']] as const) {
    await openssl(dir, ['req', ...key(name), '-subj', `/CN=${name}`, '-out', `${name}.csr`])
    await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${name}-cert.pem`])
  }
  const read = (name: string): Promise<string> => readFile(path.join(dir, name), 'utf8')
  return { dir, ca: await read('ca.pem'), cert: await read('client-cert.pem'), key: await read('client-key.pem'), otherCert: await read('other-client-cert.pem'), otherKey: await read('other-client-key.pem') }
}

/**
 * A loopback port nothing listens on now, for a daemon of this file: a random one of 20000–29999, below the
 * kernel's ephemeral range (32768–60999 by default), from which every port-0 listen of the other test files running
 * side by side (fault proxies, mirrors) and every outgoing connection takes its port, so none takes this one between
 * this check and the daemon's own listen.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 10000)
    const free = await new Promise<boolean>(resolve => {
      const server = net.createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (free) return port
    if (attempt === 50) throw new Error('no free loopback port in 20000–29999 after 50 tries')
  }
}

interface Daemon {
  container: string
  endpoint: string
  /** The state directory its RUN steps' filesystems live under. */
  root: string
}

/**
 * A `buildkitd` container of the project's BuildKit image, on the host's network (so it reaches the registries on
 * loopback) and listening on one loopback port with mutual TLS, declaring `platforms`; started and listening.
 */
async function startDaemon(pki: Pki, name: string, platforms: string[]): Promise<Daemon> {
  const container = `go-build-action-e2e-${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
  const port = await freePort()
  const root = `/var/lib/buildkit/${container}`
  await docker([
    'run', '--detach', '--name', container, '--privileged', '--network', 'host', '--volume', `${pki.dir}:/certs:ro`, BUILDKIT_IMAGE,
    '--addr', `tcp://127.0.0.1:${port}`, '--tlscacert', '/certs/ca.pem', '--tlscert', '/certs/server-cert.pem', '--tlskey', '/certs/server-key.pem',
    '--root', root, ...platforms.flatMap(p => ['--oci-worker-platform', p])
  ])
  for (let i = 0; i < 120; i++) {
    const { stdout, stderr } = await docker(['logs', container])
    if (`${stdout}${stderr}`.includes(`running server on 127.0.0.1:${port}`)) return { container, endpoint: `tcp://127.0.0.1:${port}`, root }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  throw new Error(`${container} did not start listening on 127.0.0.1:${port}: ${(await docker(['logs', container])).stderr.slice(-2000)}`)
}

async function removeDaemons(daemons: ReadonlyArray<Daemon | undefined>): Promise<void> {
  const containers = daemons.flatMap(d => (d ? [d.container] : []))
  // with its anonymous volume (the image's /var/lib/buildkit)
  if (containers.length > 0) await docker(['rm', '--force', '--volumes', ...containers]).catch(() => undefined)
}

function nodesYaml(nodes: ReadonlyArray<{ name: string; endpoint: string; platforms: string[] }>): string {
  return nodes.map(n => `- name: ${n.name}\n  endpoint: ${n.endpoint}\n  platforms: [${n.platforms.join(', ')}]\n`).join('')
}

// ---------------------------------------------------------------------------------------------------------------
// What the registry and the disk hold

/** GETs a blob's bytes straight from the open registry. */
function registryBlob(repository: string, digest: string): Promise<Buffer> {
  const [host, ...rest] = repository.split('/')
  const port = host!.split(':')[1] ?? '80'
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${port}/v2/${rest.join('/')}/blobs/${digest}`, { agent: false }, response => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => (response.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`blob ${digest}: HTTP ${response.statusCode}`))))
      })
      .on('error', reject)
  })
}

/** A file of a platform image as the registry holds it: the top layer's tar (gzip) entry, or undefined. */
async function fileInImage(repository: string, manifestDigest: string, file: string): Promise<string | undefined> {
  const manifest = JSON.parse((await registryManifest(`${repository}@${manifestDigest}`)).body) as { layers: Array<{ digest: string }> }
  for (const layer of [...manifest.layers].reverse()) {
    const tar = gunzipSync(await registryBlob(repository, layer.digest))
    for (let offset = 0; offset + 512 <= tar.length; ) {
      const name = tar.subarray(offset, offset + 100).toString('utf8').replace(/\0.*$/s, '')
      if (!name) break
      const size = parseInt(tar.subarray(offset + 124, offset + 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8)
      if (name.replace(/^\.\//, '') === file) return tar.subarray(offset + 512, offset + 512 + size).toString('utf8')
      offset += 512 + Math.ceil(size / 512) * 512
    }
  }
  return undefined
}

/** Files under `dir` (recursively, links not followed) whose content holds one of `needles`; [] when `dir` is gone. */
async function filesHolding(dir: string, needles: readonly string[]): Promise<string[]> {
  const found: string[] = []
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    const text = await readFile(file, 'latin1').catch(() => '')
    if (needles.some(n => text.includes(n))) found.push(file)
  }
  return found
}

/** The PEM's base64 lines: what must reach no log, file or argv. */
const pemBody = (pem: string): string[] => pem.split('\n').filter(l => l && !l.startsWith('-----'))

/**
 * What a run left of the TLS material and the nodes' builders once its post step ran: files holding the key or
 * the certificate (the runner's temporary directory, the job's docker config), log lines holding them (beyond
 * the runner's `::add-mask::` commands), and builders of the nodes buildx still knows.
 */
async function leftovers(run: ActionRun, pki: Pki, key = pki.key, cert = pki.cert): Promise<string[]> {
  const left: string[] = []
  const secrets = [...pemBody(key), ...pemBody(cert)]
  for (const dir of [run.runnerDir, run.dockerConfig ?? '']) if (dir) left.push(...(await filesHolding(dir, secrets)).map(f => `file ${f}`))
  const logged = new Set(secrets.flatMap(s => leaks(run, s)))
  if (logged.size > 0) left.push(`${logged.size} log line(s), output(s), state or summary`)
  // the nodes' builders, as the log shows them created (not as the state says: that is what the post step reads)
  const builders = new Set([...run.main.log.matchAll(/\[command\]docker buildx create --name (\S+) --driver remote /g)].map(m => m[1]!))
  for (const builder of builders) {
    const inspected = await docker(['buildx', 'inspect', builder], run.dockerConfig).then(
      () => true,
      () => false
    )
    if (inspected) left.push(`builder ${builder}`)
  }
  return [...new Set(left), ...(await builderLeftovers(run))]
}

/** A context whose RUN step writes the state root of the daemon that ran it; `sleep`: seconds its RUN step first sleeps. */
async function routingContext(sleep = 0): Promise<string> {
  const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-nodes-'))
  await writeFile(
    path.join(context, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      'FROM ${BASE_IMAGE}',
      'ARG RUN_ID',
      // the daemon's state root: where this step's root filesystem lives, as its mount table says
      `RUN ${sleep ? `sleep ${sleep} && ` : ''}echo "$RUN_ID" > /run-id && grep -o 'lowerdir=[^,:]*' /proc/self/mountinfo | head -n 1 | sed -e 's#^lowerdir=##' -e 's#/runc-overlayfs/.*##' > /built-by`,
      // a compile the emulation advisor flags where the platform runs under QEMU (it never runs)
      'RUN true || make',
      ''
    ].join('\n')
  )
  return context
}

// ---------------------------------------------------------------------------------------------------------------

onHosted(`${HOSTED_PATH.title} build nodes${skipped}`, () => {
  let pki: Pki
  let amd64: Daemon | undefined
  let arm64: Daemon | undefined

  beforeAll(async () => {
    pki = await makePki()
    ;[amd64, arm64] = await Promise.all([startDaemon(pki, 'node-amd64', ['linux/amd64']), startDaemon(pki, 'node-arm64', ['linux/arm64', 'linux/s390x'])])
  }, 5 * MINUTES)

  afterAll(async () => {
    await removeDaemons([amd64, arm64])
    if (pki) await rm(pki.dir, { recursive: true, force: true })
  }, 2 * MINUTES)

  /** A run on the hosted path with `nodes`, with the CA and (unless `client` says otherwise) the runner's client certificate. */
  const runWithNodes = (context: string, repository: string, nodes: string, inputs: Record<string, string>, client = { cert: pki.cert, key: pki.key }): Promise<ActionRun> =>
    runOnPath(HOSTED_PATH, {
      cwd: context,
      inputs: { images: repository, 'build-args': `BASE_IMAGE=${BASE_IMAGE}`, nodes, 'nodes-cacert': pki.ca, 'nodes-cert': client.cert, 'nodes-key': client.key, ...inputs }
    })

  describe('a four-platform publish with two nodes', () => {
    const repository = freshRepository('nodes')
    const runId = String(Date.now())
    let run: ActionRun
    let context: string

    beforeAll(async () => {
      context = await routingContext()
      const nodes = nodesYaml([
        { name: 'amd64-1', endpoint: amd64!.endpoint, platforms: ['linux/amd64'] },
        { name: 'arm64-1', endpoint: arm64!.endpoint, platforms: ['linux/arm64', 'linux/s390x'] }
      ])
      run = await runWithNodes(context, repository, nodes, {
        platforms: FOUR_PLATFORMS.join(','),
        'tag-template': TAG,
        'build-args': `BASE_IMAGE=${BASE_IMAGE}\nRUN_ID=${runId}`,
        'verify-command': 'cat /built-by'
      })
    }, 15 * MINUTES)

    afterAll(async () => {
      if (context) await rm(context, { recursive: true, force: true })
    })

    it('publishes TAG and TAG-ARCH of the four platforms; each platform was built by the daemon that serves it, the rest on this runner', async () => {
      expectSucceeded(run)
      expect(run.outputs.result).toBe('published')
      expect(await registryTags(repository)).toEqual([TAG, ...FOUR_PLATFORMS.map(p => `${TAG}-${p.split('/')[1]}`)].sort())
      const published = await registryManifest(`${repository}:${TAG}`)
      expect(published.digest).toBe(run.outputs.digest)
      const digests = JSON.parse(run.outputs['platform-digests'] ?? '{}') as Record<string, string>
      expect(Object.keys(digests).sort()).toEqual([...FOUR_PLATFORMS].sort())
      const builtBy: Record<string, string | undefined> = {}
      const runIds: Record<string, string | undefined> = {}
      for (const platform of FOUR_PLATFORMS) {
        builtBy[platform] = (await fileInImage(repository, digests[platform]!, 'built-by'))?.trim()
        runIds[platform] = (await fileInImage(repository, digests[platform]!, 'run-id'))?.trim()
      }
      expect(runIds).toEqual(Object.fromEntries(FOUR_PLATFORMS.map(p => [p, runId])))
      expect(builtBy).toEqual({
        'linux/amd64': amd64!.root,
        'linux/arm64': arm64!.root,
        // the runner's own docker-container builder: BuildKit's default root
        'linux/ppc64le': '/var/lib/buildkit',
        'linux/s390x': arm64!.root
      })
    }, 2 * MINUTES)

    it('sets up QEMU only for the platform no node serves, and says where each platform was built (outputs, summary)', () => {
      expect(run.outputs['qemu-platforms']).toBe('linux/ppc64le')
      const builtOn = JSON.parse(run.outputs['built-on'] ?? '{}') as Record<string, { node: string; endpoint: string; emulated: boolean; builder: string }>
      expect(builtOn).toEqual({
        'linux/amd64': { builder: expect.stringMatching(/-amd64-1$/), node: 'amd64-1', endpoint: amd64!.endpoint, emulated: false },
        'linux/arm64': { builder: expect.stringMatching(/-arm64-1$/), node: 'arm64-1', endpoint: arm64!.endpoint, emulated: false },
        'linux/ppc64le': { builder: run.outputs.builder, node: '', endpoint: '', emulated: true },
        'linux/s390x': { builder: builtOn['linux/arm64']?.builder, node: 'arm64-1', endpoint: arm64!.endpoint, emulated: false }
      })
      for (const [platform, node] of [['linux/amd64', 'amd64-1'], ['linux/arm64', 'arm64-1'], ['linux/s390x', 'arm64-1']]) {
        expect(run.summary).toMatch(new RegExp(`<tr><td>${platform}</td><td><code[^>]*>sha256:[0-9a-f]{12}</code></td><td>[0-9.]+ [KM]iB</td><td>remote node <code>${node}</code>: native</td>`))
      }
      expect(run.summary).toMatch(/<tr><td>linux\/ppc64le<\/td>.*<td>this runner: emulated \(QEMU\)<\/td>/)
      // the emulation advisor flags the compile only where it runs under QEMU: on this runner, for linux/ppc64le
      const advice = run.main.log.split('\n').filter(l => /^::(warning|error) .*Compiles under QEMU/.test(l))
      expect(advice).toEqual([expect.stringContaining('under QEMU for linux/ppc64le, typically')])
      // the verify command ran in every platform's image, as the registry serves it
      for (const root of [amd64!.root, arm64!.root]) expect(run.main.log).toContain(root)
    })

    it('each builder streams its own export beside its push, and the architecture check reads each one (none on the runner\'s disk)', () => {
      const builds = run.main.log.split('\n').filter(l => /\[command\]docker .*buildx build /.test(l))
      expect(builds).toHaveLength(3)
      for (const line of builds) {
        expect(line).toContain('--output type=oci,dest=-')
        expect(line).not.toMatch(/type=oci,dest=\//)
      }
      const read = run.main.log.split('\n').filter(l => l.includes("read the build's export of ") && l.includes(' as it streamed: '))
      expect(read.map(l => /export of (.+?) as it streamed/.exec(l)?.[1]).sort()).toEqual(
        [`node "amd64-1" (${amd64!.endpoint})`, `node "arm64-1" (${arm64!.endpoint})`, 'this runner'].sort()
      )
    })

    it('the post step leaves no certificate, key or builder behind, and neither reached a log or argv', async () => {
      expect(await leftovers(run, pki)).toEqual([])
      // buildx was given the files by path
      expect(run.main.log).toMatch(/\[command\]docker buildx create --name \S+-arm64-1 --driver remote --node arm64-1 --driver-opt cacert=\S+\/ca\.pem --driver-opt cert=\S+\/cert\.pem --driver-opt key=\S+\/key\.pem tcp:\/\/127\.0\.0\.1:\d+/)
    }, 2 * MINUTES)
  })

  it('a node with a wrong certificate and an unreachable endpoint: the run fails at set-up naming both, and builds and pushes nothing', async () => {
    const repository = freshRepository('nodes-setup')
    // the e2e registries' unreachable port, outside the ephemeral range: no other file's listen takes it
    const unreachable = `tcp://127.0.0.1:${UNREACHABLE.split(':')[1]}`
    const context = await routingContext()
    try {
      const nodes = nodesYaml([
        { name: 'amd64-1', endpoint: amd64!.endpoint, platforms: ['linux/amd64'] },
        { name: 'arm64-1', endpoint: unreachable, platforms: ['linux/arm64'] }
      ])
      // a client certificate another CA signed: the node's --tlscacert refuses it
      const run = await runWithNodes(context, repository, nodes, { platforms: 'linux/amd64,linux/arm64' }, { cert: pki.otherCert, key: pki.otherKey })
      // the message as the runner shows it: its %0A escapes read back as line breaks
      expect(theError(run)).toMatch(
        new RegExp(
          `^::error::2 nodes cannot build:\\n {2}node "amd64-1" \\(${amd64!.endpoint}\\) does not answer: .*; (it took the connection and closed it, .*: )?check the TLS material: .*\\n {2}node "arm64-1" \\(${unreachable}\\) does not answer: .*connection refused.*; check that its buildkitd runs and listens there`
        )
      )
      expect(run.main.log).not.toContain('::group::Build ')
      expect(await registryTags(repository)).toEqual([])
      expect(run.post?.exitCode).toBe(0)
      expect(await leftovers(run, pki, pki.otherKey, pki.otherCert)).toEqual([])
    } finally {
      await rm(context, { recursive: true, force: true })
    }
  }, 10 * MINUTES)

  it('a node stopped mid-build fails the run naming the node, stops the other builds, and publishes nothing', async () => {
    // a daemon of this test's own, which it stops
    const stopped = await startDaemon(pki, 'node-stopped', ['linux/arm64'])
    const repository = freshRepository('nodes-stop')
    // every RUN step sleeps 600 s: the run can only end sooner if the runner's own build is stopped
    const context = await routingContext(600)
    let watching = true
    try {
      const watcher = (async () => {
        while (watching) {
          const { stdout } = await docker(['top', stopped.container]).catch(() => ({ stdout: '' }))
          if (stdout.includes('sleep 600')) return docker(['stop', '--time', '1', stopped.container])
          await new Promise(resolve => setTimeout(resolve, 500))
        }
        return undefined
      })()
      const started = Date.now()
      const nodes = nodesYaml([{ name: 'arm64-1', endpoint: stopped.endpoint, platforms: ['linux/arm64'] }])
      // one retry of the build on the node, which finds it gone
      const run = await runWithNodes(context, repository, nodes, { platforms: 'linux/amd64,linux/arm64', 'retry-attempts': '2' })
      const seconds = (Date.now() - started) / 1000
      watching = false
      expect(await watcher).toBeDefined()
      expect(theError(run)).toMatch(
        new RegExp(`^::error::node "arm64-1" \\(${stopped.endpoint}\\) stopped answering while it built linux/arm64 \\(.*, 2 attempts\\); nothing was published \\(no tag moved\\)\\.`)
      )
      // the runner's own part (linux/amd64, sleeping 600 s) was stopped when the node's failed
      expect(seconds).toBeLessThan(600)
      expect(run.outputs).toMatchObject({ result: 'failed', pushed: 'false', tags: '' })
      expect(await registryTags(repository)).toEqual([])
      expect(run.post?.exitCode).toBe(0)
      expect(await leftovers(run, pki)).toEqual([])
    } finally {
      watching = false
      await removeDaemons([stopped])
      await rm(context, { recursive: true, force: true })
    }
  }, 15 * MINUTES)
})

describe(`${ENGINE_PATH.title} build nodes with driver: docker`, () => {
  it('fail before anything is set up, saying that nodes need the docker-container driver', async () => {
    const run = await runOnPath(ENGINE_PATH, {
      inputs: {
        images: freshRepository('nodes-docker'),
        driver: 'docker',
        nodes: '- endpoint: docker-container://some-buildkitd\n  platforms: linux/arm64\n'
      }
    })
    expect(theError(run)).toBe(
      '::error::input "driver": "docker" cannot build beside "nodes": nodes need the docker-container driver for the platforms no node serves (each build pushes by digest, and the run combines them into one index; the docker driver loads into the engine instead). Set "driver: docker-container" or leave it empty, or remove "nodes"'
    )
    expect(run.state.builder ?? '').toBe('')
    expect(run.state.nodeBuilders ?? '').toBe('')
    expect(run.post?.exitCode).toBe(0)
  }, 5 * MINUTES)
})
