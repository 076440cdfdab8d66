#!/usr/bin/env node
// The benchmark (`npm run bench`): the bundled action, run the way the runner runs it, against the bare commands a
// careful user would write for the same result, side by side, on both runner paths. Needs the environment
// (`bash scripts/e2e-env.sh up`) and nothing else: no npm install, no network beyond the local registry.
//
//   npm run bench [-- --rounds N] [-- --large-rounds N] [-- --fixtures small,large] [-- --paths hosted,engine]
//                 [-- --json FILE] [-- --write-table] [-- --docker-actions SETUP_BUILDX_DIR,BUILD_PUSH_DIR]
//                 [-- --baseline CHECKOUT] [-- --figures cold,warm,sign,legs,rerun]
//
// Three sides in each round, in turn (the first rotating from round to round): the action; the bare commands; and,
// given git directories of docker/setup-buildx-action and docker/build-push-action (`--docker-actions`, or
// BENCH_DOCKER_ACTIONS), docker's own actions at the commits of issue 26 (their committed dist/index.cjs read from
// git at run time into a temporary directory, never into this repository; the commits are recorded) plus the shell
// a user writes for each TAG-ARCH. `--baseline CHECKOUT` adds another build of the action as a fourth side of the
// cold and warm figures (its `dist/index.js`, e.g. a worktree of main): a change's speed-up, measured side by side.
// `--figures` measures only those figures of a round (default all; cold and warm always).
//
// Two fixtures, each on both paths: `small` (the go-build shape with a 2 MB image: fixed costs) and `large`
// (go-build-sized: Debian's Go toolchain for every platform, about 330 MB per platform plus 146 MB of sources shared
// by all, a git checkout of its own; made once and cached by `scripts/e2e-env.sh bench-fixture`).
//
// Every figure is a ratio of two times measured in the same round (medians over the rounds, min–max beside them):
//   overhead cold / warm   the whole action (main and post step) vs the bare commands, same cache state; on the small
//                          fixture also the seconds a warm publish adds
//   docker's actions       the whole action vs docker's stack (setup-buildx, build-push, the shell, post steps)
//   rerun                  the action again with nothing changed vs the bare commands' cold publish
//   disk                   bytes the action's processes wrote to local disk (the kernel's write_bytes of the step and
//                          every process it waited for: buildx and docker included, BuildKit's and the engine's
//                          stores not) in its cold run, vs the image's bytes in the registry
//   signing                the warm publish again with `sign: true` (a cosign key pair made once per bench run with
//                          the cosign on PATH, no transparency log: offline) vs the unsigned warm publish of the round;
//                          the seconds it adds, and the action's own signing phases from its job summary
//   cache                  a build served from the registry cache on a builder without local cache vs cold
//   legs                   four `mode: leg` runs started together (one platform each) and the `mode: merge`, vs
//                          the cold `mode: all` publish (here all on one machine: the legs share its cores)
//   start-up, dist size    process start to the first log line; the size of dist/
//   phases                 per phase of a cold and a warm round, where the action spends more than the bare
//                          commands (the action's own phase times from its job summary; the bare commands timed
//                          step by step)
// Warm, on the hosted path, reads the registry cache the cold run of the same side wrote in the same round (both
// sides export it, `--cache-to type=registry,mode=max`, as a hosted workflow's cold publish exports its cache):
// no untimed priming build. On the engine path the cold `--no-cache` builds leave every step in the engine's cache.
// Prints a table and the same figures as JSON on stdout (progress goes to stderr); --write-table (old name:
// --readme) also writes the table into CONTRIBUTING.md between its bench markers. Each run publishes to a
// repository of its own under localhost:5000/bench/.
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, rm, statfs, symlink, writeFile } from 'node:fs/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { repoRoot, runAction, runnerNode, runPostStep } from './run-action.mjs'

const execFileAsync = promisify(execFile)

const REGISTRY = 'localhost:5000'
const BASE_IMAGE = `${REGISTRY}/base/busybox`
const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x']
const VERSIONS = { GO_VERSION: '1.25.4', LLVM_VERSION: '18.1.8', K8S_VERSION: '1.34.1' }
const TAG = '1.25.4-llvm18.1.8-k8s1.34.1'
const STATE_DIR = process.env.E2E_STATE_DIR || '/var/lib/go-build-action-e2e'
// Issue 26's goals: overhead (cold and warm) per path; an unchanged rerun ÷ the bare commands' cold publish; the
// seconds a small warm publish adds; the action ÷ docker's action stack (small, warm); the bytes the action writes
// to local disk ÷ the image.
const LIMITS = {
  overhead: { hosted: 1.05, engine: 1.1 },
  rerun: 0.02,
  smallWarmAddedMs: 1000,
  dockerStack: 0.8,
  diskShare: 0.01,
  verifyShare: 0.03,
  startupMs: 150,
  distBytes: 1024 * 1024
}
const BENCH_MARKERS = ['<!-- bench:start -->', '<!-- bench:end -->']
/** The figures of a round (`--figures`); cold and warm are always measured. */
const FIGURES = ['cold', 'warm', 'sign', 'legs', 'rerun']
/** `--baseline` (the other build's entry and commit) and `--figures`, set once by main(). */
const sideOptions = { baseline: undefined, figures: new Set(FIGURES) }

const log = message => process.stderr.write(`bench: ${message}\n`)
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
let repositoryCount = 0
const freshRepository = name => `${REGISTRY}/bench/${runId}/${name}-${++repositoryCount}`

function parseArgs(argv) {
  const options = {
    rounds: 3,
    largeRounds: 1,
    fixtures: ['small', 'large'],
    paths: ['hosted', 'engine'],
    json: undefined,
    writeTable: false,
    dockerActions: process.env.BENCH_DOCKER_ACTIONS ? process.env.BENCH_DOCKER_ACTIONS.split(',') : undefined,
    baseline: undefined,
    figures: new Set(FIGURES)
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--rounds') options.rounds = Number(argv[++i])
    else if (arg === '--large-rounds') options.largeRounds = Number(argv[++i])
    else if (arg === '--fixtures') options.fixtures = argv[++i].split(',').map(f => f.trim())
    else if (arg === '--paths') options.paths = argv[++i].split(',').map(p => p.trim())
    else if (arg === '--json') options.json = argv[++i]
    else if (arg === '--write-table' || arg === '--readme') options.writeTable = true
    else if (arg === '--docker-actions') options.dockerActions = argv[++i].split(',')
    else if (arg === '--baseline') options.baseline = path.resolve(argv[++i])
    else if (arg === '--figures') options.figures = new Set(['cold', 'warm', ...argv[++i].split(',').map(f => f.trim())])
    else
      throw new Error(
        `unknown argument ${arg}: use --rounds N, --large-rounds N, --fixtures small,large, --paths hosted,engine, --json FILE, --write-table, --docker-actions SETUP_BUILDX_DIR,BUILD_PUSH_DIR, --baseline CHECKOUT, --figures ${FIGURES.join(',')}`
      )
  }
  if (!Number.isInteger(options.rounds) || options.rounds < 3) throw new Error('--rounds: at least 3 (the figures are medians)')
  if (!Number.isInteger(options.largeRounds) || options.largeRounds < 1) throw new Error('--large-rounds: at least 1')
  for (const f of options.fixtures) if (!['small', 'large'].includes(f)) throw new Error(`--fixtures: ${f} is not small or large`)
  for (const p of options.paths) if (!['hosted', 'engine'].includes(p)) throw new Error(`--paths: ${p} is not hosted or engine`)
  for (const f of options.figures) if (!FIGURES.includes(f)) throw new Error(`--figures: ${f} is not one of ${FIGURES.join(', ')}`)
  if (options.baseline && !existsSync(path.join(options.baseline, 'dist', 'index.js'))) throw new Error(`--baseline: ${options.baseline} has no dist/index.js (a checkout of the action, built)`)
  if (options.dockerActions && (options.dockerActions.length !== 2 || options.dockerActions.some(d => !existsSync(d)))) {
    throw new Error(`--docker-actions (or BENCH_DOCKER_ACTIONS): two git directories, docker/setup-buildx-action's and docker/build-push-action's, comma-separated (got ${options.dockerActions.join(',')})`)
  }
  return options
}

