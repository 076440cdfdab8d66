/**
 * The whole pipeline in one process, as the runner starts it (inputs as INPUT_*, the GITHUB_OUTPUT / STATE /
 * STEP_SUMMARY files, RUNNER_TEMP, then the post step with the saved state as STATE_*), with the docker CLI (and
 * cosign's) answered by FakeDocker over a registry and an engine kept in memory. Nothing of src/ is replaced: only
 * what the CLIs would do (write the build's metadata file and its export, store a login in DOCKER_CONFIG, hold
 * tags) is done here, the way the real tools do it (a layout as BuildKit's oci exporter writes it, `docker login`
 * writing `auths` into DOCKER_CONFIG's config.json).
 */
import { jest } from '@jest/globals'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FakeDocker, type Answer } from '../../../__fixtures__/fake-docker.js'
import { ustar } from '../../../__fixtures__/ustar.js'
import { inputVariable, parseCommandFile } from '../../../scripts/run-action.mjs'
import { resetCancelForTests, type CommandResult, type Docker, type RunOptions } from '../../../src/core/docker.js'
import { run } from '../../../src/main.js'
import { runPost } from '../../../src/post.js'
import { resetStateForTests } from '../../../src/core/state.js'

const LAYERS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '__fixtures__', 'layers')
/** An aarch64 busybox (and links to it): fits linux/arm64, foreign in any other platform's image (__fixtures__/layers). */
const BASE_LAYER = readFileSync(path.join(LAYERS, 'base.tar.gz'))

const INDEX = 'application/vnd.oci.image.index.v1+json'
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

function digestOf(bytes: string | Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** `repo@sha256:…` or `repo:tag` (a registry's port is not a tag). */
function splitReference(reference: string): { repository: string; tag?: string; digest?: string } {
  const at = reference.indexOf('@')
  if (at >= 0) return { repository: reference.slice(0, at), digest: reference.slice(at + 1) }
  const colon = reference.lastIndexOf(':')
  return colon > reference.lastIndexOf('/') ? { repository: reference.slice(0, colon), tag: reference.slice(colon + 1) } : { repository: reference, tag: 'latest' }
}

/** A registry in memory: manifests by digest, what each repository holds, its tags. */
export class MemoryRegistry {
  readonly manifests = new Map<string, string>()
  readonly configs = new Map<string, Record<string, unknown>>()
  readonly held = new Map<string, Set<string>>()
  readonly tags = new Map<string, string>()

  put(repository: string, raw: string): string {
    const digest = digestOf(raw)
    this.manifests.set(digest, raw)
    if (!this.held.has(repository)) this.held.set(repository, new Set())
    this.held.get(repository)!.add(digest)
    return digest
  }

  /** The manifests of an index (and the index) into `repository`. */
  copy(repository: string, digest: string): void {
    const raw = this.manifests.get(digest)
    if (raw === undefined) throw new Error(`no manifest ${digest}`)
    const parsed = JSON.parse(raw) as { manifests?: Array<{ digest: string }> }
    for (const m of parsed.manifests ?? []) this.copy(repository, m.digest)
    this.put(repository, raw)
  }

  resolve(reference: string): string | undefined {
    const { repository, tag, digest } = splitReference(reference)
    if (digest) return this.held.get(repository)?.has(digest) ? digest : undefined
    return this.tags.get(`${repository}:${tag}`)
  }
}

/** One platform image as BuildKit's oci exporter writes it, over the base layer: its config, manifest, descriptor. */
function platformImage(platform: string) {
  const [os = 'linux', architecture = 'amd64'] = platform.split('/')
  const config = { architecture, os, config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [] } }
  const configRaw = JSON.stringify(config)
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(BASE_LAYER), size: BASE_LAYER.length }
  const manifestRaw = JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(configRaw), size: configRaw.length }, layers: [layer] })
  return { config, configRaw, manifestRaw, descriptor: { mediaType: MANIFEST, digest: digestOf(manifestRaw), size: manifestRaw.length, platform: { os, architecture } } }
}

