/**
 * Every input, parsed and validated once into one typed object. Nothing else reads inputs.
 */
import * as core from '@actions/core'
import * as path from 'node:path'
import { readBuildOptions, type BuildOptions } from './build/build-options.js'
import { readBuilderSettings, type BuilderSettings } from './setup/builder.js'
import { readCacheSettings, type CacheSettings } from './build/cache.js'
import { readBuildxInstallSettings, type BuildxInstallSettings } from './setup/buildx-install.js'
import { readEmulationMode, type EmulationMode } from './setup/emulation.js'
import { readArchitectureSettings, type ArchitectureSettings } from './verify/architecture.js'
import { InputError, inputPlatform, readBoolean, readChoice, readNumber, splitCommand, splitLines, splitList, type BuildArg, type BuildSecret, type InputReader } from './core/input.js'
import { readLogins, type LoginSettings } from './setup/login.js'
import { DEFAULT_PLATFORMS, formatPlatform, type Platform } from './core/platform.js'
import { readNodeSettings, type NodeSettings } from './setup/nodes.js'
import { readQemuSettings, type QemuSettings } from './setup/qemu.js'
import { readCheckSettings, type CheckSettings } from './check/releases.js'
import { readSignSettings, type SignSettings } from './publish/sign.js'
import { validateRepository } from './core/reference.js'
import { readTagSettings, type TagSettings } from './tags/tags.js'
import { SKIP_UNCHANGED_MODES, type SkipUnchangedMode } from './publish/unchanged.js'
import { readVersionSettings, type VersionSettings } from './tags/versions.js'
import { DEFAULT_REGISTRY_TIMEOUT_SECONDS, DEFAULT_RETRY, type RetryPolicy } from './core/retry.js'

/**
 * `all`: one job builds and publishes; `leg`: build, push by digest, hand off; `merge`: collect the legs, publish;
 * `check`: the toolchain update check (check.ts), no build.
 */
export type Mode = 'all' | 'leg' | 'merge' | 'check'
export const MODES: readonly Mode[] = ['all', 'leg', 'merge', 'check']

export interface Settings {
  /** `mode`: where this job sits in a distributed build (see handoff.ts). */
  mode: Mode
  /** Build context directory. */
  context: string
  /** Dockerfile path (relative paths are relative to the working directory, as with `docker buildx build -f`). */
  file: string
  /** Repositories to publish to, e.g. `ghcr.io/org/go-build`, `localhost:5000/go-build` (may be empty in `mode: check`). */
  images: string[]
  /**
   * `state-repository`: where the action keeps its own references (staging tag, leg and merge records, the registry
   * cache); '' for the first repository of `images` (configuration.ts).
   */
  stateRepository: string
  /** Target platforms, normalized (`linux/arm64/v8` → `linux/arm64`), in the order given; never twice. */
  platforms: Platform[]
  /** `--build-arg` values, in the order given. */
  buildArgs: BuildArg[]
  /** Where versions come from (see versions.ts). */
  versions: VersionSettings
  /** How tags are named, and whether to push (see tags.ts). */
  tagging: TagSettings
  /** QEMU emulation (`qemu`, `binfmt-image`). */
  qemu: QemuSettings
  /** What to do about Dockerfile stages that compile under QEMU (`qemu-compile-check`): warn, error, ignore. */
  emulation: EmulationMode
  /** The buildx builder (`builder`, `driver`, `driver-opts`, `buildkit-image`, `buildkitd-config`). */
  builder: BuilderSettings
  /** Remote BuildKit nodes and the TLS material to reach them (`nodes`, `nodes-cacert`, `nodes-cert`, `nodes-key`; see nodes.ts). */
  nodes: NodeSettings
  /** A pinned buildx (`buildx-version`, `buildx-download-url`). */
  buildx: BuildxInstallSettings
  /** The login inputs and `github-token`; which apply is decided once the run knows whether it pushes (login.ts). */
  logins: LoginSettings
  /** How registry operations retry transient faults. */
  retry: RetryPolicy
  /** A command run in every platform's image before any tag moves (empty: none), as argv. */
  verifyCommand: string[]
  /** Seconds the verify command may run in one platform's image (`verify-timeout`). */
  verifyTimeoutSeconds: number
  /** The architecture check (`architecture-check`, `architecture-check-skip`; see architecture.ts). */
  architecture: ArchitectureSettings
  /** `--provenance` value. */
  provenance: string
  /** `--sbom` value. */
  sbom: string
  /** `--label` values (`key=value`). */
  labels: string[]
  /** `--annotation` values (`[type:]key=value`). */
  annotations: string[]
  /** `--target` stage ('' for the last stage). */
  target: string
  /** Build secrets (`--secret id=...`), given to buildx as files. Values are masked. */
  secrets: BuildSecret[]
  /** `ssh`, `build-contexts`, `secret-envs`, `secret-files`, `network`, `add-hosts`, `allow`, `shm-size`, `ulimit`. */
  buildOptions: BuildOptions
  /** The build cache (`cache`, `cache-ref`, `cache-from`, `cache-to`; see cache.ts). */
  cache: CacheSettings
  noCache: boolean
  /** Always pull base images (`--pull`). */
  pull: boolean
  /** `mode: check`: the update policy, the release sources, whether to rewrite the versions (see releases.ts). */
  check: CheckSettings
  /** Signing with cosign (`sign`, `sign-key`, `sign-key-password`, …; see sign.ts). */
  signing: SignSettings
  /**
   * `skip-unchanged`: whether a run whose build the published tag already holds is skipped. `auto` skips on
   * automatic events and builds on `workflow_dispatch` and with `no-cache: true`.
   */
  skipUnchanged: SkipUnchangedMode
}


