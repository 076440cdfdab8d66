import { describe, expect, it } from '@jest/globals'
import { BuildError } from '../../src/build/build.js'
import { partFailure, runParts, partPlace, type BuildPart } from '../../src/build/parts.js'
import { DockerCommandError } from '../../src/core/docker.js'
import { parsePlatform } from '../../src/core/platform.js'

const part = (name: string | undefined, ...platforms: string[]): BuildPart => ({
  ...(name ? { node: { name, endpoint: `tcp://${name}:1234` } } : {}),
  builder: `b-${name ?? 'runner'}`,
  driver: name ? 'remote' : 'docker-container',
  platforms: platforms.map(parsePlatform),
  native: [],
  hostArch: 'amd64'
})

describe('runParts', () => {
  it('runs every part side by side and returns their results in order', async () => {
    const started: string[] = []
    const results = await runParts([part(undefined, 'ppc64le'), part('amd64-1', 'amd64')], async p => {
      started.push(partPlace(p))
      await new Promise(resolve => setTimeout(resolve, p.node ? 1 : 20))
      return p.builder
    })
    expect(started).toEqual(['this runner', 'node "amd64-1" (tcp://amd64-1:1234)'])
    expect(results).toEqual(['b-runner', 'b-amd64-1'])
  })

  it('stops the other parts when one fails, waits for them, and fails with the first failure, naming where it ran', async () => {
    const ended: string[] = []
    const run = runParts([part(undefined, 'ppc64le'), part('arm64-1', 'arm64', 's390x')], async (p, signal) => {
      if (p.node) {
        await new Promise(resolve => setTimeout(resolve, 5))
        throw new Error('the build failed for linux/s390x at `RUN make`: exit code 2')
      }
      // a long build, stopped by the abort
      await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
      ended.push('runner stopped')
      throw new Error('killed')
    })
    await expect(run).rejects.toThrow('on node "arm64-1" (tcp://arm64-1:1234) (linux/arm64, linux/s390x): the build failed for linux/s390x at `RUN make`: exit code 2')
    expect(ended).toEqual(['runner stopped'])
  })

  it("leaves the error of a build on this runner's builder alone as it is (no node to name), and names the node of a build on one node", async () => {
    const failure = new Error('the build failed for linux/arm64 at `RUN make`: exit code 2; fix Dockerfile')
    await expect(runParts([part(undefined, 'arm64')], async () => Promise.reject(failure))).rejects.toBe(failure)
    await expect(runParts([part('arm64-1', 'arm64')], async () => Promise.reject(failure))).rejects.toThrow('on node "arm64-1" (tcp://arm64-1:1234) (linux/arm64): the build failed')
  })
})

describe('partFailure', () => {
  const arm = part('arm64-1', 'arm64', 's390x')
  const failedBuild = (stderr: string, attempts = 1): BuildError =>
    new BuildError('the build failed …; fix Dockerfile (the step\'s output is in the build log above)', { cause: new DockerCommandError(['buildx', 'build'], { exitCode: 1, stdout: '', stderr }, attempts) })

  it('says a node stopped answering when buildx lost its connection (the daemon stopped mid-build), not to fix the Dockerfile', () => {
    // as buildx 0.30.1 reported it when the node's container was stopped during a RUN step
    const lost = [
      '#5 [2/2] RUN if [ "arm64" != amd64 ]; then sleep 117; fi',
      'ERROR: failed to build: failed to receive status: rpc error: code = Unavailable desc = closing transport due to: connection error: desc = "error reading from server: EOF", received prior goaway: code: NO_ERROR, debug data: "graceful_stop"'
    ].join('\n')
    expect(partFailure(arm, failedBuild(lost)).message).toBe(
      'node "arm64-1" (tcp://arm64-1:1234) stopped answering while it built linux/arm64, linux/s390x (failed to build: failed to receive status: rpc error: code = Unavailable desc = closing transport due to: connection error: desc = "error reading from server: EOF", received prior goaway: code: NO_ERROR, debug data: "graceful_stop"); ' +
        'nothing was published (no tag moved). Check that its buildkitd still runs and that this runner reaches it, or remove the node from "nodes" to build linux/arm64, linux/s390x on this runner'
    )
    // the retries found it gone
    const gone = ['#1 [internal] waiting for connection', '#1 ERROR: context deadline exceeded', 'ERROR: failed to build: context deadline exceeded'].join('\n')
    expect(partFailure(arm, failedBuild(gone, 4)).message).toMatch(/^node "arm64-1" \(tcp:\/\/arm64-1:1234\) stopped answering while it built linux\/arm64, linux\/s390x \(failed to build: context deadline exceeded, 4 attempts\); nothing was published \(no tag moved\)\. /)
  })

  it("names the node of a step that failed, and leaves the build's own message (a RUN step whose output mentions a lost connection is the Dockerfile's)", () => {
    const run = ['#5 [2/2] RUN curl http://x', '#5 0.2 curl: error reading from server: EOF', '#5 ERROR: process "/bin/sh -c curl http://x" did not complete successfully: exit code: 56'].join('\n')
    expect(partFailure(arm, failedBuild(run)).message).toBe('on node "arm64-1" (tcp://arm64-1:1234) (linux/arm64, linux/s390x): the build failed …; fix Dockerfile (the step\'s output is in the build log above)')
    expect(partFailure(part(undefined, 'ppc64le'), failedBuild(run)).message).toMatch(/^on this runner \(linux\/ppc64le\): the build failed/)
  })
})