/** Writes a blob of an OCI layout. */
function layoutBlob(dir: string, bytes: string | Buffer): void {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  writeFileSync(path.join(dir, 'blobs', 'sha256', digestOf(bytes).slice('sha256:'.length)), bytes)
}

/** The value of `--flag value` in argv (every one). */
function flagValues(args: readonly string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag && i + 1 < args.length ? [args[i + 1]!] : []))
}

export interface FakeCliOptions {
  /** The builder's driver: `docker-container` (hosted path) or `docker` (engine path). */
  driver: 'docker-container' | 'docker'
}

/**
 * The docker CLI (buildx, imagetools, login, the engine's tag/push/rm) over {@link MemoryRegistry}, and cosign's
 * CLI; every command of both, in order, in `timeline` (`docker …`, `cosign …`). A test answers a command otherwise
 * with {@link FakeCli.answer} (first match wins, before the defaults).
 */
export class FakeCli {
  readonly registry = new MemoryRegistry()
  /** The engine's image store: local name → index digest. */
  readonly engine = new Map<string, string>()
  readonly timeline: string[] = []
  readonly docker = new FakeDocker()
  readonly cosign = new FakeDocker()
  private readonly overrides: Array<{ binary: 'docker' | 'cosign'; prefix: string[]; answer: Answer }> = []
  private readonly builders = new Set<string>()

  constructor(private readonly options: FakeCliOptions) {
    this.docker.on([], (args, options) => this.dispatch('docker', args, options, () => this.dockerAnswer(args, options)))
    this.cosign.on([], (args, options) => this.dispatch('cosign', args, options, () => this.cosignAnswer(args)))
  }

  /** Answers commands of `binary` that start with `prefix` with `answer`, before the defaults. */
  answer(binary: 'docker' | 'cosign', prefix: string[], answer: Answer): this {
    this.overrides.push({ binary, prefix, answer })
    return this
  }

  /** How the pipeline runs another tool: cosign is this fake's; nothing else is expected. */
  readonly runnerFor = (binary: string): Docker => {
    if (binary === 'cosign' || binary.endsWith('/cosign')) return this.cosign
    throw new Error(`FakeCli: no CLI ${binary}`)
  }

  private dispatch(binary: 'docker' | 'cosign', args: readonly string[], options: RunOptions, fallback: () => Partial<CommandResult>): Partial<CommandResult> {
    this.timeline.push(`${binary} ${args.join(' ')}`)
    const override = this.overrides.find(o => o.binary === binary && o.prefix.every((word, i) => args[i] === word))
    if (override) return typeof override.answer === 'function' ? override.answer(args, options) : override.answer
    return fallback()
  }

  private cosignAnswer(args: readonly string[]): Partial<CommandResult> {
    switch (args[0]) {
      case 'version':
        return { stdout: JSON.stringify({ gitVersion: 'v2.5.0' }) }
      case 'public-key':
        return { stdout: '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n' }
      case 'sign':
      case 'verify':
        return {}
      case 'triangulate': {
        const { repository, digest = '' } = splitReference(args.at(-1)!)
        return { stdout: `${repository}:${digest.replace(':', '-')}.sig\n` }
      }
      default:
        throw new Error(`FakeCli: no answer for cosign ${args.join(' ')}`)
    }
  }