/** Reads every input; `mask` is given every password as written, before anything parses it. */
export function readSettings(read: InputReader, mask: (secret: string) => void = () => undefined): Settings {
  // first: every password is masked before anything else is read or parsed
  const logins = readLogins(read, mask, () => readImages(read, false, false))
  const signing = readSignSettings(read, mask)
  const nodes = readNodeSettings(read, mask)
  const context = read('context').trim() || '.'
  const file = read('file').trim() || path.join(context, 'Dockerfile')
  const mode = readChoice(read, 'mode', MODES, 'all')
  const settings: Settings = {
    mode,
    context,
    file,
    images: readImages(read, mode !== 'check'),
    stateRepository: readStateRepository(read),
    platforms: readPlatforms(read),
    buildArgs: readBuildArgs(read),
    versions: readVersionSettings(read),
    tagging: readTagSettings(read),
    qemu: readQemuSettings(read),
    emulation: readEmulationMode(read),
    builder: readBuilderSettings(read, process.env, nodes.nodes.length > 0),
    nodes,
    buildx: readBuildxInstallSettings(read),
    logins,
    retry: readRetry(read),
    verifyCommand: readVerifyCommand(read),
    verifyTimeoutSeconds: readWholeSeconds(read, 'verify-timeout', DEFAULT_VERIFY_TIMEOUT_SECONDS),
    architecture: readArchitectureSettings(read),
    provenance: readAttestation(read, 'provenance', 'mode=min', /^(true|false|mode=(min|max)(,[a-z-]+=[^,]+)*)$/),
    sbom: readAttestation(read, 'sbom', 'false', /^(true|false|generator=[^,\s]+)$/),
    labels: readKeyValues(read, 'labels'),
    annotations: readKeyValues(read, 'annotations'),
    target: read('target').trim(),
    secrets: readSecrets(read),
    buildOptions: readBuildOptions(read, process.env, process.cwd(), mode !== 'merge'),
    cache: readCacheSettings(read, splitLines(read('cache-from')), splitLines(read('cache-to'))),
    noCache: readBoolean(read, 'no-cache', false),
    pull: readBoolean(read, 'pull', false),
    skipUnchanged: readChoice(read, 'skip-unchanged', SKIP_UNCHANGED_MODES, 'auto'),
    check: readCheckSettings(read),
    signing
  }
  const secretIds = new Set(settings.secrets.map(s => s.id))
  for (const { id } of [...settings.buildOptions.secretEnvs, ...settings.buildOptions.secretFiles]) {
    if (secretIds.has(id)) throw new InputError('secrets', `secret id "${id}" is also given in "secret-envs" or "secret-files": give each secret its own id`)
  }
  if (settings.noCache && settings.cache.from.length > 0) {
    throw new InputError('no-cache', 'is true and "cache-from" is set: a build without cache reads none; drop one of them')
  }
  return settings
}

function readRetry(read: InputReader): RetryPolicy {
  const attempts = readNumber(read, 'retry-attempts', DEFAULT_RETRY.attempts, 1, 10)
  if (!Number.isInteger(attempts)) throw new InputError('retry-attempts', `"${attempts}" is not a whole number: write how many times to try, from 1 to 10`)
  const delaySeconds = readNumber(read, 'retry-delay', DEFAULT_RETRY.baseDelayMs / 1000, 0, 60)
  const timeoutSeconds = readWholeSeconds(read, 'registry-timeout', DEFAULT_REGISTRY_TIMEOUT_SECONDS)
  return { attempts, baseDelayMs: delaySeconds * 1000, maxDelayMs: DEFAULT_RETRY.maxDelayMs, timeoutSeconds }
}

/** Seconds the verify command may run per platform, unless `verify-timeout` says otherwise. */
export const DEFAULT_VERIFY_TIMEOUT_SECONDS = 300

