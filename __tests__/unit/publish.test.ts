import { describe, expect, it } from '@jest/globals'
import {
  copyByDigest,
  explainRegistryFailure,
  indexTagArgs,
  moveTags,
  parsePushDigest,
  plannedMoves,
  registryOf,
  repositoryIn,
  stageIndex,
  STAGING_TAG
} from '../../src/publish.js'
import { DockerCommandError } from '../../src/docker.js'
import { NO_RETRY } from '../../src/retry.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'

const D = `sha256:${'a'.repeat(64)}`
const P = { 'linux/amd64': `sha256:${'1'.repeat(64)}`, 'linux/s390x': `sha256:${'2'.repeat(64)}` }

describe('parsePushDigest', () => {
  it('reads the digest docker push reports last', () => {
    const out = `The push refers to repository [localhost:5000/x]\nabc: Pushed\n${STAGING_TAG}: digest: ${D} size: 3113\n`
    expect(parsePushDigest(out)).toBe(D)
    expect(parsePushDigest('nothing')).toBeUndefined()
  })
})

describe('plannedMoves / indexTagArgs', () => {
  it('lists every reference per repository', () => {
    expect(plannedMoves(['r1', 'r2'], ['t', 'latest'], { 'linux/amd64': 't-amd64' })).toEqual({
      index: ['r1:t', 'r1:latest', 'r2:t', 'r2:latest'],
      platforms: { 'linux/amd64': ['r1:t-amd64', 'r2:t-amd64'] }
    })
  })

  it('moves all index tags of a repository in one imagetools create', () => {
    expect(indexTagArgs('r', D, ['t', 'v1.2.3'])).toEqual(['buildx', 'imagetools', 'create', '--tag', 'r:t', '--tag', 'r:v1.2.3', `r@${D}`])
  })
})

describe('stageIndex', () => {
  it('pushes the loaded index through the staging tag and copies it by digest, no tag, to the others', async () => {
    const docker = new FakeDocker()
      .on(['push'], { stdout: `${STAGING_TAG}: digest: ${D} size: 3113` })
      .on(['buildx', 'imagetools', 'create'], {})
    const staged = await stageIndex(docker, { kind: 'load', name: `r1:${STAGING_TAG}` }, D, ['r1', 'r2'], NO_RETRY)
    expect(staged).toEqual({ digest: D, repositories: ['r1', 'r2'] })
    expect(docker.calls.map(c => c.args)).toEqual([
      ['push', `r1:${STAGING_TAG}`],
      ['buildx', 'imagetools', 'create', '--tag', `r2@${D}`, `r1@${D}`]
    ])
  })

  it('refuses a push whose digest is not what buildx built', async () => {
    const docker = new FakeDocker().on(['push'], { stdout: `x: digest: sha256:${'b'.repeat(64)} size: 1` })
    await expect(stageIndex(docker, { kind: 'load', name: 'r1:s' }, D, ['r1'], NO_RETRY)).rejects.toThrow(/but buildx built sha256:a/)
  })

  it('takes a push-by-digest build as staged in the first repository', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'create'], {})
    const staged = await stageIndex(docker, { kind: 'push-by-digest', repository: 'r1' }, D, ['r1'], NO_RETRY)
    expect(staged.digest).toBe(D)
    expect(docker.calls).toHaveLength(0)
  })

  it('names the registry, the input and the fix when a registry keeps failing', async () => {
    const docker = new FakeDocker().on(['push'], {
      exitCode: 1,
      stderr: 'dial tcp 127.0.0.1:5999: connect: connection refused'
    })
    await expect(stageIndex(docker, { kind: 'load', name: 'localhost:5999/x:s' }, D, ['localhost:5999/x'], NO_RETRY)).rejects.toThrow(
      /^localhost:5999 did not accept localhost:5999\/x after 1 attempt\(s\) \(connection refused.*check the registry address in input "images"/
    )
  })

  it('names the login inputs when a registry refuses access', async () => {
    const docker = new FakeDocker()
      .on(['push'], { stdout: `s: digest: ${D} size: 1` })
      .on(['buildx', 'imagetools', 'create'], { exitCode: 1, stderr: 'unauthorized: authentication required' })
    await expect(stageIndex(docker, { kind: 'load', name: 'localhost:5000/x:s' }, D, ['localhost:5000/x', 'localhost:5001/y'], NO_RETRY)).rejects.toThrow(
      /^localhost:5001 refused localhost:5001\/y .*log in with the "registry", "username" and "password" inputs/
    )
  })
})

describe('copyByDigest', () => {
  it('skips the source repository', async () => {
    const docker = new FakeDocker().on(['buildx'], {})
    await copyByDigest(docker, 'r1', D, ['r1'], NO_RETRY)
    expect(docker.calls).toHaveLength(0)
  })
})

