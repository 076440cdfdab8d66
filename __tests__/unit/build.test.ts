import { describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { PassThrough } from 'node:stream'
import {
  BUILD_TIMEOUT,
  ACTIVITY_STEP_BYTES,
  buildkitPushTracker,
  buildTimeout,
  buildxBuildArgs,
  chooseOutput,
  loadFromLocalExportArgs,
  LOAD_DOCKERFILE,
  describeBuildFailure,
  parseBuildMetadata,
  runBuild,
  type BuildRequest
} from '../../src/build/build.js'
import { parsePlatform } from '../../src/core/platform.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const request: BuildRequest = {
  context: 'examples/hello',
  file: 'examples/hello/Dockerfile',
  platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'].map(parsePlatform),
  output: { kind: 'push-by-digest', repository: 'localhost:5000/hello' },
  buildArgs: [{ name: 'GO_IMAGE', value: 'localhost:5000/base/golang' }],
  metadataFile: '/tmp/x/metadata.json'
}

describe('buildxBuildArgs', () => {
  it('rewrites layer timestamps to SOURCE_DATE_EPOCH when pushing by digest, so a rebuild gives the same digest', () => {
    const reproducible = { ...request, buildArgs: [...request.buildArgs, { name: 'SOURCE_DATE_EPOCH', value: '0' }] }
    expect(buildxBuildArgs(reproducible)).toContain(
      'type=image,name=localhost:5000/hello,push-by-digest=true,name-canonical=true,push=true,rewrite-timestamp=true'
    )
    expect(buildxBuildArgs(request).join(' ')).not.toContain('rewrite-timestamp')
  })

  it('streams the same result as an OCI layout tar on stdout beside the push or load, with the same timestamp rewrite', () => {
    const reproducible = { ...request, buildArgs: [...request.buildArgs, { name: 'SOURCE_DATE_EPOCH', value: '0' }], exportTo: () => new PassThrough() }
    const outputs = (r: BuildRequest) => buildxBuildArgs(r).filter((_, i, all) => all[i - 1] === '--output')
    // the push last: its index digest is the one buildx's metadata reports
    expect(outputs(reproducible)).toEqual([
      'type=oci,dest=-,rewrite-timestamp=true',
      'type=image,name=localhost:5000/hello,push-by-digest=true,name-canonical=true,push=true,rewrite-timestamp=true'
    ])
    expect(outputs({ ...reproducible, output: { kind: 'none' } })).toEqual(['type=oci,dest=-,rewrite-timestamp=true'])
    // the engine unpacks what its image exporter stores, which refuses a timestamp rewrite: neither its load, nor
    // its push, nor the export beside them rewrites
    const load = buildxBuildArgs({ ...reproducible, output: { kind: 'load', name: 'r:staging' } })
    expect(load.slice(load.indexOf('--output'), load.indexOf('--load') + 1)).toEqual(['--output', 'type=oci,dest=-', '--tag', 'r:staging', '--load'])
    expect(outputs({ ...reproducible, output: { kind: 'push', name: 'r:staging' } })).toEqual(['type=oci,dest=-', 'type=image,name=r:staging,push=true'])
  })

  it('the docker driver pushes under the staging name from the build, as --push does', () => {
    const args = buildxBuildArgs({ ...request, output: { kind: 'push', name: 'localhost:5000/state:go-build-action-staging-abc-amd64' } })
    expect(args.slice(args.indexOf('--output'), args.indexOf('--output') + 2)).toEqual(['--output', 'type=image,name=localhost:5000/state:go-build-action-staging-abc-amd64,push=true'])
    expect(args).not.toContain('--load')
  })

  it('pushes every platform by digest in one buildx call, context last', () => {
    expect(buildxBuildArgs(request)).toEqual([
      'buildx',
      'build',
      '--file',
      'examples/hello/Dockerfile',
      '--platform',
      'linux/amd64,linux/arm64,linux/arm/v7',
      '--build-arg',
      'GO_IMAGE=localhost:5000/base/golang',
      '--output',
      'type=image,name=localhost:5000/hello,push-by-digest=true,name-canonical=true,push=true',
      '--metadata-file',
      '/tmp/x/metadata.json',
      'examples/hello'
    ])
  })

  it('loads into the engine under the staging name with the docker driver', () => {
    const args = buildxBuildArgs({ ...request, output: { kind: 'load', name: 'localhost:5000/hello:go-build-action-staging' } })
    expect(args).toEqual(expect.arrayContaining(['--tag', 'localhost:5000/hello:go-build-action-staging', '--load']))
    expect(args.join(' ')).not.toMatch(/--push|--output/)
  })

  it('sends nothing anywhere for a build-only run', () => {
    expect(buildxBuildArgs({ ...request, output: { kind: 'none' } }).join(' ')).not.toMatch(/--push|--output|--load|--tag/)
  })

  it('passes every build option, secrets as files only', () => {
    const args = buildxBuildArgs({
      ...request,
      builder: 'gba-builder',
      target: 'release',
      labels: ['org.opencontainers.image.title=hello'],
      annotations: ['index:org.opencontainers.image.description=hi'],
      secretFiles: [{ id: 'token', file: '/tmp/x/secret-0' }],
      cacheFrom: ['type=registry,ref=localhost:5000/cache'],
      cacheTo: ['type=inline'],
      noCache: true,
      pull: true,
      provenance: 'mode=min',
      sbom: 'false'
    })
    expect(args.slice(0, 4)).toEqual(['buildx', 'build', '--builder', 'gba-builder'])
    for (const pair of [
      ['--target', 'release'],
      ['--label', 'org.opencontainers.image.title=hello'],
      ['--annotation', 'index:org.opencontainers.image.description=hi'],
      ['--secret', 'id=token,src=/tmp/x/secret-0'],
      ['--cache-from', 'type=registry,ref=localhost:5000/cache'],
      ['--cache-to', 'type=inline']
    ]) {
      expect(args[args.indexOf(pair[0]!) + 1]).toBe(pair[1])
    }
    expect(args).toEqual(expect.arrayContaining(['--no-cache', '--pull', '--provenance=mode=min', '--sbom=false']))
  })
})