/** Runs a command; its output is returned, a failure throws with the output's tail. */
async function run(command, args, env = {}) {
  try {
    return await execFileAsync(command, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    const output = `${error.stdout ?? ''}\n${error.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n')
    throw new Error(`${command} ${args.slice(0, 3).join(' ')} failed:\n${output}`, { cause: error })
  }
}

async function timed(body) {
  const start = process.hrtime.bigint()
  const value = await body()
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value }
}

// ---------------------------------------------------------------------------------------------------------------
// The two paths (the same as __tests__/e2e/support/paths.ts)

async function hostedPath() {
  const file = path.join(STATE_DIR, 'hosted-path.json')
  const status = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { available: false, reason: `${file} is missing` }
  if (!status.available) return { name: 'hosted', available: false, reason: status.reason }
  const dockerConfig = await mkdtemp(path.join(tmpdir(), 'go-build-action-bench-docker-config-'))
  await mkdir(path.join(dockerConfig, 'cli-plugins'))
  await symlink(path.join(status.buildxPluginDir, 'docker-buildx'), path.join(dockerConfig, 'cli-plugins', 'docker-buildx'))
  return {
    name: 'hosted',
    available: true,
    title: `hosted path (docker-container, buildx ${status.buildxVersion})`,
    buildkitImage: status.buildkitImage,
    buildxPlugin: path.join(status.buildxPluginDir, 'docker-buildx'),
    inputs: { 'buildkit-image': status.buildkitImage, 'driver-opts': 'network=host' },
    env: { RUNNER_ENVIRONMENT: 'github-hosted', DOCKER_CONFIG: dockerConfig },
    cleanup: () => rm(dockerConfig, { recursive: true, force: true })
  }
}

async function enginePath() {
  const version = (await run('docker', ['buildx', 'version'])).stdout.split(' ')[1] ?? '?'
  return {
    name: 'engine',
    available: true,
    title: `engine path (docker driver, buildx ${version.replace(/\+.*/, '')})`,
    inputs: {},
    env: { RUNNER_ENVIRONMENT: 'self-hosted' },
    cleanup: async () => undefined
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The fixture: the go-build shape (versions file, version ARGs), with RUN steps every platform executes (foreign
// ones under QEMU).

/** The go-build-sized context, made once by the environment script (cached there), with this run's marker file. */
async function largeFixture() {
  const { stdout } = await run('bash', [path.join(repoRoot, 'scripts', 'e2e-env.sh'), 'bench-fixture'])
  const dir = stdout.trim().split('\n').at(-1)
  if (!dir || !existsSync(path.join(dir, 'Dockerfile'))) throw new Error(`scripts/e2e-env.sh bench-fixture printed no fixture directory (${stdout.trim()})`)
  await writeFile(path.join(dir, 'bench-run'), `${runId}\n`)
  return { dir, remove: () => rm(path.join(dir, 'bench-run'), { force: true }) }
}

async function fixture() {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-bench-'))
  await writeFile(path.join(dir, 'versions.yaml'), 'golang:\n  version: 1.25.4\nllvm:\n  version: 18.1.8\nkubernetes:\n  version: 1.34.1\n')
  await writeFile(path.join(dir, 'bench-run'), `${runId}\n`)
  await writeFile(
    path.join(dir, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      'FROM ${BASE_IMAGE}',
      'ARG GO_VERSION=1.25.4',
      'ARG LLVM_VERSION=18.1.8',
      'ARG K8S_VERSION=1.34.1',
      'COPY bench-run /etc/go-build/bench-run',
      'RUN echo "go=$GO_VERSION llvm=$LLVM_VERSION k8s=$K8S_VERSION" > /etc/go-build/versions',
      'RUN uname -m > /etc/go-build/built-on',
      'CMD ["cat", "/etc/go-build/versions", "/etc/go-build/built-on"]',
      ''
    ].join('\n')
  )
  return dir
}

const buildArgFlags = () => [`BASE_IMAGE=${BASE_IMAGE}`, ...Object.entries(VERSIONS).map(([k, v]) => `${k}=${v}`)].flatMap(a => ['--build-arg', a])

// ---------------------------------------------------------------------------------------------------------------
// The action, as the runner runs it

/**
 * The runner's tool cache, where the action keeps the layers it checked (by digest): a cold run gets an empty one,
 * as a fresh hosted runner has; the warm run of a round gets the cold run's, as a self-hosted runner keeps it.
 */
const toolCaches = []
async function coldToolCache() {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-bench-tool-cache-'))
  toolCaches.push(dir)
  return dir
}

async function action(benchPath, context, repository, inputs = {}, env = {}, toolCache = undefined, entry = undefined) {
  toolCache ??= await coldToolCache()
  const { ms, value: result } = await timed(() =>
    runAction({
      ...(entry ? { entry } : {}),
      measureDisk: true,
      cwd: context,
      inputs: { images: repository, platforms: PLATFORMS.join(','), 'build-args': `BASE_IMAGE=${BASE_IMAGE}`, ...benchPath.inputs, ...inputs },
      env: { ...benchPath.env, RUNNER_TOOL_CACHE: toolCache, ...env }
    })
  )
  if (result.main.exitCode !== 0 || result.post?.exitCode !== 0) {
    throw new Error(`the action failed on the ${benchPath.name} path (exit ${result.main.exitCode}/${result.post?.exitCode}):\n${result.main.log.slice(-3000)}\n${result.post?.log.slice(-1000) ?? ''}`)
  }
  return { ms, result, phases: actionPhases(result.summary), written: result.main.writeBytes + result.post.writeBytes }
}

/** Bytes of the image under `reference` as a registry stores it: every platform's config and layers. */
async function imageBytes(reference, env) {
  const index = JSON.parse((await run('docker', ['buildx', 'imagetools', 'inspect', '--raw', reference], env)).stdout)
  const repository = reference.slice(0, reference.lastIndexOf(':'))
  let bytes = 0
  for (const m of index.manifests.filter(d => d.platform && d.platform.os !== 'unknown')) {
    const manifest = JSON.parse((await run('docker', ['buildx', 'imagetools', 'inspect', '--raw', `${repository}@${m.digest}`], env)).stdout)
    bytes += manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0)
  }
  return bytes
}

/** The action's phase times (ms) from its job summary's chart (`  NAME :START, DURms`). */
function actionPhases(summary) {
  const phases = {}
  for (const match of summary.matchAll(/^ {2}(.+?) :(?:crit, )?\d+, (\d+)ms$/gm)) phases[match[1].trim()] = (phases[match[1].trim()] ?? 0) + Number(match[2])
  return phases
}

/**
 * The bench run's cosign key pair, made once with the cosign on PATH (Debian's, installed by the environment
 * script) as a user makes one, and the action's inputs to sign with it: no transparency log (Rekor is not
 * reachable offline), and the cosign on PATH as it is (Debian's build reports no version, which the pinned
 * `cosign-version` would refuse; a hosted runner downloads the pinned release once per job, not measured here).
 */
async function signingKey() {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-bench-cosign-'))
  try {
    const password = `bench-${runId}-${Math.random().toString(36).slice(2)}`
    await execFileAsync('cosign', ['generate-key-pair'], { cwd: dir, env: { ...process.env, COSIGN_PASSWORD: password } }).catch(error => {
      throw new Error(`cosign generate-key-pair failed (is cosign installed? run "bash scripts/e2e-env.sh up"): ${`${error.stderr ?? error.message}`.trim()}`, { cause: error })
    })
    const key = await readFile(path.join(dir, 'cosign.key'), 'utf8')
    return {
      inputs: { sign: 'true', 'sign-key': key, 'sign-key-password': password, 'sign-transparency-log': 'false', 'cosign-version': 'installed' }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Bytes of blobs the registry served for a repository (GET …/blobs/…), from its access log: what the action read
 * back from the registry. The architecture check reads the build's local export, so this is image configs only,
 * and on the engine path the per-platform tags' pulls (their layers are in the engine already) add nothing more.
 */
function registryBlobBytesRead(repository) {
  const file = path.join(STATE_DIR, 'log', 'registry.log')
  if (!existsSync(file)) return undefined
  const name = repository.slice(REGISTRY.length + 1)
  let bytes = 0
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /"GET \/v2\/(.+?)\/blobs\/sha256:[0-9a-f]+ HTTP\/[0-9.]+" 200 (\d+)/.exec(line)
    if (match && match[1] === name) bytes += Number(match[2])
  }
  return bytes
}

/** The bare commands' steps, timed one by one. */
function stepTimer() {
  const steps = {}
  return {
    steps,
    async step(name, body) {
      const { ms, value } = await timed(body)
      steps[name] = (steps[name] ?? 0) + ms
      return value
    }
  }
}

/**
 * A distributed build as a matrix runs it: four `mode: leg` runs started together, one platform each, of one
 * workflow run, then the `mode: merge`. Returns the whole time and each part's.
 */
async function distributed(benchPath, context, repository, inputs) {
  const env = { GITHUB_RUN_ID: String(Date.now()), GITHUB_RUN_ATTEMPT: '1' }
  const toolCache = await coldToolCache()
  const legs = await timed(() =>
    Promise.all(PLATFORMS.map(platform => action(benchPath, context, repository, { ...inputs, mode: 'leg', platforms: platform }, env, toolCache)))
  )
  const merge = await action(benchPath, context, repository, { ...inputs, mode: 'merge' }, env, toolCache)
  return { ms: legs.ms + merge.ms, legsMs: legs.ms, mergeMs: merge.ms }
}

// ---------------------------------------------------------------------------------------------------------------
// The bare commands: the fastest a careful user writes for TAG and each TAG-ARCH

/** Platform → manifest digest of the index under `reference`. */
async function platformDigests(reference, env) {
  const index = JSON.parse((await run('docker', ['buildx', 'imagetools', 'inspect', '--raw', reference], env)).stdout)
  const digests = {}
  for (const m of index.manifests) {
    if (m.platform && m.platform.os !== 'unknown') digests[m.platform.architecture] = m.digest
  }
  return digests
}

/**
 * The shell a user writes for each TAG-ARCH once TAG is pushed, timed as the `tags` step (and `cleanup`): the
 * platform digests from one `imagetools inspect --raw`, then the four at once. Engine path (buildx 0.13 has no
 * `imagetools create --prefer-index=false`): each platform manifest pulled by digest, tagged and pushed (the store
 * pushes it unchanged), then the local names go, in one call. Hosted path: each TAG-ARCH a carbon copy of its
 * platform manifest.
 */
async function perArchTags(benchPath, repository, env, step) {
  const digests = await step('tags', () => platformDigests(`${repository}:${TAG}`, env))
  if (benchPath.name === 'hosted') {
    await step('tags', () =>
      Promise.all(
        Object.entries(digests).map(([arch, digest]) =>
          run('docker', ['buildx', 'imagetools', 'create', '--prefer-index=false', '--tag', `${repository}:${TAG}-${arch}`, `${repository}@${digest}`], env)
        )
      )
    )
    return
  }
  await step('tags', () =>
    Promise.all(
      Object.entries(digests).map(async ([arch, digest]) => {
        await run('docker', ['pull', '--quiet', `${repository}@${digest}`], env)
        await run('docker', ['tag', `${repository}@${digest}`, `${repository}:${TAG}-${arch}`], env)
        await run('docker', ['push', '--quiet', `${repository}:${TAG}-${arch}`], env)
      })
    )
  )
  await step('cleanup', () =>
    // the pulled `REPO@DIGEST` names go with the last tag of each
    run('docker', ['image', 'rm', `${repository}:${TAG}`, ...Object.keys(digests).map(a => `${repository}:${TAG}-${a}`)], env)
  )
}

/** Engine path (docker driver, buildx 0.13, containerd image store): build and push every platform under TAG, then each TAG-ARCH. */
async function bareEngine(benchPath, context, repository, { noCache }) {
  const { steps, step } = stepTimer()
  const result = await timed(async () => {
    const env = benchPath.env
    try {
      await step('build', () =>
        run('docker', ['buildx', 'build', '--builder', 'default', '--platform', PLATFORMS.join(','), ...buildArgFlags(), ...(noCache ? ['--no-cache'] : []), '--push', '--tag', `${repository}:${TAG}`, context], env)
      )
      await perArchTags(benchPath, repository, env, step)
    } catch (error) {
      // the docker driver keeps TAG in the engine even when its push failed (the registry's 500 of 2026-12-07/08):
      // a failed side leaves none of its names behind (the pulled REPO@DIGEST go with their TAG-ARCH)
      const names = [TAG, ...PLATFORMS.map(p => `${TAG}-${p.split('/')[1]}`)].map(tag => `${repository}:${tag}`)
      await run('docker', ['image', 'rm', ...names], env).catch(() => undefined)
      throw error
    }
  })
  return { ...result, steps }
}

/**
 * Hosted path (docker-container builder, buildx 0.30): a builder (as setup-buildx-action makes), build and push
 * every platform under TAG, then each TAG-ARCH; the builder is removed at the end, as the action's post step does.
 */
async function bareHosted(benchPath, context, repository, { cacheFrom, cacheTo } = {}) {
  const { steps, step } = stepTimer()
  const result = await timed(async () => {
    const env = benchPath.env
    const builder = `go-build-action-bench-${runId}-${++repositoryCount}`
    await step('setup', () =>
      run('docker', ['buildx', 'create', '--name', builder, '--driver', 'docker-container', '--driver-opt', `image=${benchPath.buildkitImage}`, '--driver-opt', 'network=host', '--bootstrap'], env)
    )
    try {
      const cache = [...(cacheFrom ? ['--cache-from', cacheFrom] : []), ...(cacheTo ? ['--cache-to', cacheTo] : [])]
      await step('build', () =>
        run('docker', ['buildx', 'build', '--builder', builder, '--platform', PLATFORMS.join(','), ...buildArgFlags(), ...cache, '--push', '--tag', `${repository}:${TAG}`, context], env)
      )
      await perArchTags(benchPath, repository, env, step)
    } finally {
      await step('cleanup', () => run('docker', ['buildx', 'rm', builder], env))
    }
  })
  return { ...result, steps }
}

// ---------------------------------------------------------------------------------------------------------------
// Docker's own actions: what a user picks instead

/** The commits of docker/setup-buildx-action and docker/build-push-action the bench runs (issue 26). */
const DOCKER_ACTIONS = {
  'setup-buildx-action': '37fe631',
  'build-push-action': 'cb941d0'
}

/**
 * Docker's actions at their pinned commits, their committed `dist/index.cjs` read from git directories of the two
 * repositories (`--docker-actions SETUP_BUILDX_DIR,BUILD_PUSH_DIR`, or BENCH_DOCKER_ACTIONS with the same value)
 * into a temporary directory: never part of this repository. Undefined (the side is not measured) without them.
 */
async function dockerActions(dirs) {
  if (!dirs) return undefined
  const root = await mkdtemp(path.join(tmpdir(), 'go-build-action-bench-docker-actions-'))
  const actions = { root, commits: {} }
  for (const [[name, commit], dir] of Object.entries(DOCKER_ACTIONS).map((entry, i) => [entry, dirs[i]])) {
    const full = (await run('git', ['-C', dir, 'rev-parse', '--verify', `${commit}^{commit}`])).stdout.trim()
    const bundle = (await execFileAsync('git', ['-C', dir, 'show', `${full}:dist/index.cjs`], { maxBuffer: 256 * 1024 * 1024 })).stdout
    await mkdir(path.join(root, name, 'dist'), { recursive: true })
    await writeFile(path.join(root, name, 'dist', 'index.cjs'), bundle)
    // the runner passes every input, its default where the workflow gives none (an expression default, such as
    // `${{ github.token }}`, is empty here: no token offline)
    const metadata = parseYaml((await run('git', ['-C', dir, 'show', `${full}:action.yml`])).stdout)
    const defaults = Object.fromEntries(
      Object.entries(metadata.inputs ?? {}).map(([input, spec]) => [input, /\$\{\{/.test(`${spec?.default ?? ''}`) ? '' : `${spec?.default ?? ''}`])
    )
    actions[name] = { entry: path.join(root, name, 'dist', 'index.cjs'), defaults }
    actions.commits[name] = full
  }
  return actions
}

/**
 * Docker's stack, as a workflow runs it: setup-buildx-action (`driver: docker` on the engine path; on the hosted
 * path `docker-container` with the local BuildKit image and `network=host`; the installed buildx, no download),
 * build-push-action (the four platforms, `push: true`, `tags: REPO:TAG`, the same provenance as the action's run),
 * then the shell for each TAG-ARCH, then the post steps in the runner's order (build-push's, then setup-buildx's,
 * which removes its builder). Each step is run as the runner runs it (INPUT_*, the runner's files), in a
 * DOCKER_CONFIG of its own, as a job has. build-push-action's build record upload is off (no artifact service
 * offline); its summary and record export run as on GitHub.
 */
async function dockerStack(benchPath, context, repository, actions, { cacheFrom, cacheTo, noCache }) {
  const { steps, step } = stepTimer()
  const dockerConfig = await mkdtemp(path.join(tmpdir(), 'go-build-action-bench-docker-stack-'))
  try {
    if (benchPath.buildxPlugin) {
      await mkdir(path.join(dockerConfig, 'cli-plugins'))
      await symlink(benchPath.buildxPlugin, path.join(dockerConfig, 'cli-plugins', 'docker-buildx'))
    }
    const env = { ...benchPath.env, ...RUNNER_CONTEXT, DOCKER_CONFIG: dockerConfig, DOCKER_BUILD_RECORD_UPLOAD: 'false' }
    const result = await timed(async () => {
      const hosted = benchPath.name === 'hosted'
      const setup = await step('setup', () =>
        runDockerAction(actions['setup-buildx-action'], context, env, hosted ? { driver: 'docker-container', 'driver-opts': `image=${benchPath.buildkitImage}\nnetwork=host` } : { driver: 'docker' })
      )
      const buildPush = await step('build', () =>
        runDockerAction(actions['build-push-action'], context, env, {
          builder: setup.outputs.name ?? '',
          context: '.',
          platforms: PLATFORMS.join(','),
          'build-args': [`BASE_IMAGE=${BASE_IMAGE}`, ...Object.entries(VERSIONS).map(([k, v]) => `${k}=${v}`)].join('\n'),
          push: 'true',
          tags: `${repository}:${TAG}`,
          provenance: 'mode=min',
          ...(cacheFrom ? { 'cache-from': cacheFrom } : {}),
          ...(cacheTo ? { 'cache-to': cacheTo } : {}),
          ...(noCache ? { 'no-cache': 'true' } : {})
        })
      )
      try {
        await perArchTags(benchPath, repository, env, step)
      } finally {
        await step('cleanup', () => postStep(buildPush))
        await step('cleanup', () => postStep(setup))
      }
    })
    return { ...result, steps }
  } finally {
    await rm(dockerConfig, { recursive: true, force: true })
  }
}

/** The runner's variables docker's actions read (the GitHub context of @actions/github), beside run-action.mjs's. */
const RUNNER_CONTEXT = {
  GITHUB_REF: 'refs/heads/main',
  GITHUB_RUN_ID: '1',
  GITHUB_RUN_NUMBER: '1',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_JOB: 'publish',
  GITHUB_WORKFLOW: 'bench',
  GITHUB_ACTOR: 'bench',
  GITHUB_API_URL: 'https://api.github.com'
}

/** One of docker's actions, main step (its post step deferred); fails with the log's tail. */
async function runDockerAction({ entry, defaults }, cwd, env, inputs) {
  const result = await runAction({ entry, cwd, env, inputs: { ...defaults, ...inputs }, post: false })
  if (result.main.exitCode !== 0) throw new Error(`${path.basename(path.dirname(path.dirname(entry)))} failed (exit ${result.main.exitCode}):\n${result.main.log.slice(-3000)}`)
  return result
}

async function postStep(result) {
  const post = await runPostStep(result)
  if (post.exitCode !== 0) throw new Error(`a post step of docker's actions failed (exit ${post.exitCode}):\n${post.log.slice(-2000)}`)
}

// ---------------------------------------------------------------------------------------------------------------
// Rounds

/**
 * One round on one path: every figure's two sides, the order of action and bare alternating between rounds.
 * `signing` is the bench run's key pair (signingKey). A step that fails (the shared registry answers an occasional
 * 500) is measured anew, both sides of its figure, into new repositories: its times would mix a retry with a run,
 * and measuring the whole round again would repeat every step that went well. A second failure ends the benchmark.
 */
async function round(benchPath, context, number, signing, actions) {
  const actionFirst = number % 2 === 0
  // the sides of a figure in turn, the first one rotating from round to round (action, bare, docker's stack)
  const sides = async bodies => {
    const names = Object.keys(bodies).filter(name => bodies[name])
    const shift = number % names.length
    const measured = {}
    for (const name of [...names.slice(shift), ...names.slice(0, shift)]) measured[name] = await bodies[name]()
    return measured
  }
  const again = async (what, body) => {
    try {
      return await body()
    } catch (error) {
      // the cause is in the last lines of the failed side's log (the action's step log ends with its post step)
      const cause = error.message.split('\n').map(l => l.trim()).filter(l => l !== '').slice(-12).join('\n  ')
      log(`${benchPath.title} round ${number + 1}, ${what} failed, measuring it again:\n  ${cause}`)
      return body()
    }
  }
  const hosted = benchPath.name === 'hosted'
  // Cold: the hosted path's builders are new and empty, and each side exports its registry cache for its warm run
  // (the same export on both sides); the engine's cache is shared, so both sides build with --no-cache (which
  // still leaves every step in the engine's cache for the warm runs).
  const cache = {
    action: `${freshRepository('cache-action')}:buildcache`,
    bare: `${freshRepository('cache-bare')}:buildcache`,
    docker: `${freshRepository('cache-docker')}:buildcache`,
    baseline: `${freshRepository('cache-baseline')}:buildcache`
  }
  const cacheTo = ref => `type=registry,ref=${ref},mode=max,ignore-error=true`
  const coldInputs = hosted ? { 'cache-to': cacheTo(cache.action) } : { 'no-cache': 'true' }
  const baseline = sideOptions.baseline
  const cold = await again('the cold publish', async () => {
    const repository = freshRepository(`${benchPath.name}-action-cold`)
    const toolCache = await coldToolCache()
    const baselineToolCache = baseline && (await coldToolCache())
    const measured = await sides({
      action: () => action(benchPath, context, repository, coldInputs, {}, toolCache),
      baseline:
        baseline &&
        (() =>
          action(benchPath, context, freshRepository(`${benchPath.name}-baseline-cold`), hosted ? { 'cache-to': cacheTo(cache.baseline) } : coldInputs, {}, baselineToolCache, baseline.entry)),
      bare: () =>
        hosted
          ? bareHosted(benchPath, context, freshRepository('hosted-bare-cold'), { cacheTo: cacheTo(cache.bare) })
          : bareEngine(benchPath, context, freshRepository('engine-bare-cold'), { noCache: true }),
      docker: actions && (() => dockerStack(benchPath, context, freshRepository(`${benchPath.name}-docker-cold`), actions, hosted ? { cacheTo: cacheTo(cache.docker) } : { noCache: true }))
    })
    return { ...measured, repository, toolCache, baselineToolCache, imageBytes: await imageBytes(`${repository}:${TAG}`, benchPath.env) }
  })
  // The signed run gets the tool cache as the unsigned warm run gets it (the layers the cold run checked).
  const measureSigning = sideOptions.figures.has('sign')
  const signToolCache = measureSigning ? await coldToolCache() : undefined
  if (signToolCache) await cp(cold.toolCache, signToolCache, { recursive: true })
  // Warm: the engine's cache holds every step; the hosted path's new builders read the registry cache.
  const warmInputs = hosted ? { 'cache-from': `type=registry,ref=${cache.action}` } : {}
  // Signing: the warm publish again, the same cache state, with `sign: true` and the bench run's key; run next to
  // the unsigned warm action run, before it in the rounds where the action goes first, after it in the others.
  const signedRun = () =>
    again('the signed warm publish', async () => {
      const run = await action(benchPath, context, freshRepository(`${benchPath.name}-action-signed`), { ...warmInputs, ...signing.inputs }, {}, signToolCache)
      const signatures = JSON.parse(run.result.outputs.signatures || '[]')
      if (signatures.length !== PLATFORMS.length + 1) {
        throw new Error(`the signed run on the ${benchPath.name} path reported ${signatures.length} signatures, not ${PLATFORMS.length + 1} (the index and each platform manifest)`)
      }
      return { ...run, signatures }
    })
  const signedFirst = measureSigning && actionFirst ? await signedRun() : undefined
  const warm = await again('the warm publish', () =>
    sides({
      action: () => action(benchPath, context, freshRepository(`${benchPath.name}-action-warm`), warmInputs, {}, cold.toolCache),
      baseline:
        baseline &&
        (() =>
          action(
            benchPath,
            context,
            freshRepository(`${benchPath.name}-baseline-warm`),
            hosted ? { 'cache-from': `type=registry,ref=${cache.baseline}` } : {},
            {},
            cold.baselineToolCache,
            baseline.entry
          )),
      bare: () =>
        hosted
          ? bareHosted(benchPath, context, freshRepository('hosted-bare-warm'), { cacheFrom: `type=registry,ref=${cache.bare}` })
          : bareEngine(benchPath, context, freshRepository('engine-bare-warm'), { noCache: false }),
      docker: actions && (() => dockerStack(benchPath, context, freshRepository(`${benchPath.name}-docker-warm`), actions, hosted ? { cacheFrom: `type=registry,ref=${cache.docker}` } : {}))
    })
  )
  const signed = measureSigning ? (signedFirst ?? (await signedRun())) : undefined
  // Legs: the same cold build, distributed over four legs and a merge, against the cold mode: all.
  const legs = sideOptions.figures.has('legs')
    ? await again('the legs', () => distributed(benchPath, context, freshRepository(`${benchPath.name}-legs`), hosted ? {} : { 'no-cache': 'true' }))
    : undefined
  // Rerun: the cold publish again, nothing changed, asking to skip an unchanged build (the runner's event here is
  // workflow_dispatch, where `auto` builds anyway).
  const rerun = sideOptions.figures.has('rerun') ? await again('the rerun', () => action(benchPath, context, cold.repository, { ...coldInputs, 'skip-unchanged': 'true' })) : undefined
  const stack = measured => ({
    ...(measured.docker ? { docker: measured.docker.ms, dockerRatio: measured.action.ms / measured.docker.ms } : {}),
    ...(measured.baseline ? { baseline: measured.baseline.ms, baselineRatio: measured.action.ms / measured.baseline.ms } : {})
  })
  const figures = {
    cold: {
      action: cold.action.ms,
      bare: cold.bare.ms,
      ratio: cold.action.ms / cold.bare.ms,
      ...stack(cold),
      phases: phaseFigures(cold),
      blobBytesRead: registryBlobBytesRead(cold.repository),
      disk: { written: cold.action.written, image: cold.imageBytes, ratio: cold.action.written / cold.imageBytes }
    },
    warm: { action: warm.action.ms, bare: warm.bare.ms, ratio: warm.action.ms / warm.bare.ms, added: warm.action.ms - warm.bare.ms, ...stack(warm), phases: phaseFigures(warm) },
    sign: signed && {
      action: signed.ms,
      unsigned: warm.action.ms,
      ratio: signed.ms / warm.action.ms,
      added: signed.ms - warm.action.ms,
      setup: signed.phases['Set up signing'] ?? 0,
      phase: Object.entries(signed.phases)
        .filter(([name]) => /^Sign \d+ digests?$/.test(name))
        .reduce((total, [, ms]) => total + ms, 0),
      digests: signed.signatures.length
    },
    legs: legs && { action: legs.ms, all: cold.action.ms, ratio: legs.ms / cold.action.ms, legs: legs.legsMs, merge: legs.mergeMs },
    rerun: rerun && {
      action: rerun.ms,
      cold: cold.bare.ms,
      ratio: rerun.ms / cold.bare.ms,
      tag: rerun.result.outputs.tag,
      skipped: /skipped: unchanged/.test(rerun.result.summary)
    }
  }
  if (hosted) {
    // The warm action run was a build on a new builder (no local cache) served from the registry cache.
    const cachedSteps = (warm.action.result.main.log.match(/^#\d+ CACHED$/gm) ?? []).length
    figures.cache = { action: warm.action.ms, cold: cold.action.ms, ratio: warm.action.ms / cold.action.ms, cachedSteps }
  }
  return figures
}

/**
 * Where the action spends more than the bare commands, per phase (ms): the same work on both sides (building and
 * pushing; moving the tags; setting up and removing the builder), and what only the action does (versions, tags and
 * the fingerprint; the unchanged check; QEMU and the Dockerfile advisor; verification; the summary; the post step
 * and process starts, as the rest of the whole time).
 */
function phaseFigures({ action: a, bare }) {
  const p = a.phases
  const sum = names => names.reduce((total, n) => total + (p[n] ?? 0), 0)
  const named = prefix => Object.keys(p).filter(n => n.startsWith(prefix))
  const build = sum([...named('Build '), 'Push (by digest, no tag moves)'])
  const setup = sum(['Set up the builder', 'Install buildx'])
  const tags = sum(['Move tags'])
  const onlyAction = {
    'versions, tags, fingerprint': sum(['Log in', 'Versions and tags', 'Compare with the published tag']),
    'QEMU and the Dockerfile advisor': sum(['Set up QEMU', 'Check the Dockerfile for compiles under QEMU']),
    verification: sum(['Verify what the registries hold', 'Verify locally, before anything is pushed', ...named('Check the architectures')])
  }
  const phased = Object.values(p).reduce((t, v) => t + v, 0)
  const rows = {
    'build and push': { action: build, bare: bare.steps.build ?? 0 },
    'builder set-up': { action: setup, bare: bare.steps.setup ?? 0 },
    'tag moves': { action: tags, bare: bare.steps.tags ?? 0 },
    ...Object.fromEntries(Object.entries(onlyAction).map(([k, v]) => [k, { action: v, bare: 0 }])),
    'post step, process starts, summary (the rest)': { action: a.ms - phased, bare: bare.steps.cleanup ?? 0 }
  }
  return { rows, verifyShare: onlyAction.verification / a.ms }
}

/** A round; the tool caches it made go at its end. */
async function roundWithCleanup(benchPath, context, number, signing, actions) {
  try {
    return await round(benchPath, context, number, signing, actions)
  } finally {
    for (const dir of toolCaches.splice(0)) await rm(dir, { recursive: true, force: true }).catch(() => undefined)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Start-up and dist size

/** Process start to the first line the action prints (an input error: nothing runs, nothing to clean up). */
async function startupMs() {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-bench-startup-'))
  const files = { GITHUB_OUTPUT: 'output', GITHUB_STATE: 'state', GITHUB_STEP_SUMMARY: 'summary' }
  for (const [k, v] of Object.entries(files)) {
    files[k] = path.join(dir, v)
    await writeFile(files[k], '')
  }
  const once = () =>
    new Promise((resolve, reject) => {
      const start = process.hrtime.bigint()
      const child = spawn(runnerNode(), [path.join(repoRoot, 'dist', 'index.js')], {
        env: { PATH: process.env.PATH, RUNNER_TEMP: dir, ...files },
        stdio: ['ignore', 'pipe', 'ignore']
      })
      let first
      child.stdout.once('data', () => (first = Number(process.hrtime.bigint() - start) / 1e6))
      child.on('error', reject)
      child.on('close', () => (first === undefined ? reject(new Error('the action printed nothing')) : resolve(first)))
    })
  const times = []
  for (let i = 0; i < 7; i++) times.push(await once())
  await rm(dir, { recursive: true, force: true })
  return summarize(times)
}

function distBytes() {
  const dist = path.join(repoRoot, 'dist')
  return readdirSync(dist).reduce((sum, name) => sum + statSync(path.join(dist, name)).size, 0)
}

// ---------------------------------------------------------------------------------------------------------------
// Figures and the table

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function summarize(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), values }
}

const ratio = s => `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`
const seconds = ms => `${(ms / 1000).toFixed(1)} s`
const plusMinus = ms => `${ms < 0 ? '−' : '+'}${seconds(Math.abs(ms))}`
const addedSeconds = s => `${plusMinus(s.median)} (${plusMinus(s.min)} to ${plusMinus(s.max)})`
const formatMiB = bytes => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`)

function pathFigures(rounds) {
  const pick = (figure, field) => summarize(rounds.map(r => r[figure][field]))
  const figures = {}
  for (const figure of ['cold', 'warm', 'sign', 'legs', 'rerun', 'cache']) {
    if (!rounds[0][figure]) continue
    figures[figure] = { ratio: pick(figure, 'ratio'), action: pick(figure, 'action') }
    if (figure === 'cold' || figure === 'warm') {
      figures[figure].bare = pick(figure, 'bare')
      if (rounds[0][figure].docker !== undefined) Object.assign(figures[figure], { docker: pick(figure, 'docker'), dockerRatio: pick(figure, 'dockerRatio') })
      if (rounds[0][figure].baseline !== undefined) Object.assign(figures[figure], { baseline: pick(figure, 'baseline'), baselineRatio: pick(figure, 'baselineRatio') })
      if (figure === 'warm') figures[figure].added = pick(figure, 'added')
      if (figure === 'cold') {
        figures[figure].disk = { written: summarize(rounds.map(r => r.cold.disk.written)), image: median(rounds.map(r => r.cold.disk.image)), ratio: summarize(rounds.map(r => r.cold.disk.ratio)) }
      }
      const rows = Object.keys(rounds[0][figure].phases.rows)
      figures[figure].phases = Object.fromEntries(
        rows.map(row => [row, { action: median(rounds.map(r => r[figure].phases.rows[row].action)), bare: median(rounds.map(r => r[figure].phases.rows[row].bare)) }])
      )
      figures[figure].verifyShare = summarize(rounds.map(r => r[figure].phases.verifyShare))
      const read = rounds.map(r => r[figure].blobBytesRead).filter(b => b !== undefined)
      if (read.length > 0) figures[figure].blobBytesRead = Math.max(...read)
    }
    if (figure === 'legs') Object.assign(figures[figure], { all: pick(figure, 'all'), legs: pick(figure, 'legs'), merge: pick(figure, 'merge') })
    if (figure === 'sign') {
      Object.assign(figures[figure], { unsigned: pick(figure, 'unsigned'), added: pick(figure, 'added'), setup: pick(figure, 'setup'), phase: pick(figure, 'phase') })
      figures[figure].digests = rounds[0].sign.digests
    }
    if (figure === 'rerun') figures[figure].skipped = rounds.every(r => r.rerun.skipped)
    if (figure === 'cache') figures[figure].cachedSteps = Math.min(...rounds.map(r => r.cache.cachedSteps))
  }
  return figures
}

async function machine() {
  const cpu = cpus()
  const docker = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).stdout.trim()
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    docker,
    node: (await run(runnerNode(), ['--version'])).stdout.trim(),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
  }
}

function table(result) {
  const lines = [
    `Measured ${result.machine.date} on ${result.machine.cpu}, ${result.machine.memory}, docker ${result.machine.docker}, node ${result.machine.node}; ` +
      result.fixtures.map(f => `${f.name} fixture ${f.rounds} round${f.rounds === 1 ? '' : 's'}`).join(', ') +
      ', median (min–max).' +
      (result.dockerActions
        ? ` Docker's actions: ${Object.entries(result.dockerActions).map(([name, commit]) => `docker/${name}@${commit.slice(0, 7)}`).join(', ')}.`
        : " Docker's actions: not measured (give --docker-actions).") +
      (result.baseline ? ` This build: ${result.commit.slice(0, 7)}; baseline: ${result.baseline.commit.slice(0, 7)} (${result.baseline.dir}).` : ''),
    '',
    '| fixture | figure | path | ratio | action | baseline | target |',
    '| --- | --- | --- | --- | --- | --- | --- |'
  ]
  for (const fixture of result.fixtures) {
    const row = cells => lines.push(`| ${fixture.name} | ${cells.join(' | ')} |`)
    for (const p of fixture.paths) {
      if (!p.available) {
        row(['all', p.name, `not measured: ${p.reason}`, '', '', ''])
        continue
      }
      const f = p.figures
      const small = fixture.name === 'small'
      row(['overhead, cold', p.title, ratio(f.cold.ratio), seconds(f.cold.action.median), `${seconds(f.cold.bare.median)} bare`, small ? '' : `≤ ${LIMITS.overhead[p.name]}×`])
      row(['overhead, warm', p.title, ratio(f.warm.ratio), seconds(f.warm.action.median), `${seconds(f.warm.bare.median)} bare`, small ? '' : `≤ ${LIMITS.overhead[p.name]}×`])
      if (small) row(['seconds a warm publish adds to the bare commands', p.title, addedSeconds(f.warm.added), '', '', `≤ +${seconds(LIMITS.smallWarmAddedMs)}`])
      for (const when of ['cold', 'warm']) {
        if (!f[when].dockerRatio) continue
        row([`against docker's actions (setup-buildx, build-push, the shell for TAG-ARCH), ${when}`, p.title, ratio(f[when].dockerRatio), seconds(f[when].action.median), `${seconds(f[when].docker.median)} docker's`, small && when === 'warm' ? `≤ ${LIMITS.dockerStack}×` : ''])
      }
      for (const when of ['cold', 'warm']) {
        if (!f[when].baselineRatio) continue
        row([`against the baseline build of the action (${result.baseline.commit.slice(0, 7)}), ${when}`, p.title, ratio(f[when].baselineRatio), seconds(f[when].action.median), `${seconds(f[when].baseline.median)} baseline`, ''])
      }
      row([
        `bytes the action wrote to local disk (${formatMiB(f.cold.disk.written.median)} of a ${formatMiB(f.cold.disk.image)} image; BuildKit's and the engine's stores not counted), cold`,
        p.title,
        `${(f.cold.disk.ratio.median * 100).toFixed(2)} % (${(f.cold.disk.ratio.min * 100).toFixed(2)}–${(f.cold.disk.ratio.max * 100).toFixed(2)})`,
        '',
        'the image',
        small ? '' : `≤ ${LIMITS.diskShare * 100} %`
      ])
      if (f.sign)
        row([
          `signing: what it adds to a warm publish (${plusMinus(f.sign.added.median)}; the action's signing phases ${seconds(f.sign.setup.median + f.sign.phase.median)}: ` +
            `key check ${seconds(f.sign.setup.median)}, sign and verify ${f.sign.digests} digests ${seconds(f.sign.phase.median)})`,
          p.title,
          ratio(f.sign.ratio),
          seconds(f.sign.action.median),
          `${seconds(f.sign.unsigned.median)} unsigned warm`,
          ''
        ])
      row(['verification, share of the cold publish', p.title, ratio(f.cold.verifyShare), '', 'cold publish', fixture.name === 'large' ? `≤ ${LIMITS.verifyShare}×` : ''])
      if (f.cold.blobBytesRead !== undefined) row(['blobs the registry served the cold run (no second download)', p.title, `${(f.cold.blobBytesRead / 1024).toFixed(0)} KiB`, '', '', ''])
      if (f.legs)
        row([
          `legs: 4 legs started together + merge (${seconds(f.legs.legs.median)} + ${seconds(f.legs.merge.median)}), one machine`,
          p.title,
          ratio(f.legs.ratio),
          seconds(f.legs.action.median),
          `${seconds(f.legs.all.median)} \`mode: all\` cold`,
          ''
        ])
      if (f.rerun)
        row([
          `rerun, nothing changed${f.rerun.skipped ? ' (skipped: unchanged)' : ' (rebuilt)'}`,
          p.title,
          ratio(f.rerun.ratio),
          seconds(f.rerun.action.median),
          "the bare commands' cold publish",
          fixture.name === 'large' ? `≤ ${LIMITS.rerun}×` : ''
        ])
      if (f.cache) {
        row([`cache: registry cache, no local cache (${f.cache.cachedSteps} steps CACHED)`, p.title, ratio(f.cache.ratio), seconds(f.cache.action.median), 'cold publish', ''])
      } else {
        row(['cache', p.title, "not measured: the engine's build cache is shared, and is never pruned here", '', '', ''])
      }
    }
  }
  lines.push(`| | start-up: process start to first log line | | ${result.startup.median.toFixed(0)} ms (${result.startup.min.toFixed(0)}–${result.startup.max.toFixed(0)}) | | | ≤ ${LIMITS.startupMs} ms |`)
  lines.push(`| | dist/ size | | ${(result.distBytes / 1024).toFixed(0)} KiB | | | ≤ ${LIMITS.distBytes / 1024} KiB |`)
  lines.push('', 'Per phase, median seconds, action / bare commands (cold; warm):', '')
  lines.push('| fixture | path | ' + PHASE_ROWS.join(' | ') + ' |', `| --- | --- | ${PHASE_ROWS.map(() => '---').join(' | ')} |`)
  for (const fixture of result.fixtures) {
    for (const p of fixture.paths.filter(q => q.available)) {
      const cell = row => {
        const c = p.figures.cold.phases[row]
        const w = p.figures.warm.phases[row]
        return `${secs(c.action)} / ${secs(c.bare)}; ${secs(w.action)} / ${secs(w.bare)}`
      }
      lines.push(`| ${fixture.name} | ${p.name} | ${PHASE_ROWS.map(cell).join(' | ')} |`)
    }
  }
  return lines.join('\n')
}

const PHASE_ROWS = [
  'build and push',
  'builder set-up',
  'tag moves',
  'versions, tags, fingerprint',
  'QEMU and the Dockerfile advisor',
  'verification',
  'post step, process starts, summary (the rest)'
]
const secs = ms => (ms / 1000).toFixed(1)

/** Writes the table into CONTRIBUTING.md (the contributors' guide), between its bench markers. */
async function writeTable(text) {
  const file = path.join(repoRoot, 'CONTRIBUTING.md')
  const current = existsSync(file) ? await readFile(file, 'utf8') : ''
  const [start, end] = BENCH_MARKERS
  const from = current.indexOf(start)
  const to = current.indexOf(end)
  if (from < 0 || to < from) throw new Error(`CONTRIBUTING.md has no ${start} … ${end} block to write the table into`)
  await writeFile(file, `${current.slice(0, from + start.length)}\n${text}\n${current.slice(to)}`)
}

// ---------------------------------------------------------------------------------------------------------------

/** Every path on one fixture: its rounds and figures. */
async function benchFixture(options, context, fixtureName, roundCount, started, signing, actions) {
  const paths = []
  for (const name of options.paths) {
    const benchPath = name === 'hosted' ? await hostedPath() : await enginePath()
    if (!benchPath.available) {
      log(`${name} path: not available (${benchPath.reason})`)
      paths.push({ name, available: false, reason: benchPath.reason })
      continue
    }
    const title = `${fixtureName} fixture, ${benchPath.title}`
    try {
      const rounds = []
      for (let i = 0; i < roundCount; i++) {
        const r = await roundWithCleanup(benchPath, context, i, signing, actions)
        rounds.push(r)
        log(
          `${title} round ${i + 1}: cold ${r.cold.ratio.toFixed(2)}× (${seconds(r.cold.action)} / ${seconds(r.cold.bare)}${r.cold.docker ? ` / docker's ${seconds(r.cold.docker)}` : ''}), ` +
            `warm ${r.warm.ratio.toFixed(2)}× (${seconds(r.warm.action)} / ${seconds(r.warm.bare)}${r.warm.docker ? ` / docker's ${seconds(r.warm.docker)}` : ''}), ` +
            `wrote ${(r.cold.disk.written / 2 ** 20).toFixed(1)} MiB of a ${(r.cold.disk.image / 2 ** 20).toFixed(1)} MiB image, ` +
            (r.cold.baseline ? `baseline cold ${r.cold.baselineRatio.toFixed(2)}× (${seconds(r.cold.baseline)}), warm ${r.warm.baselineRatio.toFixed(2)}× (${seconds(r.warm.baseline)}), ` : '') +
            (r.sign ? `signed ${r.sign.ratio.toFixed(2)}× (${seconds(r.sign.action)}, ${plusMinus(r.sign.added)}, signing ${seconds(r.sign.setup + r.sign.phase)}), ` : '') +
            (r.legs ? `legs ${r.legs.ratio.toFixed(2)}× (${seconds(r.legs.action)} / ${seconds(r.legs.all)}), ` : '') +
            (r.rerun ? `rerun ${r.rerun.ratio.toFixed(2)}× (${seconds(r.rerun.action)}${r.rerun.skipped ? ', skipped' : ''}) ` : '') +
            `[${Math.round((Date.now() - started) / 1000)} s]`
        )
      }
      paths.push({ name, available: true, title: benchPath.title, figures: pathFigures(rounds), rounds })
    } finally {
      await benchPath.cleanup()
    }
  }
  return paths
}

/**
 * Free space the large fixture needs on the engine's disk per round: every cold build (`--no-cache`, one per side)
 * leaves about 4 GB of build cache that nothing here prunes (2026-12-08: three rounds with a baseline side filled
 * 30 GB and the third round failed with ENOSPC).
 */
const LARGE_ROUND_BYTES = 15 * 1024 ** 3

/** Stops before the large fixture when the engine's disk cannot hold its rounds, naming what to prune. */
async function checkDiskForLarge(rounds) {
  const root = (await run('docker', ['info', '--format', '{{.DockerRootDir}}'])).stdout.trim()
  const dirs = [root, '/var/lib/containerd'].filter(dir => dir && existsSync(dir))
  const free = Math.min(...(await Promise.all(dirs.map(async dir => {
    const stats = await statfs(dir)
    return stats.bavail * stats.bsize
  }))))
  const needed = rounds * LARGE_ROUND_BYTES
  if (free < needed) {
    throw new Error(
      `the engine's disk has ${(free / 1024 ** 3).toFixed(1)} GiB free (${dirs.join(', ')}), and ${rounds} large round(s) need about ${(needed / 1024 ** 3).toFixed(0)} GiB: free space first ("docker builder prune -af" removes the engine's whole build cache, which the large fixture's cold builds fill), or give --large-rounds fewer rounds`
    )
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2))
  const started = Date.now()
  try {
    await run('bash', [path.join(repoRoot, 'scripts', 'e2e-env.sh'), 'status'])
  } catch (error) {
    throw new Error(`the environment is not up: run "bash scripts/e2e-env.sh up" first\n${error.message}`, { cause: error })
  }
  if (!existsSync(path.join(repoRoot, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run npm run build')
  const actions = await dockerActions(options.dockerActions)
  const commitOf = async dir => (await run('git', ['-C', dir, 'rev-parse', 'HEAD'])).stdout.trim()
  sideOptions.figures = options.figures
  if (options.baseline) sideOptions.baseline = { entry: path.join(options.baseline, 'dist', 'index.js'), dir: options.baseline, commit: await commitOf(options.baseline) }
  const result = {
    machine: await machine(),
    dockerActions: actions?.commits,
    commit: await commitOf(repoRoot),
    ...(sideOptions.baseline ? { baseline: { dir: sideOptions.baseline.dir, commit: sideOptions.baseline.commit } } : {}),
    fixtures: []
  }
  if (options.fixtures.includes('large')) await checkDiskForLarge(options.largeRounds)
  const signing = await signingKey()
  for (const fixtureName of options.fixtures) {
    const made = fixtureName === 'large' ? await largeFixture() : await fixture().then(dir => ({ dir, remove: () => rm(dir, { recursive: true, force: true }) }))
    const rounds = fixtureName === 'large' ? options.largeRounds : options.rounds
    const entry = { name: fixtureName, rounds, paths: [] }
    result.fixtures.push(entry)
    try {
      entry.paths = await benchFixture(options, made.dir, fixtureName, rounds, started, signing, actions)
    } finally {
      await made.remove()
    }
  }
  if (actions) await rm(actions.root, { recursive: true, force: true })
  result.startup = await startupMs()
  result.distBytes = distBytes()
  result.seconds = Math.round((Date.now() - started) / 1000)
  const text = table(result)
  process.stdout.write(`${text}\n\n${JSON.stringify(result, null, 2)}\n`)
  if (options.json) await writeFile(options.json, `${JSON.stringify(result, null, 2)}\n`)
  if (options.writeTable) await writeTable(text)
  log(`done in ${result.seconds} s`)
}

main().catch(error => {
  process.stderr.write(`bench: ${error.message}\n`)
  process.exit(1)
})
