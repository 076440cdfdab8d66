import { describe, expect, it } from '@jest/globals'
import {
  combineByDigest,
  copyByDigest,
  parsePushDigest,
  repositoryIn,
  stageIndex,
  stagingTag,
  localBuildName,
  pushThroughStagingName
} from '../../src/publish/publish.js'
import { explainRegistryFailure, sha256Digest } from '../../src/core/registry.js'
import { DockerCommandError } from '../../src/core/docker.js'
import { registryOf } from '../../src/core/reference.js'
import { NO_RETRY } from '../../src/core/retry.js'
import { parsePlatform } from '../../src/core/platform.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'

const STAGING_TAG = 'go-build-action-staging-1-1-abcdef'

const D = `sha256:${'a'.repeat(64)}`

describe('parsePushDigest', () => {
  it('reads the digest docker push reports last', () => {
    const out = `The push refers to repository [localhost:5000/x]\nabc: Pushed\n${STAGING_TAG}: digest: ${D} size: 3113\n`
    expect(parsePushDigest(out)).toBe(D)
    expect(parsePushDigest('nothing')).toBeUndefined()
  })
})

describe('stagingTag', () => {
  const two = ['linux/amd64', 'linux/arm/v7'].map(p => parsePlatform(p))
  it('is one per configuration and set of platforms, the same on every run of it: the registry holds a bounded set', () => {
    expect(stagingTag('0123456789ab', two)).toBe('go-build-action-staging-0123456789ab-amd64-arm-v7')
    expect(stagingTag('0123456789ab', two)).toBe(stagingTag('0123456789ab', two))
    expect(stagingTag('0123456789ab', two.slice(0, 1))).not.toBe(stagingTag('0123456789ab', two.slice(1)))
  })

  it('hashes a platform set too long for a tag', () => {
    const many = Array.from({ length: 12 }, () => parsePlatform('linux/ppc64le'))
    expect(stagingTag('0123456789ab', many)).toMatch(/^go-build-action-staging-0123456789ab-[0-9a-f]{12}$/)
  })

  it('is loaded under a name of the job\'s own', () => {
    expect(localBuildName('r:go-build-action-staging-x', () => 0.5)).toBe('r:go-build-action-staging-x-i00000')
    expect(localBuildName('r:s')).not.toBe(localBuildName('r:s'))
  })
})

describe('pushThroughStagingName', () => {
  it('tags the job\'s loaded index as the staging name and pushes that', async () => {
    const docker = new FakeDocker().on(['tag'], {}).on(['push'], { stdout: `s: digest: ${D} size: 1` })
    expect(await pushThroughStagingName(docker, 'r:s-abc', 'r:s', D, NO_RETRY)).toBe(D)
    expect(docker.calls.map(c => c.args)).toEqual([
      ['tag', 'r:s-abc', 'r:s'],
      ['push', 'r:s']
    ])
  })

  it('tags and pushes again when another run on the engine took the staging name in between', async () => {
    const other = `sha256:${'b'.repeat(64)}`
    let pushes = 0
    const docker = new FakeDocker()
      .on(['tag'], {})
      .on(['push'], () => (++pushes === 1 ? { stdout: `s: digest: ${other} size: 1` } : pushes === 2 ? { exitCode: 1, stderr: 'An image does not exist locally with the tag: r' } : { stdout: `s: digest: ${D} size: 1` }))
    expect(await pushThroughStagingName(docker, 'r:s-abc', 'r:s', D, NO_RETRY)).toBe(D)
    expect(docker.calls.filter(c => c.args[0] === 'tag')).toHaveLength(3)
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

describe('combineByDigest', () => {
  const R = 'localhost:5000/x'
  const parts = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`]
  const index = '{"schemaVersion":2,"manifests":[],"annotations":{"k":"v w"}}'

  it("pushes one index of the parts' indexes under the digest of buildx's dry run, with the index annotations, and no tag", async () => {
    const docker = new FakeDocker()
      .on(['buildx', 'imagetools', 'create', '--annotation', 'index:k=v  w', '--dry-run'], { stdout: `${index}\n` })
      .on(['buildx', 'imagetools', 'create'], {})
      .on(['buildx', 'imagetools', 'inspect'], { stdout: index })
    const digest = await combineByDigest(docker, R, parts, { k: 'v, w' }, NO_RETRY)
    expect(digest).toBe(sha256Digest(index))
    expect(docker.calls.map(c => c.args)).toEqual([
      ['buildx', 'imagetools', 'create', '--annotation', 'index:k=v  w', '--dry-run', `${R}@${parts[0]}`, `${R}@${parts[1]}`],
      ['buildx', 'imagetools', 'create', '--annotation', 'index:k=v  w', '--tag', `${R}@${digest}`, `${R}@${parts[0]}`, `${R}@${parts[1]}`],
      ['buildx', 'imagetools', 'inspect', '--raw', `${R}@${digest}`]
    ])
  })

  it('fails when the registry does not serve the combined index under its digest', async () => {
    const docker = new FakeDocker()
      .on(['buildx', 'imagetools', 'create', '--annotation', 'index:k=v', '--dry-run'], { stdout: `${index}\n` })
      .on(['buildx', 'imagetools', 'create'], {})
      .on(['buildx', 'imagetools', 'inspect'], { stdout: '{"schemaVersion":2,"manifests":[]}' })
    await expect(combineByDigest(docker, R, parts, { k: 'v' }, NO_RETRY)).rejects.toThrow(`${R}@${sha256Digest(index)} does not hold the index combined from ${R}@${parts[0]}, ${R}@${parts[1]}`)
  })
})
