/**
 * QEMU user emulation for the platforms the runner cannot execute itself: which requested platforms are native,
 * which already have a binfmt_misc handler, and installing only the missing handlers (`qemu` input).
 *
 *   auto   nothing when every platform is native or already registered; otherwise installs only the missing
 *          handlers: from the host's qemu-user-static when it is installed (its /usr/lib/binfmt.d rules and
 *          binaries), else with the binfmt image.
 *   image  `docker run --rm --privileged <binfmt-image> --install <arches>`.
 *   host   mounts binfmt_misc if needed and registers the host's qemu-user-static rules with the F flag.
 *   off    touches nothing and checks nothing.
 */
import * as core from '@actions/core'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import { DEFAULT_TIMEOUT, runTool, type CommandTimeout, type Docker } from '../core/docker.js'
import { formatPlatform, type Platform } from '../core/platform.js'
import { InputError, type InputReader } from '../core/input.js'
import * as log from '../core/log.js'

export const QEMU_MODES = ['auto', 'image', 'host', 'off'] as const
export type QemuMode = (typeof QEMU_MODES)[number]

/**
 * Pinned, never a floating tag: `tonistiigi/binfmt:latest` once shipped a QEMU (9.2) whose emulated programs
 * segfaulted at random on ubuntu-24.04 runners (docker/setup-qemu-action#198, tonistiigi/binfmt#240); the 8.1.5
 * build is the one those reports settled on. And pinned by digest, not by its tag alone: the image runs
 * `--privileged` (root on the runner), so whoever can push that tag must not choose what runs. The digest is the
 * one public repositories pin for `qemu-v8.1.5` (its image labels: version qemu-v8.1.5-45, source revision
 * b7877ff8329dbd8b2827f6fd0321048fff06a70c).
 */
export const DEFAULT_BINFMT_IMAGE = 'tonistiigi/binfmt:qemu-v8.1.5@sha256:2d2918e86e5327d0661f7083d67a95280b0f7be8f77ed79a8418f81d7d90ce6f'

/** Whether an image reference names its content by digest (`name@sha256:…`, a tag before it or not). */
export function pinnedByDigest(image: string): boolean {
  return /@sha256:[0-9a-f]{64}$/.test(image)
}

export const BINFMT_MISC_DIR = '/proc/sys/fs/binfmt_misc'
export const BINFMT_CONF_DIR = '/usr/lib/binfmt.d'

export interface QemuSettings {
  mode: QemuMode
  /** The image `image` mode (and `auto` without a host qemu-user-static) runs. */
  binfmtImage: string
}

export function readQemuSettings(read: InputReader): QemuSettings {
  const raw = read('qemu').trim().toLowerCase() || 'auto'
  if (!(QEMU_MODES as readonly string[]).includes(raw)) {
    throw new InputError('qemu', `"${read('qemu').trim()}" is not a mode: write one of ${QEMU_MODES.join(', ')}`)
  }
  const binfmtImage = read('binfmt-image').trim() || DEFAULT_BINFMT_IMAGE
  if (/\s/.test(binfmtImage)) throw new InputError('binfmt-image', `"${binfmtImage}" is not an image reference`)
  if (binfmtImage.includes('@') && !pinnedByDigest(binfmtImage)) {
    throw new InputError('binfmt-image', `"${binfmtImage}" is not NAME@sha256:DIGEST: a digest is "sha256:" and 64 lowercase hex digits`)
  }
  return { mode: raw as QemuMode, binfmtImage }
}

/** The binfmt handler name's suffix (`qemu-<name>`) QEMU uses for each OCI architecture. */
const QEMU_NAMES: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  '386': 'i386',
  arm64: 'aarch64',
  arm: 'arm',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64le: 'mips64el',
  mips64: 'mips64',
  loong64: 'loongarch64'
}

/** `qemu-aarch64` for linux/arm64: the file name of the handler under /proc/sys/fs/binfmt_misc. */
export function handlerName(platform: Platform): string {
  const name = QEMU_NAMES[platform.architecture]
  if (!name) throw new Error(`no QEMU emulator is known for ${formatPlatform(platform)}`)
  return `qemu-${name}`
}