  private dockerAnswer(argv: readonly string[], options: RunOptions): Partial<CommandResult> {
    // `docker --context NAME buildx build …` (the docker driver's builder)
    const args = argv[0] === '--context' ? argv.slice(2) : argv
    const words = args.filter(a => !a.startsWith('-')).slice(0, 3).join(' ')
    if (words.startsWith('buildx version')) return { stdout: 'github.com/docker/buildx 0.30.1 9e1d4e2\n' }
    if (words.startsWith('buildx create')) {
      this.builders.add(flagValues(args, '--name')[0]!)
      return {}
    }
    if (words.startsWith('buildx inspect')) {
      const name = args.at(-1)!
      const driver = this.options.driver
      return { stdout: `Name:   ${name}\nDriver: ${driver}\n\nNodes:\nName:      ${name}0\nEndpoint:  unix:///var/run/docker.sock\nStatus:    running\nPlatforms: linux/amd64, linux/arm64\n` }
    }
    if (words.startsWith('buildx rm')) return this.builders.delete(args.at(-1)!) ? {} : { exitCode: 1, stderr: `ERROR: no builder "${args.at(-1)}" found\n` }
    if (words.startsWith('buildx build')) return this.build(args, options)
    if (words.startsWith('buildx imagetools inspect')) return this.inspect(args)
    if (words.startsWith('buildx imagetools create')) return this.create(args)
    if (words.startsWith('context inspect')) return { stdout: 'unix:///var/run/docker.sock\n' }
    if (words.startsWith('context create') || words.startsWith('context rm')) return {}
    if (words.startsWith('login')) return this.login(args)
    if (words.startsWith('info')) return { stdout: '{}' }
    if (words.startsWith('tag')) {
      const digest = this.engine.get(args[1]!)
      if (!digest) return { exitCode: 1, stderr: `Error response from daemon: No such image: ${args[1]}\n` }
      this.engine.set(args[2]!, digest)
      return {}
    }
    if (words.startsWith('push')) return this.push(args[1]!)
    if (words.startsWith('image inspect')) return this.engine.has(args.at(-1)!) ? { stdout: 'sha256:0\n' } : { exitCode: 1, stderr: 'Error: No such image\n' }
    if (words.startsWith('image rm')) {
      for (const name of args.slice(2).filter(a => !a.startsWith('-'))) this.engine.delete(name)
      return {}
    }
    if (words.startsWith('pull')) {
      const digest = this.registry.resolve(args.at(-1)!)
      if (!digest) return { exitCode: 1, stderr: `Error response from daemon: manifest for ${args.at(-1)} not found\n` }
      this.engine.set(args.at(-1)!, digest)
      return {}
    }
    if (words.startsWith('run')) return {}
    throw new Error(`FakeCli: no answer for docker ${argv.join(' ')}`)
  }

