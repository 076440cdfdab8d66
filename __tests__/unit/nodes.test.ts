import { describe, expect, it } from '@jest/globals'
import { existsSync, statSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { readBuilderSettings } from '../../src/setup/builder.js'
import {
  createNodeBuilderArgs,
  explainUnreachable,
  maskPem,
  NodeCredentials,
  parseNodes,
  planNodes,
  readNodeSettings,
  setUpNodes,
  type BuildNode
} from '../../src/setup/nodes.js'
import { formatPlatform, parsePlatform } from '../../src/core/platform.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''
const platforms = (...names: string[]) => names.map(parsePlatform)
const pem = (kind: string, body: string): string => `-----BEGIN ${kind}-----\n${body}\n-----END ${kind}-----\n`
const TLS = { 'nodes-cacert': pem('CERTIFICATE', 'Q0FDQUNB'), 'nodes-cert': pem('CERTIFICATE', 'Q0VSVENFUlQ='), 'nodes-key': pem('PRIVATE KEY', 'S0VZS0VZS0VZ\nTU9SRUtFWQ==') }
const TWO_NODES = '- name: amd64-1\n  endpoint: tcp://10.0.0.1:1234\n  platforms: linux/amd64\n- endpoint: tcp://10.0.0.2:1234\n  platforms: [linux/arm64, linux/s390x]\n'

describe('parseNodes', () => {
  it('reads each node: its endpoint, its platforms (a list or comma separated), and names it ARCH-N when no name is given', () => {
    const nodes = parseNodes(`${TWO_NODES}- endpoint: docker-container://bk\n  platforms: linux/arm64/v8x\n`.replace('linux/arm64/v8x', 'riscv64'))
    expect(nodes.map(n => [n.name, n.endpoint, n.platforms.map(formatPlatform)])).toEqual([
      ['amd64-1', 'tcp://10.0.0.1:1234', ['linux/amd64']],
      ['arm64-1', 'tcp://10.0.0.2:1234', ['linux/arm64', 'linux/s390x']],
      ['riscv64-1', 'docker-container://bk', ['linux/riscv64']]
    ])
    expect(parseNodes('- endpoint: unix:///run/buildkit/buildkitd.sock\n  platforms: linux/arm64, linux/arm/v7\n  servername: bk.example.com\n')[0]).toEqual({
      name: 'arm64-1',
      endpoint: 'unix:///run/buildkit/buildkitd.sock',
      platforms: platforms('linux/arm64', 'linux/arm/v7'),
      servername: 'bk.example.com'
    })
    expect(parseNodes('  ')).toEqual([])
  })

  it.each([
    ['name: x', 'is not a list'],
    ['- tcp://a:1', 'node 1 is not a mapping'],
    ['- endpoint: tcp://a:1\n  platform: linux/amd64', 'node 1 has an unknown key "platform"'],
    ['- platforms: linux/amd64', 'node 1 has no endpoint'],
    ['- endpoint: ssh://me@a\n  platforms: linux/amd64', 'is not an endpoint this action reaches'],
    ['- endpoint: a:1234\n  platforms: linux/amd64', 'is not an endpoint this action reaches'],
    ['- endpoint: tcp://a:1', 'names no platforms'],
    ['- endpoint: tcp://a:1\n  platforms: linux/sparc', 'node 1 (tcp://a:1): "linux/sparc" is not a known platform'],
    ['- endpoint: tcp://a:1\n  platforms: amd64\n  name: 1st', 'the name "1st" must start with a letter'],
    ['- endpoint: tcp://a:1\n  platforms: amd64\n- endpoint: tcp://a:1\n  platforms: arm64', 'have the same endpoint tcp://a:1'],
    ['- endpoint: tcp://a:1\n  platforms: amd64\n  name: x\n- endpoint: tcp://b:1\n  platforms: arm64\n  name: X', 'the name "X" is given to two nodes'],
    ['- endpoint: tcp://a:1\n  platforms: arm64\n- endpoint: tcp://b:1\n  platforms: linux/arm64/v8', 'linux/arm64 is served by two nodes ("arm64-1" and "arm64-2")'],
    ['- endpoint: tcp://a:1\n  platforms: [amd64\n', 'is not valid YAML']
  ])('refuses %j, naming the input and the node (%s)', (text, message) => {
    expect(() => parseNodes(text)).toThrow(message)
    expect(() => parseNodes(text)).toThrow('input "nodes"')
  })
})

describe('readNodeSettings', () => {
  it('masks every PEM whole and line by line (not the armor lines every PEM has) before it parses anything', () => {
    const masked: string[] = []
    const settings = readNodeSettings(reader({ nodes: TWO_NODES, ...TLS }), s => masked.push(s))
    expect(settings.tls).toEqual({ cacert: TLS['nodes-cacert'], cert: TLS['nodes-cert'], key: TLS['nodes-key'] })
    expect(masked).toEqual(expect.arrayContaining([TLS['nodes-key'], 'S0VZS0VZS0VZ', 'TU9SRUtFWQ==', 'Q0VSVENFUlQ=', 'Q0FDQUNB']))
    expect(masked.filter(m => m.startsWith('-----') && !m.includes('\n'))).toEqual([])
    // masked even when the nodes input is wrong
    const early: string[] = []
    expect(() => readNodeSettings(reader({ nodes: 'x: [', ...TLS }), s => early.push(s))).toThrow('input "nodes"')
    expect(early).toContain('S0VZS0VZS0VZ')
  })

  it('needs all three PEMs for a tcp:// node, and none for docker-container:// or unix://', () => {
    expect(() => readNodeSettings(reader({ nodes: TWO_NODES }))).toThrow('node "amd64-1" (tcp://10.0.0.1:1234) is reached over TCP, which takes mutual TLS: set nodes-cacert, nodes-cert and nodes-key')
    expect(() => readNodeSettings(reader({ nodes: TWO_NODES, ...TLS, 'nodes-key': '' }))).toThrow('input "nodes-key": is empty, but nodes-cacert and nodes-cert are set')
    expect(() => readNodeSettings(reader({ nodes: TWO_NODES, ...TLS, 'nodes-cert': '/home/me/cert.pem' }))).toThrow('input "nodes-cert": is not PEM')
    expect(() => readNodeSettings(reader({ ...TLS }))).toThrow('input "nodes-cacert": is set, but "nodes" names no node')
    expect(readNodeSettings(reader({ nodes: '- endpoint: docker-container://bk\n  platforms: arm64' })).tls).toBeUndefined()
    expect(readNodeSettings(reader({}))).toEqual({ nodes: [] })
  })

  it('maskPem leaves nothing to mask for an empty input', () => {
    const masked: string[] = []
    maskPem('  \n', s => masked.push(s))
    expect(masked).toEqual([])
  })
})

describe('the builder inputs with nodes', () => {
  it('default to the docker-container driver on any runner, and refuse driver: docker and an existing builder, saying why', () => {
    expect(readBuilderSettings(reader({}), { RUNNER_ENVIRONMENT: 'self-hosted' }, true).driver).toBe('docker-container')
    expect(() => readBuilderSettings(reader({ driver: 'docker' }), {}, true)).toThrow('input "driver": "docker" cannot build beside "nodes": nodes need the docker-container driver')
    expect(() => readBuilderSettings(reader({ builder: 'mine' }), {}, true)).toThrow('input "builder": cannot be combined with "nodes"')
  })
})

describe('planNodes', () => {
  it('gives each platform to the node that serves it, the rest to this runner, and leaves out nodes that serve none', () => {
    const nodes = parseNodes(`${TWO_NODES}- endpoint: tcp://10.0.0.3:1\n  platforms: riscv64\n`)
    const plan = planNodes(platforms('linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'), nodes)
    expect(plan.assigned.map(a => [a.node.name, a.platforms.map(formatPlatform)])).toEqual([
      ['amd64-1', ['linux/amd64']],
      ['arm64-1', ['linux/arm64', 'linux/s390x']]
    ])
    expect(plan.local.map(formatPlatform)).toEqual(['linux/ppc64le'])
    expect(plan.unused.map(n => n.name)).toEqual(['riscv64-1'])
    expect(planNodes(platforms('linux/ppc64le'), []).local.map(formatPlatform)).toEqual(['linux/ppc64le'])
  })
})

describe('a node builder', () => {
  const node: BuildNode = { name: 'arm64-1', endpoint: 'tcp://10.0.0.2:1234', platforms: platforms('linux/arm64') }
  const files = { cacert: '/w/tls/ca.pem', cert: '/w/tls/cert.pem', key: '/w/tls/key.pem' }

  it('is created with the remote driver and the TLS files by path (never their content)', () => {
    expect(createNodeBuilderArgs('gba-1-arm64-1', { ...node, servername: 'bk' }, files)).toEqual([
      'buildx', 'create', '--name', 'gba-1-arm64-1', '--driver', 'remote', '--node', 'arm64-1',
      '--driver-opt', 'cacert=/w/tls/ca.pem', '--driver-opt', 'cert=/w/tls/cert.pem', '--driver-opt', 'key=/w/tls/key.pem', '--driver-opt', 'servername=bk',
      'tcp://10.0.0.2:1234'
    ])
    expect(createNodeBuilderArgs('b', { ...node, endpoint: 'docker-container://bk' }, files)).toEqual(['buildx', 'create', '--name', 'b', '--driver', 'remote', '--node', 'arm64-1', 'docker-container://bk'])
  })

  it('that does not answer fails naming the node and what to check (TLS, or the daemon and the network)', () => {
    expect(explainUnreachable(node, 'failed to call diskusage: Unavailable: connection error: desc = "error reading server preface: remote error: tls: certificate required"')).toBe(
      'node "arm64-1" (tcp://10.0.0.2:1234) does not answer: failed to call diskusage: Unavailable: connection error: desc = "error reading server preface: remote error: tls: certificate required"; ' +
        "check the TLS material: nodes-cacert must be the CA that signed the node's certificate (whose names must include the endpoint's host, or set the node's servername), and the node's --tlscacert must have signed nodes-cert, or remove the node from \"nodes\" to build its platforms on this runner"
    )
    expect(explainUnreachable(node, 'dial tcp 10.0.0.2:1234: connect: connection refused')).toContain('check that its buildkitd runs and listens there (--addr tcp://0.0.0.0:PORT) and that this runner can reach it')
  })

  it('whose connection drops during the handshake (a refused client certificate, as buildx sometimes reports it) is told to check the TLS material, not whether the daemon runs', () => {
    const message = explainUnreachable(node, 'failed to call info: Unavailable: connection error: desc = "transport: failed to write client preface: write tcp 127.0.0.1:40000->127.0.0.1:1234: write: broken pipe"')
    expect(message).toContain("it took the connection and closed it, as a node does that refuses this runner's certificate: check the TLS material: ")
    expect(message).not.toContain('check that its buildkitd runs')
  })

  it('set-up checks every node, side by side, and names each that does not answer or does not serve its platforms', async () => {
    const inspect = (platformsLine: string): string => `Name: b\nDriver: remote\n\nNodes:\nName: n\nEndpoint: tcp://x\nStatus: running\nPlatforms: ${platformsLine}\n`
    const docker = new FakeDocker()
      .on(['buildx', 'create'], {})
      .on(['buildx', 'inspect', '--bootstrap', 'base-amd64-1'], { stdout: inspect('linux/amd64, linux/amd64/v2') })
      .on(['buildx', 'inspect', '--bootstrap', 'base-arm64-1'], { exitCode: 1, stderr: 'ERROR: context deadline exceeded' })
      .on(['buildx', 'inspect', '--bootstrap', 'base-s390x-1'], { stdout: inspect('linux/amd64, linux/arm64') })
      .on(['buildx', 'du', '--builder', 'base-arm64-1'], { exitCode: 1, stderr: 'ERROR: failed to call diskusage: Unavailable: connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.2:1234: connect: connection refused"' })
    const nodes = parseNodes('- endpoint: tcp://10.0.0.1:1\n  platforms: amd64\n- endpoint: tcp://10.0.0.2:1234\n  platforms: arm64\n- endpoint: tcp://10.0.0.3:1\n  platforms: s390x\n')
    const recorded: string[] = []
    const setUp = setUpNodes(docker, planNodes(platforms('amd64', 'arm64', 's390x'), nodes).assigned, 'base', files, b => recorded.push(b))
    await expect(setUp).rejects.toThrow(/^2 nodes cannot build:\n {2}node "arm64-1" \(tcp:\/\/10\.0\.0\.2:1234\) does not answer: failed to call diskusage: .*connection refused.*\n {2}node "s390x-1" \(tcp:\/\/10\.0\.0\.3:1\) does not serve linux\/s390x: its BuildKit builds linux\/amd64, linux\/arm64\./)
    // recorded for the post step before each was created
    expect(recorded).toEqual(['base-amd64-1', 'base-arm64-1', 'base-s390x-1'])
    const ok = await setUpNodes(docker, planNodes(platforms('amd64'), nodes).assigned, 'base', files, () => undefined)
    expect(ok.map(n => [n.builder, n.platforms.map(formatPlatform), n.supported])).toEqual([['base-amd64-1', ['linux/amd64'], ['linux/amd64', 'linux/amd64/v2']]])
  })
})

describe('NodeCredentials', () => {
  it('writes the PEMs 0600 in a 0700 directory of their own, removed by remove() or else at the process exit', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'nodes-test-'))
    const before = process.listenerCount('exit')
    try {
      const credentials = await NodeCredentials.write(parent, { cacert: 'CA', cert: 'CERT', key: 'KEY' })
      expect(process.listenerCount('exit')).toBe(before + 1)
      expect(statSync(credentials.dir).mode & 0o777).toBe(0o700)
      for (const file of Object.values(credentials.files)) expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(await readFile(credentials.files.key, 'utf8')).toBe('KEY')
      await credentials.remove()
      expect(existsSync(credentials.dir)).toBe(false)
      expect(process.listenerCount('exit')).toBe(before)
    } finally {
      await rm(parent, { recursive: true, force: true })
    }
  })
})