describe('chooseOutput', () => {
  it.each([
    ['docker', true, 'push'],
    ['docker', false, 'load'],
    ['docker-container', true, 'push-by-digest'],
    ['docker-container', false, 'none'],
    ['remote', true, 'push-by-digest']
  ] as const)('%s driver, push %s → %s', (driver, push, kind) => {
    expect(chooseOutput(driver, push, 'r', 'r:staging-x1', 'r:staging').kind).toBe(kind)
  })

  it('the docker driver pushes under the staging name, and loads under the run\'s own name where nothing may be pushed before the verify command ran', () => {
    expect(chooseOutput('docker', true, 'r', 'r:staging-x1', 'r:staging')).toEqual({ kind: 'push', name: 'r:staging' })
    expect(chooseOutput('docker', true, 'r', 'r:staging-x1')).toEqual({ kind: 'load', name: 'r:staging-x1' })
  })
})

describe('loadFromLocalExportArgs', () => {
  it('loads one platform of the local export, by digest, as it is (no attestation), into the engine under the name', () => {
    const digest = `sha256:${'a'.repeat(64)}`
    expect(loadFromLocalExportArgs('b1', '/w/layout', digest, { os: 'linux', architecture: 'arm64' }, 'r:staging-x-arm64', '/w/load-context/Dockerfile', '/w/load-context')).toEqual([
      'buildx', 'build', '--builder', 'b1', '--file', '/w/load-context/Dockerfile', '--platform', 'linux/arm64',
      '--build-context', `image=oci-layout:///w/layout@${digest}`, '--provenance=false', '--sbom=false', '--tag', 'r:staging-x-arm64', '--load', '/w/load-context'
    ])
    expect(LOAD_DOCKERFILE).toBe('FROM image\n')
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
    await expect(runBuild(docker, request)).rejects.toThrow(
      /exit code: 1; fix examples\/hello\/Dockerfile \(the step's output is in the build log above\)$/
    )
  })

  it('says which registry refused a push-by-digest build, not that the Dockerfile is wrong (buildx 0.30 output)', async () => {
    const docker = new FakeDocker().on(['buildx', 'build'], { exitCode: 1, stderr: fixture('buildx-push-by-digest-refused.txt') })
    const pushing = { ...request, output: { kind: 'push-by-digest' as const, repository: 'localhost:5999/e2e/nowhere' } }
    await expect(runBuild(docker, pushing)).rejects.toThrow(
      /^localhost:5999 did not accept localhost:5999\/e2e\/nowhere after 1 attempt\(s\) \(connection refused: .*\): check the registry address in input "images"/
    )
  })

  it('says which registry refused the docker driver\'s push under the staging name (buildx 0.13 output)', async () => {
    const docker = new FakeDocker().on(['buildx', 'build'], { exitCode: 1, stderr: fixture('buildx-engine-push-refused.txt') })
    const pushing = { ...request, output: { kind: 'push' as const, name: 'localhost:5999/speedexp/nowhere:staging' } }
    await expect(runBuild(docker, pushing)).rejects.toThrow(
      /^localhost:5999 did not accept localhost:5999\/speedexp\/nowhere after 1 attempt\(s\) \(connection refused: .*\): check the registry address in input "images"/
    )
  })

  it("hands the build command the variables it is given (the gha cache's runner token and URLs) in its environment, never in argv", async () => {
    const metadataFile = path.join(await mkdtemp(path.join(tmpdir(), 'go-build-action-build-')), 'metadata.json')
    await writeFile(metadataFile, '{"containerimage.digest":"sha256:' + 'a'.repeat(64) + '"}')
    const docker = new FakeDocker().on(['buildx', 'build'], {})
    const env = { ACTIONS_RUNTIME_TOKEN: 'runtime-token', ACTIONS_RESULTS_URL: 'https://results.example/' }
    await runBuild(docker, { ...request, metadataFile, cacheFrom: ['type=gha,scope=s'], env })
    expect(docker.calls[0]?.options.env).toEqual(env)
    expect(docker.calls[0]?.args.join(' ')).not.toMatch(/runtime-token|results\.example/)
    await runBuild(docker, { ...request, metadataFile })
    expect(docker.calls[1]?.options.env).toBeUndefined()
  })

  it('keeps a build failure a build failure when nothing was being pushed', async () => {
    const docker = new FakeDocker().on(['buildx', 'build'], { exitCode: 1, stderr: fixture('buildx-push-by-digest-refused.txt') })
    await expect(runBuild(docker, { ...request, output: { kind: 'none' } })).rejects.toThrow(/^the build failed/)
  })
})

describe('buildkitPushTracker', () => {
  it('allows the layer upload (quiet: it prints nothing while its bytes move) ten registry-timeouts of silence and the manifest PUT one, only while the push vertex is open', () => {
    const track = buildkitPushTracker(120)()
    const lines = [
      '#24 exporting to image',
      '#24 exporting manifest list sha256:45e7 done',
      '#24 pushing layers',
      '#25 exporting to oci image format',
      '#24 pushing layers 0.3s done',
      '#24 pushing manifest for localhost:5000/x/hello',
      '#25 exporting layers 0.2s done',
      '#24 pushing manifest for localhost:5000/x/hello 0.1s done',
      '#24 DONE 1.2s',
      '#26 exporting cache to registry'
    ]
    expect(lines.map(track)).toEqual([
      { progress: false },
      { progress: false },
      { seconds: 1200, progress: true, quiet: true },
      { seconds: 1200, progress: false, quiet: true },
      { seconds: 1200, progress: true, quiet: true },
      { seconds: 120, progress: true },
      { seconds: 120, progress: false },
      { seconds: 120, progress: true },
      { progress: true },
      { progress: false }
    ])
  })

  it('is a bound of builds that push (by digest, or the docker driver\'s push) only, from registry-timeout', () => {
    const retry = { attempts: 2, baseDelayMs: 100, maxDelayMs: 1000, timeoutSeconds: 5 }
    expect(buildTimeout({ kind: 'push-by-digest', repository: 'localhost:5000/x' }, retry).stall?.input).toBe('registry-timeout')
    expect(buildTimeout({ kind: 'push', name: 'localhost:5000/x:staging' }, retry).stall?.input).toBe('registry-timeout')
    expect(buildTimeout({ kind: 'load', name: 'localhost:5000/x:staging' }, retry)).toEqual(BUILD_TIMEOUT)
    expect(buildTimeout({ kind: 'none' }, retry)).toEqual(BUILD_TIMEOUT)
    expect(buildTimeout({ kind: 'push-by-digest', repository: 'localhost:5000/x' }, { ...retry, timeoutSeconds: undefined })).toEqual(BUILD_TIMEOUT)
    // with the builder's activity, the layer upload is bounded by registry-timeout without BuildKit writing a step of bytes
    const read = async (): Promise<number | undefined> => 1
    expect(buildTimeout({ kind: 'push-by-digest', repository: 'localhost:5000/x' }, retry, read).stall?.activity).toEqual({ seconds: 5, step: ACTIVITY_STEP_BYTES, read })
    expect(buildTimeout({ kind: 'push-by-digest', repository: 'localhost:5000/x' }, retry).stall?.activity).toBeUndefined()
  })
})
