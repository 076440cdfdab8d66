/**
 * The two runner paths every publishing e2e suite runs on:
 *
 * - `hosted`: what GitHub-hosted runners do (RUNNER_ENVIRONMENT=github-hosted): a `docker-container` builder
 *   (BuildKit v0.26.3 in a container, from the local registry) and buildx 0.30.1, as the job's docker CLI plugin;
 * - `engine`: what self-hosted Debian runners often have: the engine's `docker` driver and Debian's buildx 0.13.1.
 *
 * scripts/e2e-env.sh up records in hosted-path.json whether the hosted path could be set up (from ../shared/buildkit
 * or upstream). Where it could not, the hosted suites are skipped, with the reason in their title, and
 * scripts/test.sh counts them as skipped, never as passed.
 */
import { describe } from '@jest/globals'
import { execFile } from 'node:child_process'
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { mkdir, symlink } from 'node:fs/promises'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { runAction, type ActionRun, type RunActionOptions } from '../../../scripts/run-action.mjs'
import { expect } from '@jest/globals'
import { STAGING_TAG_PREFIX } from '../../../src/publish/publish.js'
import { docker, freshDockerConfig } from './environment.js'

export type PathName = 'hosted' | 'engine'

export interface BuilderPath {
  name: PathName
  /** For test titles: `[hosted path: docker-container, buildx 0.30.1]`; scripts/test.sh counts tests by it. */
  title: string
  /** The driver the action picks on this path. */
  driver: 'docker-container' | 'docker'
  available: boolean
  /** Why the path is unavailable here. */
  skipReason?: string
  /** Inputs this path adds to every run (the BuildKit image a hosted runner would pull from Docker Hub). */
  inputs: Record<string, string>
  /** Environment this path adds to every run (RUNNER_ENVIRONMENT, a DOCKER_CONFIG with the path's buildx). */
  env(dockerConfig?: string): Promise<Record<string, string>>
}

const execFileAsync = promisify(execFile)
const STATE_DIR = process.env.E2E_STATE_DIR || '/var/lib/go-build-action-e2e'
export const HOSTED_STATUS_FILE = path.join(STATE_DIR, 'hosted-path.json')

export interface HostedStatus {
  available: boolean
  reason?: string
  buildkitImage?: string
  buildxVersion?: string
  buildxPluginDir?: string
}

function readHostedStatus(): HostedStatus {
  if (!existsSync(HOSTED_STATUS_FILE)) return { available: false, reason: `${HOSTED_STATUS_FILE} is missing: run "bash scripts/e2e-env.sh up"` }
  return JSON.parse(readFileSync(HOSTED_STATUS_FILE, 'utf8')) as HostedStatus
}

/** A fresh DOCKER_CONFIG directory (or the given one) whose CLI plugin is the hosted path's buildx. */
async function withHostedBuildx(pluginDir: string, dockerConfig?: string): Promise<string> {
  const dir = dockerConfig ?? (await freshDockerConfig())
  await mkdir(path.join(dir, 'cli-plugins'), { recursive: true })
  const plugin = path.join(dir, 'cli-plugins', 'docker-buildx')
  if (!existsSync(plugin)) await symlink(path.join(pluginDir, 'docker-buildx'), plugin)
  return dir
}

/** What scripts/e2e-env.sh recorded about the hosted path. */
export const HOSTED_STATUS = readHostedStatus()
const hosted = HOSTED_STATUS

export const HOSTED_PATH: BuilderPath = {
  name: 'hosted',
  title: `[hosted path: docker-container, buildx ${hosted.buildxVersion ?? '0.30.1'}]`,
  driver: 'docker-container',
  available: hosted.available,
  skipReason: hosted.available ? undefined : hosted.reason,
  // On a hosted runner the builder pulls moby/buildkit from Docker Hub and reaches registries on the internet;
  // here the image comes from the local registry, and the registries are on the host's loopback.
  inputs: hosted.available ? { 'buildkit-image': hosted.buildkitImage!, 'driver-opts': 'network=host' } : {},
  env: async dockerConfig => ({
    RUNNER_ENVIRONMENT: 'github-hosted',
    DOCKER_CONFIG: await withHostedBuildx(hosted.buildxPluginDir ?? '', dockerConfig)
  })
}