  /**
   * buildx build: the platforms' images over the base layer, into the export (a local layout, or a tar streamed on
   * standard output), the registry (by digest, or the engine's push under a name) or the engine.
   */
  private build(args: readonly string[], options: RunOptions) {
    const platforms = flagValues(args, '--platform')[0]!.split(',')
    const images = platforms.map(platformImage)
    const indexRaw = JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: images.map(i => i.descriptor) })
    const index = digestOf(indexRaw)
    const indexJson = JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: INDEX, digest: index, size: indexRaw.length }] })
    const blobs = [...images.flatMap(image => [image.configRaw, image.manifestRaw]), BASE_LAYER, indexRaw]
    for (const output of flagValues(args, '--output')) {
      const fields = Object.fromEntries(output.split(',').map(f => f.split('=') as [string, string]))
      if (fields.type === 'oci' && fields.dest === '-') {
        // as BuildKit streams it: the blobs in digest order, then index.json
        const files = blobs.map((bytes): [string, Buffer] => [`blobs/sha256/${digestOf(bytes).slice('sha256:'.length)}`, Buffer.from(bytes)]).sort(([x], [y]) => x.localeCompare(y))
        options.stdoutTo?.().end(ustar([...files, ['index.json', Buffer.from(indexJson)]]))
      } else if (fields.type === 'oci') {
        const dir = fields.dest!
        for (const bytes of blobs) layoutBlob(dir, bytes)
        writeFileSync(path.join(dir, 'index.json'), indexJson)
      }
      if (fields.type === 'image' && fields.push === 'true') {
        for (const image of images) this.registry.put(fields['push-by-digest'] === 'true' ? fields.name! : splitReference(fields.name!).repository, image.manifestRaw)
        if (fields['push-by-digest'] === 'true') this.registry.put(fields.name!, indexRaw)
        else {
          // the docker driver's push: stored in the engine under the name, and pushed there under its tag
          const { repository, tag } = splitReference(fields.name!)
          this.registry.put(repository, indexRaw)
          this.registry.tags.set(`${repository}:${tag}`, index)
          this.engine.set(fields.name!, index)
        }
      }
    }
    // what a later push or copy of the loaded index sends (the configs: what `imagetools inspect --format` shows)
    for (const image of images) this.registry.configs.set(image.descriptor.digest, image.config)
    for (const image of images) this.registry.manifests.set(image.descriptor.digest, image.manifestRaw)
    this.registry.manifests.set(index, indexRaw)
    if (args.includes('--load')) this.engine.set(flagValues(args, '--tag')[0]!, index)
    writeFileSync(flagValues(args, '--metadata-file')[0]!, JSON.stringify({ 'containerimage.digest': index }))
    return {}
  }

  /** docker push of a local name: its index into the repository, under its tag. */
  private push(name: string) {
    const digest = this.engine.get(name)
    if (!digest) return { exitCode: 1, stderr: `An image does not exist locally with the tag: ${name}\n` }
    const { repository, tag } = splitReference(name)
    this.registry.copy(repository, digest)
    this.registry.tags.set(`${repository}:${tag}`, digest)
    return { stdout: `${tag}: digest: ${digest} size: 1\n` }
  }

  private inspect(args: readonly string[]) {
    const reference = args.at(-1)!
    const digest = this.registry.resolve(reference)
    if (!digest) return { exitCode: 1, stderr: `ERROR: ${reference}: not found\n` }
    if (args.includes('--raw')) return { stdout: this.registry.manifests.get(digest)! }
    const index = JSON.parse(this.registry.manifests.get(digest)!) as { manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> }
    return { stdout: JSON.stringify(Object.fromEntries(index.manifests.map(m => [`${m.platform.os}/${m.platform.architecture}`, this.registry.configs.get(m.digest)]))) }
  }

  /** imagetools create: a copy by digest (`--tag repo@digest`) or a tag moved onto a digest the repository holds. */
  private create(args: readonly string[]) {
    if (args.includes('--help')) return { stdout: '      --prefer-index   When only a single source is specified, prefer outputting that image or index\n' }
    const target = splitReference(flagValues(args, '--tag')[0]!)
    const source = args.at(-1)!
    const digest = this.registry.resolve(source)
    if (!digest) return { exitCode: 1, stderr: `ERROR: ${source}: not found\n` }
    this.registry.copy(target.repository, digest)
    if (target.tag) this.registry.tags.set(`${target.repository}:${target.tag}`, digest)
    return {}
  }

  /** docker login: the credential into DOCKER_CONFIG's config.json, as docker stores it without a helper. */
  private login(args: readonly string[]) {
    const registry = args.at(-1)!
    const file = path.join(process.env.DOCKER_CONFIG!, 'config.json')
    const config = JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, unknown> }
    config.auths = { ...config.auths, [registry]: { auth: Buffer.from(`${flagValues(args, '--username')[0]}:password`).toString('base64') } }
    writeFileSync(file, JSON.stringify(config))
    return { stdout: 'Login Succeeded\n' }
  }

  /** The tags the run moved (imagetools create onto a tag, a push under a tag), in order: never a copy by digest. */
  tagMoves(): string[] {
    return this.timeline.filter(c => / imagetools create /.test(c) && !/ --tag \S+@sha256:/.test(c) && !c.includes('--help'))
  }
}

/** What a runner gives a job: RUNNER_TEMP, the command files, the runner's own docker config, HOME (the layer cache's key). */
export interface Runner {
  dir: string
  temp: string
  /** The runner's DOCKER_CONFIG (never written by the action). */
  dockerConfig: string
  files: { GITHUB_OUTPUT: string; GITHUB_STATE: string; GITHUB_STEP_SUMMARY: string }
  context: string
}

export interface StepResult {
  error?: Error
  log: string
  outputs: Record<string, string>
  state: Record<string, string>
}

/**
 * Sets up a runner and a Go-less build context (a Dockerfile), and restores process.env, stdout and the cancel
 * state after each test (the pipeline sets DOCKER_CONFIG and PATH for its commands, as it does in a real step).
 */