describe('moveTags', () => {
  it('with buildx 0.13: pulls each platform manifest by digest, tags and pushes it, then moves the index tags', async () => {
    const docker = new FakeDocker()
      .on(['buildx', 'imagetools', 'create', '--help'], { stdout: 'Usage: docker buildx imagetools create [OPTIONS]\n  -t, --tag' })
      .on(['buildx', 'imagetools', 'create'], {})
      .on(['pull'], {})
      .on(['tag'], {})
      .on(['push'], args => ({ stdout: `${args[1]}: digest: ${args[1]?.endsWith('amd64') ? P['linux/amd64'] : P['linux/s390x']} size: 673` }))
    const created = await moveTags(docker, { digest: D, repositories: ['r'] }, ['t'], { 'linux/amd64': 't-amd64', 'linux/s390x': 't-s390x' }, P, NO_RETRY)
    expect(docker.calls.map(c => c.args).slice(1)).toEqual([
      ['pull', '--quiet', `r@${P['linux/amd64']}`],
      ['tag', `r@${P['linux/amd64']}`, 'r:t-amd64'],
      ['push', 'r:t-amd64'],
      ['pull', '--quiet', `r@${P['linux/s390x']}`],
      ['tag', `r@${P['linux/s390x']}`, 'r:t-s390x'],
      ['push', 'r:t-s390x'],
      ['buildx', 'imagetools', 'create', '--tag', 'r:t', `r@${D}`]
    ])
    expect(created).toEqual(['r:t-amd64', 'r:t-s390x'])
  })

  it('stops when the engine pushed a rewritten manifest instead of the platform manifest', async () => {
    const docker = new FakeDocker()
      .on(['buildx', 'imagetools', 'create', '--help'], { stdout: '' })
      .on(['pull'], {})
      .on(['tag'], {})
      .on(['push'], { stdout: `t-amd64: digest: sha256:${'9'.repeat(64)} size: 525` })
    await expect(moveTags(docker, { digest: D, repositories: ['r'] }, ['t'], { 'linux/amd64': 't-amd64' }, P, NO_RETRY)).rejects.toThrow(
      /^r:t-amd64 was pushed as sha256:9+, not as the platform manifest sha256:1+: this engine rewrites manifests on push/
    )
    expect(docker.calls.some(c => c.args.includes('r:t'))).toBe(false)
  })

  it('with a buildx that has --prefer-index: one imagetools create per platform tag, nothing local', async () => {
    const docker = new FakeDocker()
      .on(['buildx', 'imagetools', 'create', '--help'], { stdout: '      --prefer-index   When only a single source is specified...' })
      .on(['buildx', 'imagetools', 'create'], {})
    const created = await moveTags(docker, { digest: D, repositories: ['r'] }, ['t'], { 'linux/amd64': 't-amd64' }, P, NO_RETRY)
    expect(docker.calls.map(c => c.args).slice(1)).toEqual([
      ['buildx', 'imagetools', 'create', '--prefer-index=false', '--tag', 'r:t-amd64', `r@${P['linux/amd64']}`],
      ['buildx', 'imagetools', 'create', '--tag', 'r:t', `r@${D}`]
    ])
    expect(created).toEqual([])
  })

  it('moves no tag when a planned platform has no manifest in the index', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'create', '--help'], { stdout: '' })
    await expect(moveTags(docker, { digest: D, repositories: ['r'] }, ['t'], { 'linux/arm64': 't-arm64' }, P, NO_RETRY)).rejects.toThrow(
      'the index has no manifest for linux/arm64, so r:t-arm64 cannot be published'
    )
    expect(docker.calls).toHaveLength(1)
  })
})

describe('registryOf / repositoryIn / explainRegistryFailure', () => {
  it.each([
    ['localhost:5000/a/b', 'localhost:5000'],
    ['ghcr.io/org/x', 'ghcr.io'],
    ['calico/go-build', 'docker.io'],
    ['go-build', 'docker.io']
  ])('%s is on %s', (repository, registry) => expect(registryOf(repository)).toBe(registry))

  it('finds the repository a command wrote to', () => {
    expect(repositoryIn(['buildx', 'imagetools', 'create', '--tag', `r2@${D}`, `r1@${D}`], ['r1', 'r2'])).toBe('r2')
    expect(repositoryIn(['push', 'r1:s'], ['r1', 'r2'])).toBe('r1')
  })

  it('leaves other errors alone', () => {
    const error = new Error('x')
    expect(explainRegistryFailure(error, 'r')).toBe(error)
    const notFound = new DockerCommandError(['push'], { exitCode: 1, stdout: '', stderr: 'manifest unknown' })
    expect(explainRegistryFailure(notFound, 'r')).toBe(notFound)
  })
})