/** Node's `process.arch` (or `uname -m`) as an OCI architecture. */
export function hostArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    x86_64: 'amd64',
    arm64: 'arm64',
    aarch64: 'arm64',
    ia32: '386',
    i686: '386',
    arm: 'arm',
    armv7l: 'arm',
    ppc64: 'ppc64le',
    ppc64le: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    loongarch64: 'loong64',
    mips64el: 'mips64le'
  }
  return map[arch] ?? arch
}

/** Architectures a host runs without emulation: its own, and 386 on amd64 (x86-64 CPUs run 32-bit code). */
export function nativeArchitectures(hostArch: string): string[] {
  return hostArch === 'amd64' ? ['amd64', '386'] : [hostArch]
}

export interface BinfmtHandler {
  enabled: boolean
  interpreter: string
  flags: string
}

/** Parses one /proc/sys/fs/binfmt_misc/<name> file. */
export function parseHandler(text: string): BinfmtHandler {
  const lines = text.split('\n').map(l => l.trim())
  return {
    enabled: lines[0] === 'enabled',
    interpreter: lines.find(l => l.startsWith('interpreter '))?.slice('interpreter '.length) ?? '',
    flags: lines.find(l => l.startsWith('flags:'))?.slice('flags:'.length).trim() ?? ''
  }
}