export const ENGINE_PATH: BuilderPath = {
  name: 'engine',
  title: '[engine path: docker driver, buildx 0.13.1]',
  driver: 'docker',
  available: true,
  inputs: {},
  // a DOCKER_CONFIG of the run's own (the machine's buildx is Debian's system-wide plugin, found from any)
  env: async dockerConfig => ({ RUNNER_ENVIRONMENT: 'self-hosted', DOCKER_CONFIG: dockerConfig ?? (await freshDockerConfig()) })
}

export const BUILDER_PATHS: readonly BuilderPath[] = [HOSTED_PATH, ENGINE_PATH]

/**
 * Declares `body` once per path, inside a describe titled with the path. An unavailable path's describe is
 * skipped, its title saying why.
 */
export function describeEachPath(title: string, body: (path: BuilderPath) => void): void {
  for (const builderPath of BUILDER_PATHS) {
    if (builderPath.available) describe(`${builderPath.title} ${title}`, () => body(builderPath))
    else describe.skip(`${builderPath.title} ${title} (skipped: ${builderPath.skipReason})`, () => body(builderPath))
  }
}

/**
 * runAction on a path: the path's inputs under the test's own (none where the test chooses the builder itself
 * with "builder" or "driver"), and its environment: a DOCKER_CONFIG of the run's own, or the one the test made.
 */
export async function runOnPath(builderPath: BuilderPath, options: RunActionOptions = {}): Promise<ActionRun> {
  const env = options.env ?? {}
  const inputs = options.inputs ?? {}
  const ownBuilder = Boolean(inputs.builder || inputs.driver)
  const started = Date.now()
  const run = await runAction({
    ...options,
    inputs: { ...(ownBuilder ? {} : builderPath.inputs), ...inputs },
    env: { ...env, ...(await builderPath.env(env.DOCKER_CONFIG)) }
  })
  recordPathTime(builderPath, Date.now() - started)
  return run
}

/**
 * scripts/test.sh sets E2E_PATH_TIMES to a file where every run on a path adds a line `PATH MILLISECONDS`, so it
 * can say what each path costs (the action runs are most of the e2e time, and jest does not time hooks).
 */
function recordPathTime(builderPath: BuilderPath, ms: number): void {
  const file = process.env.E2E_PATH_TIMES
  if (file) appendFileSync(file, `${builderPath.name} ${ms}\n`)
}

/**
 * What a run's builder left on the engine after the post step: the BuildKit container and its state volume
 * (docker-container driver) and the docker context (docker driver). Empty when the post step cleaned up.
 */
export async function builderLeftovers(run: ActionRun): Promise<string[]> {
  const left: string[] = []
  const builder = run.state.builder || ''
  const context = run.state.dockerContext || ''
  if (builder) {
    const container = `buildx_buildkit_${builder}0`
    const { stdout: containers } = await docker(['ps', '-a', '--filter', `name=^${container}$`, '--format', '{{.Names}}'])
    if (containers.trim()) left.push(`container ${containers.trim()}`)
    const { stdout: volumes } = await docker(['volume', 'ls', '--filter', `name=^${container}_state$`, '--format', '{{.Name}}'])
    if (volumes.trim()) left.push(`volume ${volumes.trim()}`)
  }
  if (context) {
    const env = { ...process.env, ...(run.dockerConfig ? { DOCKER_CONFIG: run.dockerConfig } : {}) }
    const exists = await execFileAsync('docker', ['context', 'inspect', context], { env }).then(
      () => true,
      () => false
    )
    if (exists) left.push(`docker context ${context}`)
  }
  return left
}

/** The builder a run used: the driver it created and the buildx version it logged. */
export function builderUsed(run: ActionRun): { driver?: string; buildx?: string } {
  const m = /builder \S+ \(([a-z-]+), buildx ([^)]+)\) supports/.exec(run.main.log)
  return { driver: m?.[1], buildx: m?.[2] }
}

/**
 * The non-user tags publishes of one configuration leave in the first repository on this path, as matchers: the
 * docker driver pushes its loaded index through the staging tag of its configuration and platforms (one, however
 * many runs);
 * the docker-container driver pushes by digest and leaves none. Compare with `splitStaging(tags).staging`.
 */
export function stagingTags(builderPath: BuilderPath): unknown[] {
  return builderPath.driver === 'docker' ? [expect.stringMatching(new RegExp(`^${STAGING_TAG_PREFIX}-[0-9a-f]{12}-[0-9a-z-]+$`))] : []
}
