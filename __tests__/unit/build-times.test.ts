import { describe, expect, it } from '@jest/globals'
import { parseStepTimes, platformBuildTimes } from '../../src/build/build-times.js'
import { parsePlatform } from '../../src/core/platform.js'
import { fixture } from '../../__fixtures__/fixtures.js'

// buildx 0.13.1's plain progress for examples/hello plus a final `RUN uname -m` (which runs under QEMU for
// arm64 and s390x), built with --no-cache for three platforms on an amd64 runner.
const progress = fixture('buildx-progress-plain.txt')
const THREE = ['linux/amd64', 'linux/arm64', 'linux/s390x'].map(parsePlatform)

describe('parseStepTimes', () => {
  it('reads each finished step, the platform it builds for and the one it runs on, without internal steps', () => {
    const steps = parseStepTimes(progress, THREE)
    expect(steps.find(s => s.name.startsWith('build 4/4') && s.platform === 'linux/arm64')).toEqual({
      platform: 'linux/arm64',
      runsOn: 'linux/amd64',
      name: 'build 4/4 RUN GOARM="" CGO_ENABLED=0 GOOS="linux" GOARCH="arm64" go build -trimpath -o /out/hello .',
      seconds: 61.2
    })
    expect(steps.find(s => s.name.startsWith('stage-1 3/3') && s.platform === 'linux/s390x')).toMatchObject({ runsOn: 'linux/s390x', seconds: 0.9 })
    expect(steps.some(s => /internal|load/.test(s.name))).toBe(false)
  })

  it('leaves out the steps taken from a registry cache, whose lines are their layers\' download and extraction, and counts those that ran', () => {
    // buildx 0.30.1 / BuildKit 0.26.3, linux/amd64 and linux/arm64 on a pruned builder with --cache-from a registry
    // cache that holds the first RUN step: BuildKit prints no CACHED for it, but DONE (for arm64 twice) after
    // downloading and extracting its layers; the second RUN step ran (for arm64 under QEMU)
    const TWO = ['linux/amd64', 'linux/arm64'].map(parsePlatform)
    const steps = parseStepTimes(fixture('buildx-progress-registry-cache.txt'), TWO)
    expect(steps.filter(s => s.name.includes('RUN')).map(s => [s.platform, s.name])).toEqual([
      ['linux/amd64', '3/3 RUN echo c > /c'],
      ['linux/arm64', '3/3 RUN echo c > /c']
    ])
    // FROM still counts: its download is the step's own work
    expect(steps.filter(s => s.name.includes('FROM')).map(s => s.platform).sort()).toEqual(['linux/amd64', 'linux/arm64'])
    const arm64 = platformBuildTimes(steps, TWO, 'amd64')[1]
    expect(arm64).toMatchObject({ emulatedSeconds: 0.1, slowestEmulated: { name: '3/3 RUN echo c > /c', seconds: 0.1 } })
  })

  it('leaves out a step that said CACHED and later ends again with its layers downloaded, and one with only an extraction line', () => {
    const log = [
      '#16 [linux/ppc64le 3/3] RUN uname -m > /etc/go-build/built-on',
      '#16 CACHED',
      '',
      '#16 [linux/ppc64le 3/3] RUN uname -m > /etc/go-build/built-on',
      `#16 sha256:${'e2'.repeat(32)} 196B / 196B 0.0s done`,
      '#16 DONE 0.1s',
      '',
      '#17 [linux/s390x 3/3] RUN uname -m > /etc/go-build/built-on',
      `#17 extracting sha256:${'fd'.repeat(32)}`,
      '#17 DONE 0.1s',
      ''
    ].join('\n')
    expect(parseStepTimes(log, ['linux/ppc64le', 'linux/s390x', 'linux/amd64'].map(parsePlatform))).toEqual([])
  })

  it('gives a single-platform build (no platform in the labels) to that platform', () => {
    const steps = parseStepTimes('#5 [build 2/2] RUN make\n#5 DONE 3.5s\n', [parsePlatform('linux/arm64')])
    expect(steps).toEqual([{ platform: 'linux/arm64', runsOn: 'linux/arm64', name: 'build 2/2 RUN make', seconds: 3.5 }])
  })

  it('gives a single-platform build of an unnamed stage (`[2/2] RUN`, a step count, not a platform) to that platform', () => {
    const steps = parseStepTimes('#5 [2/2] RUN make\n#5 DONE 3.5s\n', [parsePlatform('linux/s390x')])
    expect(steps).toEqual([{ platform: 'linux/s390x', runsOn: 'linux/s390x', name: '2/2 RUN make', seconds: 3.5 }])
  })
})

describe('platformBuildTimes', () => {
  it('sums each platform, the part under QEMU, and names the slowest emulated step', () => {
    const times = platformBuildTimes(parseStepTimes(progress, THREE), THREE, 'amd64')
    expect(times).toEqual([
      { platform: 'linux/amd64', seconds: 59, emulatedSeconds: 0, native: true, steps: 4 },
      {
        platform: 'linux/arm64',
        seconds: 62.1,
        emulatedSeconds: 0.7,
        native: false,
        steps: 3,
        slowestEmulated: { name: 'stage-1 3/3 RUN ["/bin/sh", "-c", "uname -m > /built-on && md5sum /usr/local/bin/hello"]', seconds: 0.7 }
      },
      expect.objectContaining({ platform: 'linux/s390x', emulatedSeconds: 0.9, native: false })
    ])
  })
})