/** A bound in whole seconds, from 1 s to 6 h (GitHub's limit of a job). */
function readWholeSeconds(read: InputReader, name: string, fallback: number): number {
  const seconds = readNumber(read, name, fallback, 1, 6 * 3600)
  if (!Number.isInteger(seconds)) throw new InputError(name, `"${read(name).trim()}" is not a whole number of seconds: write one from 1 to 21600`)
  return seconds
}

function readVerifyCommand(read: InputReader): string[] {
  try {
    return splitCommand(read('verify-command').trim())
  } catch (error) {
    throw new InputError('verify-command', `${(error as Error).message}: write a command such as "go version"`)
  }
}

function readAttestation(read: InputReader, name: string, fallback: string, pattern: RegExp): string {
  const value = read(name).trim() || fallback
  if (!pattern.test(value)) {
    throw new InputError(name, `"${value}" is not a value buildx takes for --${name}: write false, true${name === 'provenance' ? ', mode=min or mode=max' : ' or generator=IMAGE'}`)
  }
  return value
}

function readKeyValues(read: InputReader, name: string): string[] {
  const items = splitLines(read(name))
  for (const item of items) {
    if (!/^[^=\s]+=/.test(item)) throw new InputError(name, `"${item}" is not key=value: write one key=value per line`)
  }
  return items
}

/** `id=value` per line. Messages name the line, never the value. */
function readSecrets(read: InputReader): BuildSecret[] {
  const ids = new Set<string>()
  return read('secrets')
    .split('\n')
    .map((line, i) => ({ line: line.trim(), number: i + 1 }))
    .filter(({ line }) => line !== '' && !line.startsWith('#'))
    .map(({ line, number }) => {
      const eq = line.indexOf('=')
      const id = eq === -1 ? '' : line.slice(0, eq)
      if (eq <= 0 || !/^[A-Za-z0-9_.-]+$/.test(id)) {
        throw new InputError('secrets', `line ${number} is not id=value: write one secret per line as id=value (the id is letters, digits, _ . -)`)
      }
      if (ids.has(id)) throw new InputError('secrets', `secret id "${id}" is given twice: give each secret its own id`)
      ids.add(id)
      return { id, value: line.slice(eq + 1) }
    })
}

/**
 * The repositories, lowercased as docker/metadata-action does (`ghcr.io/${{ github.repository_owner }}/x` for an
 * owner `MyOrg`), with a notice naming each one changed (`notify`: once per run). `required`: every mode but
 * `check` publishes somewhere.
 */
function readImages(read: InputReader, required: boolean, notify = true): string[] {
  const given = splitList(read('images'))
  for (const image of notify ? given : []) {
    const lower = image.toLowerCase()
    if (lower !== image && !image.includes('@') && !image.slice(image.lastIndexOf('/') + 1).includes(':')) {
      core.notice(`images: "${image}" is published as "${lower}": repository names are lowercase`)
    }
  }
  const images = unique(given.map(image => (image.includes('@') || image.slice(image.lastIndexOf('/') + 1).includes(':') ? image : image.toLowerCase())))
  if (images.length === 0 && required) {
    throw new InputError('images', 'is empty: name at least one repository to publish to, e.g. ghcr.io/org/go-build')
  }
  for (const image of images) {
    const problem = validateRepository(image)
    if (problem) throw new InputError('images', `"${image}": ${problem}`)
  }
  return images
}

function readStateRepository(read: InputReader): string {
  const repository = read('state-repository').trim()
  const problem = repository === '' ? undefined : validateRepository(repository)
  if (problem) throw new InputError('state-repository', `"${repository}": ${problem}`)
  return repository
}

function readPlatforms(read: InputReader): Platform[] {
  const raw = splitList(read('platforms'))
  const items = raw.length > 0 ? raw : [...DEFAULT_PLATFORMS]
  const spellings = new Map<string, string>()
  const platforms: Platform[] = []
  for (const item of items) {
    const platform = inputPlatform('platforms', item)
    const key = formatPlatform(platform)
    const earlier = spellings.get(key)
    if (earlier !== undefined) {
      const same = earlier === item ? `"${item}" is given twice` : `"${earlier}" and "${item}" both name ${key}`
      throw new InputError('platforms', `${same}: give each platform once`)
    }
    spellings.set(key, item)
    platforms.push(platform)
  }
  return platforms
}

function readBuildArgs(read: InputReader): BuildArg[] {
  return read('build-args')
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#'))
    .map(line => {
      const eq = line.indexOf('=')
      const name = eq === -1 ? line : line.slice(0, eq)
      if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new InputError('build-args', `"${line}" is not NAME=value: write one NAME=value per line (NAME is letters, digits and _)`)
      }
      return { name, value: line.slice(eq + 1) }
    })
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)]
}
