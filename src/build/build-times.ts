/**
 * Per-platform build time from BuildKit's own progress records, as buildx prints them in plain progress (what it
 * prints when its output is not a terminal, as on a runner):
 *
 *   #12 [linux/amd64->arm64 build 4/4] RUN go build …     (runs on linux/amd64, for linux/arm64)
 *   #14 [linux/arm64 build 4/4] RUN go build …            (runs on linux/arm64: under QEMU on an amd64 runner)
 *   #14 DONE 45.6s
 *
 * so the cost of emulation shows in the job summary. Steps BuildKit shares between platforms (identical steps
 * of a `$BUILDPLATFORM` stage) are counted once, under the platform BuildKit names; `internal` steps (metadata,
 * context) are left out. Steps run in parallel, so a platform's time is the sum of its steps, not wall time.
 *
 * A step that did not run is left out too. BuildKit says `#N CACHED` for some; a step it takes from a registry
 * or gha cache often ends `#N DONE 0.1s` instead, its lines being the download and extraction of its layers
 * (`#N sha256:… 204B / 204B done`, `#N extracting sha256:…`), and it may end twice. A step that runs shows no layer
 * of its own there (the layers of the cached steps under it show under those steps), so a step other than `FROM`
 * with such a line was loaded, not run.
 */
import { nativeArchitectures } from '../setup/qemu.js'
import { formatPlatform, parsePlatform, type Platform } from '../core/platform.js'

export interface StepTime {
  /** The platform the step builds for. */
  platform: string
  /** The platform the step runs on. */
  runsOn: string
  /** The step as buildx names it, e.g. `build 4/4 RUN go build -o /out/hello .`. */
  name: string
  seconds: number
}

/** The steps with a duration in buildx's plain progress output (cached and internal steps left out). */
export function parseStepTimes(progress: string, platforms: readonly Platform[]): StepTime[] {
  const named = new Map<string, { platform: string; runsOn: string; name: string }>()
  const steps: StepTime[] = []
  const only = platforms.length === 1 ? formatPlatform(platforms[0]!) : undefined
  const notRun = stepsNotRun(progress)
  for (const line of progress.split('\n')) {
    const start = /^#(\d+) \[([^\]]+)\] (.*)$/.exec(line.trim())
    if (start) {
      const [, id, label, rest] = start as unknown as [string, string, string, string]
      const [first = '', ...words] = label.split(' ')
      // `linux/arm64` or `linux/amd64->arm64`, not the step count of an unnamed stage (`[2/2] RUN …`)
      const hasPlatform = first.includes('/') && !/^\d+\/\d+$/.test(first)
      if ((hasPlatform ? words[0] : first) === 'internal') continue
      const place = hasPlatform ? platformsOf(first) : only ? { runsOn: only, platform: only } : undefined
      if (place) named.set(id, { ...place, name: `${(hasPlatform ? words : [first, ...words]).join(' ')} ${rest}`.trim() })
      continue
    }
    const done = /^#(\d+) DONE (\d+(?:\.\d+)?)s$/.exec(line.trim())
    const step = done && !notRun.has(done[1]!) ? named.get(done[1]!) : undefined
    if (done && step) steps.push({ ...step, seconds: Number(done[2]) })
  }
  return steps
}

/** The ids of the steps BuildKit took from a cache: `#N CACHED`, or (other than `FROM`) a layer download or extraction. */
function stepsNotRun(progress: string): Set<string> {
  const from = new Set<string>()
  const notRun = new Set<string>()
  for (const raw of progress.split('\n')) {
    const line = raw.trim()
    const start = /^#(\d+) \[[^\]]+\] FROM /.exec(line)
    if (start) from.add(start[1]!)
    const cached = /^#(\d+) (?:CACHED$|(?:extracting )?sha256:[0-9a-f]{64}\b)/.exec(line)
    if (cached && !from.has(cached[1]!)) notRun.add(cached[1]!)
  }
  return notRun
}

/** `linux/amd64->arm64` → runs on linux/amd64 for linux/arm64; `linux/arm64` → on and for linux/arm64. */
function platformsOf(text: string): { runsOn: string; platform: string } | undefined {
  const [runsOn = '', target] = text.split('->')
  try {
    const on = parsePlatform(runsOn)
    const forPlatform = target ? parsePlatform(target.includes('/') ? target : `${on.os}/${target}`) : on
    return { runsOn: formatPlatform(on), platform: formatPlatform(forPlatform) }
  } catch {
    return undefined
  }
}

export interface PlatformBuildTime {
  platform: string
  /** Sum of the platform's step times. */
  seconds: number
  /** Sum of the times of the RUN steps that ran under QEMU. */
  emulatedSeconds: number
  /** Whether the runner runs this platform natively (else its RUN steps go through QEMU). */
  native: boolean
  steps: number
  /** The slowest step that ran under QEMU, if any. */
  slowestEmulated?: { name: string; seconds: number }
  /** The build node it was built on (nodes.ts); undefined: this runner. */
  node?: string
}

/**
 * Per requested platform: step time, the part under QEMU, and the slowest emulated step. `native`: the
 * architectures that run natively where it was built (a build node's own), else the runner's.
 */
export function platformBuildTimes(steps: readonly StepTime[], platforms: readonly Platform[], hostArch: string, native: readonly string[] = nativeArchitectures(hostArch)): PlatformBuildTime[] {
  return platforms.map(formatPlatform).map(platform => {
    const own = steps.filter(s => s.platform === platform)
    // only RUN steps execute the platform's programs; FROM, COPY, WORKDIR are file operations BuildKit does itself
    const emulated = own.filter(s => / RUN /.test(` ${s.name}`) && !native.includes(parsePlatform(s.runsOn).architecture))
    const slowest = [...emulated].sort((a, b) => b.seconds - a.seconds)[0]
    const time: PlatformBuildTime = {
      platform,
      seconds: round(own.reduce((sum, s) => sum + s.seconds, 0)),
      emulatedSeconds: round(emulated.reduce((sum, s) => sum + s.seconds, 0)),
      native: native.includes(parsePlatform(platform).architecture),
      steps: own.length
    }
    return slowest ? { ...time, slowestEmulated: { name: slowest.name, seconds: slowest.seconds } } : time
  })
}

/** Per requested platform, from buildx's progress output. */
export function buildTimesFromProgress(progress: string, platforms: readonly Platform[], hostArch: string, native?: readonly string[]): PlatformBuildTime[] {
  return platformBuildTimes(parseStepTimes(progress, platforms), platforms, hostArch, native)
}

function round(seconds: number): number {
  return Math.round(seconds * 10) / 10
}