/** The handler registered under `dir/<name>`, or undefined when there is none. */
export async function readHandler(dir: string, name: string): Promise<BinfmtHandler | undefined> {
  try {
    return parseHandler(await readFile(path.join(dir, name), 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Whether binfmt_misc as a whole is mounted and enabled (`dir/status`). */
export async function binfmtEnabled(dir: string): Promise<boolean> {
  try {
    return (await readFile(path.join(dir, 'status'), 'utf8')).trim() === 'enabled'
  } catch {
    return false
  }
}

export interface QemuPlan {
  /** Platforms the host runs itself. */
  native: Platform[]
  /** Foreign platforms with an enabled handler already. */
  registered: Platform[]
  /** Foreign platforms without one. */
  missing: Platform[]
}

/** Sorts the requested platforms into native, already emulated, and missing a handler. */
export function planQemu(
  platforms: readonly Platform[],
  hostArch: string,
  handlers: Readonly<Record<string, BinfmtHandler | undefined>>,
  binfmtOn = true
): QemuPlan {
  const native = nativeArchitectures(hostArch)
  const plan: QemuPlan = { native: [], registered: [], missing: [] }
  for (const platform of platforms) {
    if (native.includes(platform.architecture)) plan.native.push(platform)
    else if (binfmtOn && handlers[handlerName(platform)]?.enabled) plan.registered.push(platform)
    else plan.missing.push(platform)
  }
  return plan
}

/** The distinct architectures of some platforms, in order (`--install arm,riscv64`). */
export function architectures(platforms: readonly Platform[]): string[] {
  return [...new Set(platforms.map(p => p.architecture))]
}

/**
 * A binfmt.d rule (`:name:type:offset:magic:mask:interpreter:flags`) with the F (fix-binary) flag: the kernel
 * opens the interpreter when the rule is registered, so it works inside containers that do not have it.
 * The first character is the field separator, as the kernel reads it.
 */
export function withFixBinary(line: string): string {
  const rule = line.trim()
  const sep = rule[0]
  if (!sep) throw new Error('empty binfmt rule')
  const fields = rule.slice(1).split(sep)
  if (fields.length < 6 || fields.length > 7) {
    throw new Error(`not a binfmt rule (:name:type:offset:magic:mask:interpreter:flags): ${rule}`)
  }
  const flags = fields[6] ?? ''
  fields[6] = flags.includes('F') ? flags : `${flags}F`
  return sep + fields.join(sep)
}

/** The rule lines of a binfmt.d file (no comments, no blank lines). */
export function ruleLines(conf: string): string[] {
  return conf
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !l.startsWith('#') && !l.startsWith(';'))
}

/** Where the host's machine-level tools and files are: injectable for tests. */
export interface QemuHost {
  binfmtDir: string
  confDir: string
  hostArch: string
  /** Runs a host command (mount, sudo tee); argv only. */
  exec(command: string, args: string[], input?: string): Promise<void>
  /** Whether this process may write to /proc/sys (root). */
  isRoot: boolean
}

/** The real host; its commands run through the exec wrapper, each bounded by `timeout` (the default bound). */
export function realQemuHost(timeout: CommandTimeout = DEFAULT_TIMEOUT): QemuHost {
  return {
    binfmtDir: BINFMT_MISC_DIR,
    confDir: BINFMT_CONF_DIR,
    hostArch: hostArchitecture(),
    isRoot: process.getuid?.() === 0,
    async exec(command, args, input) {
      // silent: `tee` echoes what it writes, and a child's output is never echoed as it comes (log.ts); the output
      // of a failure is in the error
      await runTool(command, args, { silent: true, ...(input === undefined ? {} : { input }) }, timeout)
    }
  }
}

/** Whether the host's qemu-user-static has a rule and an interpreter for every given platform. */
export async function hostHasQemu(host: QemuHost, platforms: readonly Platform[]): Promise<boolean> {
  for (const platform of platforms) {
    const conf = path.join(host.confDir, `${handlerName(platform)}.conf`)
    let text: string
    try {
      text = await readFile(conf, 'utf8')
    } catch {
      return false
    }
    const rule = ruleLines(text)[0]
    if (!rule) return false
    const interpreter = rule.slice(1).split(rule[0] ?? ':')[5]
    if (!interpreter || !existsSync(interpreter)) return false
  }
  return true
}

async function readHandlers(host: QemuHost, platforms: readonly Platform[]): Promise<Record<string, BinfmtHandler | undefined>> {
  const handlers: Record<string, BinfmtHandler | undefined> = {}
  for (const platform of platforms) {
    if (nativeArchitectures(host.hostArch).includes(platform.architecture)) continue
    const name = handlerName(platform)
    handlers[name] = await readHandler(host.binfmtDir, name)
  }
  return handlers
}

async function writeProc(host: QemuHost, file: string, content: string): Promise<void> {
  if (host.isRoot) {
    await writeFile(file, content)
    return
  }
  // Not root (GitHub-hosted runners): passwordless sudo, without a shell.
  await host.exec('sudo', ['-n', 'tee', file], content)
}

/** `host` mode: registers the host's qemu-user-static rules, with F, for the given platforms. */
export async function registerFromHost(host: QemuHost, platforms: readonly Platform[]): Promise<void> {
  if (!existsSync(path.join(host.binfmtDir, 'register'))) {
    log.info(`mounting binfmt_misc on ${host.binfmtDir}`)
    const args = ['-t', 'binfmt_misc', 'binfmt_misc', host.binfmtDir]
    if (host.isRoot) await host.exec('mount', args)
    else await host.exec('sudo', ['-n', 'mount', ...args])
  }
  for (const platform of platforms) {
    const name = handlerName(platform)
    const conf = path.join(host.confDir, `${name}.conf`)
    let text: string
    try {
      text = await readFile(conf, 'utf8')
    } catch {
      throw new InputError(
        'qemu',
        `host mode needs ${conf} for ${formatPlatform(platform)}, and it is missing: install qemu-user-static on the runner (apt-get install qemu-user-static), or set "qemu: image"`
      )
    }
    const existing = await readHandler(host.binfmtDir, name)
    if (existing) {
      // A disabled (or F-less) leftover: the kernel refuses a second rule with the same name.
      log.info(`replacing the ${existing.enabled ? 'enabled' : 'disabled'} handler ${name}`)
      await writeProc(host, path.join(host.binfmtDir, name), '-1')
    }
    for (const rule of ruleLines(text)) {
      const line = withFixBinary(rule)
      log.info(`registering ${name} for ${formatPlatform(platform)}: ${line}`)
      await writeProc(host, path.join(host.binfmtDir, 'register'), `${line}\n`)
    }
  }
}

/** `image` mode: the binfmt image installs the handlers. */
export async function registerWithImage(docker: Docker, image: string, platforms: readonly Platform[]): Promise<void> {
  const arches = architectures(platforms).join(',')
  if (!pinnedByDigest(image)) {
    core.warning(
      `binfmt-image "${image}" names no digest: the privileged container (root on this runner) runs whatever that tag points at when it is pulled. ` +
        `Pin it as ${image}@sha256:<digest> ("docker buildx imagetools inspect ${image}" prints the digest)`
    )
  }
  log.info(`installing QEMU handlers for ${arches} with ${image}`)
  const result = await docker.run(['run', '--rm', '--privileged', image, '--install', arches], { allowFailure: true })
  if (result.exitCode !== 0) {
    const cause = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')
    throw new InputError(
      'binfmt-image',
      `running ${image} --install ${arches} failed (exit ${result.exitCode}): ${cause}. Point "binfmt-image" at a binfmt image this runner can pull, or set "qemu: host" with qemu-user-static installed`
    )
  }
}

export interface QemuResult {
  /** How the missing handlers were installed (`none` when nothing was missing or mode is off). */
  installedWith: 'none' | 'host' | 'image'
  plan: QemuPlan
  /** The requested platforms that run through QEMU on this runner. */
  emulated: Platform[]
  /** The runner's own architecture (amd64, arm64, …): every other one runs through QEMU. */
  hostArch: string
}

/** The whole QEMU phase: plan, install the missing handlers, verify. */
export async function setUpQemu(
  docker: Docker,
  settings: QemuSettings,
  platforms: readonly Platform[],
  host: QemuHost = realQemuHost()
): Promise<QemuResult> {
  const binfmtOn = await binfmtEnabled(host.binfmtDir)
  const plan = planQemu(platforms, host.hostArch, await readHandlers(host, platforms), binfmtOn)
  const list = (ps: Platform[]): string => ps.map(formatPlatform).join(', ') || 'none'
  log.info(`host architecture ${host.hostArch}; native: ${list(plan.native)}; emulated already: ${list(plan.registered)}; missing a handler: ${list(plan.missing)}`)

  if (settings.mode === 'off') {
    log.info('qemu: off: no handler is installed or checked')
    return { installedWith: 'none', plan, emulated: plan.registered, hostArch: host.hostArch }
  }

  let installedWith: QemuResult['installedWith'] = 'none'
  if (plan.missing.length === 0) {
    log.info(
      plan.registered.length === 0
        ? 'nothing to install: every requested platform runs natively on this runner'
        : 'nothing to install: every foreign platform already has an enabled binfmt handler'
    )
  } else {
    let mode = settings.mode
    if (mode === 'auto') {
      mode = (await hostHasQemu(host, plan.missing)) ? 'host' : 'image'
      log.info(
        mode === 'host'
          ? `qemu: auto: using the host's qemu-user-static for ${list(plan.missing)}`
          : `qemu: auto: no host qemu-user-static for ${list(plan.missing)}; using ${settings.binfmtImage}`
      )
    }
    if (mode === 'host') await registerFromHost(host, plan.missing)
    else await registerWithImage(docker, settings.binfmtImage, plan.missing)
    installedWith = mode === 'host' ? 'host' : 'image'
  }

  const after = await readHandlers(host, platforms)
  const verified = planQemu(platforms, host.hostArch, after, await binfmtEnabled(host.binfmtDir))
  if (verified.missing.length > 0) {
    const names = verified.missing.map(p => `${formatPlatform(p)} (${handlerName(p)})`).join(', ')
    throw new InputError(
      'qemu',
      `no enabled binfmt handler for ${names} after setting up QEMU (${installedWith === 'none' ? settings.mode : installedWith}): ` +
        'set "qemu: host" with qemu-user-static installed on the runner, or "qemu: image" with a "binfmt-image" this runner can pull, or remove the platform'
    )
  }
  return { installedWith, plan, emulated: verified.registered, hostArch: host.hostArch }
}
