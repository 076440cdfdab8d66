import { describe, expect, it } from '@jest/globals'
import { buildxBuildArgs, describeBuildFailure, parseBuildMetadata, runBuild, type BuildRequest } from '../../src/build.js'
import { parsePlatform } from '../../src/platform.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const request: BuildRequest = {
  context: 'examples/hello',
  file: 'examples/hello/Dockerfile',
  platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'].map(parsePlatform),
  references: ['localhost:5000/hello:1.0', 'localhost:5001/hello:1.0'],
  buildArgs: [{ name: 'GO_IMAGE', value: 'localhost:5000/base/golang' }],
  push: true,
  metadataFile: '/tmp/x/metadata.json'
}

describe('buildxBuildArgs', () => {
  it('builds every platform in one buildx call, context last', () => {
    expect(buildxBuildArgs(request)).toEqual([
      'buildx',
      'build',
      '--file',
      'examples/hello/Dockerfile',
      '--platform',
      'linux/amd64,linux/arm64,linux/arm/v7',
      '--build-arg',
      'GO_IMAGE=localhost:5000/base/golang',
      '--tag',
      'localhost:5000/hello:1.0',
      '--tag',
      'localhost:5001/hello:1.0',
      '--metadata-file',
      '/tmp/x/metadata.json',
      '--push',
      'examples/hello'
    ])
  })

  it('leaves --push out when not pushing', () => {
    expect(buildxBuildArgs({ ...request, push: false })).not.toContain('--push')
  })

  it.each([
    ['no builder', {}, ['buildx', 'build', '--file']],
    ['a docker-container builder', { builder: 'b1' }, ['buildx', 'build', '--builder', 'b1', '--file']],
    [
      'a docker-driver builder, run from its context',
      { builder: 'ctx1', dockerContext: 'ctx1' },
      ['--context', 'ctx1', 'buildx', 'build', '--builder', 'ctx1', '--file']
    ]
  ])('starts the argv for %s', (_name, extra, start) => {
    expect(buildxBuildArgs({ ...request, ...extra }).slice(0, start.length)).toEqual(start)
  })
})

describe('parseBuildMetadata', () => {
  it('reads the digest and image names buildx wrote', () => {
    const metadata = parseBuildMetadata(fixture('build-metadata.json'))
    expect(metadata.digest).toBe('sha256:1b6ffee4b19a70dc0e80ad4f971b6d829d82784d5a98a8eead0afc4bba0f0256')
    expect(metadata.imageNames).toEqual(['localhost:5000/try/hello:t1'])
    expect(metadata.raw['buildx.build.ref']).toBe('default/default/3kmi5vdqavajwbjhxd3sadud8')
  })

  it('splits several image names', () => {
    expect(parseBuildMetadata('{"image.name":"a:1,b:1"}').imageNames).toEqual(['a:1', 'b:1'])
  })

  it.each(['not json', '[]', 'null'])('rejects %s', text => {
    expect(() => parseBuildMetadata(text)).toThrow(/metadata file that is not/)
  })
})

describe('describeBuildFailure', () => {
  it('names the failed platform, the step and the cause from real buildx output', () => {
    expect(describeBuildFailure(fixture('buildx-failure-arm64.txt'))).toBe(
      'the build failed for linux/arm64 at `RUN echo building for arm64 && [ "arm64" != arm64 ]`: failed to solve: process "/bin/sh -c echo building for $TARGETARCH && [ \\"$TARGETARCH\\" != arm64 ]" did not complete successfully: exit code: 1'
    )
  })

  it('falls back to the last line when buildx printed no ERROR', () => {
    expect(describeBuildFailure('step 1\nsomething broke\n')).toBe('the build failed: something broke')
  })
})

describe('runBuild', () => {
  it('turns a failed build into an error naming the platform', async () => {
    const docker = new FakeDocker().on(['buildx', 'build'], { exitCode: 1, stderr: fixture('buildx-failure-arm64.txt') })
    await expect(runBuild(docker, request)).rejects.toThrow(/^the build failed for linux\/arm64 at/)
  })
})