export function pipelineHarness() {
  const saved = { ...process.env }
  let write: ReturnType<typeof jest.spyOn> | undefined
  let runner: Runner | undefined
  const log: string[] = []

  async function setUp(): Promise<Runner> {
    const dir = await mkdtemp(path.join(tmpdir(), 'pipeline-'))
    const temp = path.join(dir, 'runner-temp')
    const dockerConfig = path.join(dir, 'runner-docker')
    const context = path.join(dir, 'context')
    for (const d of [temp, dockerConfig, context, path.join(dir, 'home'), path.join(dir, 'tool-cache')]) await mkdir(d)
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { 'runner.example': { auth: 'cnVubmVyOnNlY3JldA==' } } }))
    await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY . /\n')
    const files = { GITHUB_OUTPUT: path.join(dir, 'output'), GITHUB_STATE: path.join(dir, 'state'), GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md') }
    for (const file of Object.values(files)) await writeFile(file, '')
    runner = { dir, temp, dockerConfig, files, context }
    log.length = 0
    write = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
      log.push(String(chunk))
      return true
    })
    return runner
  }

  async function tearDown(): Promise<void> {
    write?.mockRestore()
    resetCancelForTests()
    resetStateForTests()
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
    Object.assign(process.env, saved)
    if (runner) await rm(runner.dir, { recursive: true, force: true })
    runner = undefined
  }

  /** The step's environment: the runner's, and the inputs (`push: true` from a workflow_dispatch). */
  function stepEnv(r: Runner, inputs: Record<string, string>, env: Record<string, string> = {}): NodeJS.ProcessEnv {
    for (const name of Object.keys(process.env)) if (name.startsWith('INPUT_') || name.startsWith('STATE_') || name.startsWith('GITHUB_')) delete process.env[name]
    const base: NodeJS.ProcessEnv = {
      ...r.files,
      RUNNER_TEMP: r.temp,
      RUNNER_TOOL_CACHE: path.join(r.dir, 'tool-cache'),
      HOME: path.join(r.dir, 'home'),
      DOCKER_CONFIG: r.dockerConfig,
      GITHUB_ACTIONS: 'true',
      GITHUB_REPOSITORY: 'example/app',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
      GITHUB_EVENT_NAME: 'workflow_dispatch',
      ...env
    }
    for (const [name, value] of Object.entries({ context: r.context, qemu: 'off', 'qemu-compile-check': 'ignore', ...inputs })) base[inputVariable(name)] = value
    return base
  }

  /** The main step (src/main.ts's run) with these inputs; its error, log, outputs and the runner's state. */
  async function main(cli: FakeCli, inputs: Record<string, string>, env: Record<string, string> = {}): Promise<StepResult> {
    const r = runner!
    Object.assign(process.env, stepEnv(r, inputs, env))
    const start = log.length
    const error = await run(cli.docker, undefined, cli.runnerFor).then(
      () => undefined,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e)))
    )
    const step = { ...(error ? { error } : {}), log: log.slice(start).join(''), outputs: parseCommandFile(await readFile(r.files.GITHUB_OUTPUT, 'utf8')), state: parseCommandFile(await readFile(r.files.GITHUB_STATE, 'utf8')) }
    // the runner starts the post step in a new process: the main step's environment, not what the step set in it
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
    Object.assign(process.env, saved)
    return step
  }

  /** The post step (src/post.ts's runPost) with `state` as the runner hands it over (STATE_*), through `docker`. */
  async function post(docker: Docker, state: Record<string, string>, inputs: Record<string, string> = {}): Promise<{ log: string; warnings: string[] }> {
    const r = runner!
    const env = stepEnv(r, inputs)
    for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value
    Object.assign(process.env, env)
    const start = log.length
    await runPost(docker, process.env)
    const text = log.slice(start).join('')
    return { log: text, warnings: text.split('\n').filter(l => l.startsWith('::warning::')) }
  }

  return { setUp, tearDown, main, post, get runner(): Runner { return runner! } }
}
