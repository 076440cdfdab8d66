/**
 * The emulation advisor: which Dockerfile stages compile under QEMU on this runner, on which line, and the change
 * that makes them cross-compile on the runner's own platform instead (QEMU makes a compile 5–20× slower).
 *
 * Pure: Dockerfile text, build args, target platforms and the runner's architecture in, findings out. A stage is
 * flagged when it is built (reachable from the target stage), runs on an emulated platform for at least one
 * target (no `--platform=$BUILDPLATFORM`, directly or through the stage it is `FROM`), and one of its `RUN`s
 * runs a compiler or build tool: in the command itself, a heredoc, `sh -c`, or a script the Dockerfile copies in
 * from the context (or writes with `COPY <<EOF`) and runs, as far as the files can be read. The phase itself
 * ({@link checkEmulation}) turns the findings into annotations on the Dockerfile's lines.
 *
 * The change advised depends on what the stage hands over. A stage that only hands binaries to the image
 * (`COPY --from=build /out/app /app`) cross-compiles on `$BUILDPLATFORM`. A stage whose whole filesystem becomes the
 * image (`COPY --from=ubi / /`, or its `/usr`, as toolchain images built with dnf or apt do) must not: on
 * `$BUILDPLATFORM` its package installs would put the runner's packages into every target's image. There the advice
 * is to build those platforms natively (`mode: leg` on a native runner, or a build node: nodes.ts), or to move only
 * the compiling steps into a `$BUILDPLATFORM` stage whose binaries are copied in. A platform a build node builds is
 * not checked at all: the node runs it natively.
 */
import * as core from '@actions/core'
import { readFileSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import * as path from 'node:path'
import { DockerfileParser, type Copy, type From, type Instruction, type Run } from 'dockerfile-ast'
import { InputError, readChoice, type InputReader } from '../core/input.js'
import { formatPlatform, parsePlatform, type Platform } from '../core/platform.js'
import { nativeArchitectures } from './qemu.js'
import * as log from '../core/log.js'

export const EMULATION_MODES = ['warn', 'error', 'ignore'] as const
export type EmulationMode = (typeof EMULATION_MODES)[number]

/** Reads the `qemu-compile-check` input. Called from `readSettings`. */
export function readEmulationMode(read: InputReader): EmulationMode {
  return readChoice(read, 'qemu-compile-check', EMULATION_MODES, 'warn')
}

export const ANNOTATION_TITLE = 'Compiles under QEMU'

export interface EmulationRequest {
  /** The Dockerfile's text. */
  dockerfile: string
  /** The Dockerfile's path, as annotations name it (relative to the repository). */
  file: string
  buildArgs: ReadonlyArray<{ name: string; value: string }>
  /** The platforms being built. */
  platforms: readonly Platform[]
  /** The runner's architecture (amd64, arm64, …): every other one runs under QEMU. */
  hostArchitecture: string
  /** `--target` ('' or undefined: the last stage). */
  target?: string
  /** A file of the build context by relative path, or undefined when it is not a readable file. */
  readContextFile?: (relative: string) => string | undefined
}

/** One stage that compiles under QEMU. */
export interface EmulatedCompile {
  file: string
  /** 1-based line of the first compiling `RUN` in the stage. */
  line: number
  /** The stage's name, or `stage N` (BuildKit's numbering from 0). */
  stage: string
  /** 1-based line of the stage's `FROM`. */
  fromLine: number
  /** The target platforms for which the stage runs emulated. */
  platforms: string[]
  /** What compiles, e.g. `go build`, `make (in ./scripts/build.sh)`. */
  tools: string[]
  /** Further lines of the stage that compile. */
  otherLines: number[]
  /** The whole annotation text: the platforms and the change to make. */
  message: string
}

// ---------------------------------------------------------------------------------------------------------------
// Stages

interface Stage {
  index: number
  /** Lower-case `AS` name. */
  name?: string
  /** The alias as written (for messages). */
  alias?: string
  from: From
  /** The stage this one is `FROM`, if any. */
  parent?: Stage
  instructions: Instruction[]
}

type Vars = Readonly<Record<string, string | undefined>>

/** The ARGs BuildKit sets for `FROM` lines. */
const PLATFORM_ARGS = ['BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT', 'TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT']

/** `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}` as BuildKit expands them in `FROM`. */
export function expandVariables(text: string, vars: Vars): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_match, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
      const value = vars[(braced ?? bare)!]
      const set = op?.startsWith(':') ? !!value : value !== undefined
      if (op?.endsWith('-')) return set ? value! : (word ?? '')
      if (op?.endsWith('+')) return set ? (word ?? '') : ''
      return value ?? ''
    }
  )
}

function lineOf(instruction: Instruction): number {
  return instruction.getRange().start.line + 1
}

function readStages(text: string): { globals: Instruction[]; stages: Stage[] } {
  const dockerfile = DockerfileParser.parse(text)
  const globals: Instruction[] = []
  const stages: Stage[] = []
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = instruction as From
      const alias = from.getBuildStage() ?? undefined
      stages.push({ index: stages.length, name: alias?.toLowerCase(), alias, from, instructions: [] })
    } else if (stages.length === 0) globals.push(instruction)
    else stages.at(-1)!.instructions.push(instruction)
  }
  return { globals, stages }
}

/** The `ARG`s before the first `FROM`, with their defaults overridden by build args. */
function globalArgs(globals: readonly Instruction[], buildArgs: EmulationRequest['buildArgs']): Record<string, string | undefined> {
  // the platform ARGs are known per platform only: a default that names one keeps the reference
  const vars: Record<string, string | undefined> = Object.fromEntries(PLATFORM_ARGS.map(name => [name, `\${${name}}`]))
  for (const instruction of globals) {
    if (instruction.getKeyword() !== 'ARG') continue
    for (const word of instruction.getArguments().map(a => a.getValue())) {
      const eq = word.indexOf('=')
      const name = eq === -1 ? word : word.slice(0, eq)
      const given = buildArgs.find(b => b.name === name)
      vars[name] = given ? given.value : eq === -1 ? undefined : expandVariables(unquote(word.slice(eq + 1)), vars)
    }
  }
  return vars
}

function unquote(word: string): string {
  return word.replace(/^"(.*)"$/s, '$1').replace(/^'(.*)'$/s, '$1')
}

/** The stage a name or index refers to, looking only at stages before `before`. */
function stageNamed(stages: readonly Stage[], ref: string, before: number): Stage | undefined {
  const lower = ref.toLowerCase()
  if (/^\d+$/.test(lower)) return stages[Number(lower)]
  return stages.slice(0, before).find(s => s.name === lower)
}

/** The stages a stage needs: the one it is FROM, `COPY --from`, `RUN --mount=from=`. */
function dependencies(stage: Stage, stages: readonly Stage[], vars: Vars): Stage[] {
  const refs: string[] = []
  for (const instruction of stage.instructions) {
    const keyword = instruction.getKeyword()
    if (keyword === 'COPY' || keyword === 'ADD') {
      const from = (instruction as Copy).getFromFlag?.()?.getValue()
      if (from) refs.push(expandVariables(from, vars))
    }
    if (keyword === 'RUN') {
      for (const flag of (instruction as Run).getFlags()) {
        if (flag.getName() !== 'mount') continue
        const from = /(?:^|,)from=([^,]+)/.exec(flag.getValue() ?? '')?.[1]
        if (from) refs.push(expandVariables(from, vars))
      }
    }
  }
  const found = refs.map(r => stageNamed(stages, r, stage.index)).filter((s): s is Stage => !!s)
  return stage.parent ? [stage.parent, ...found] : found
}

/** Directories whose copy carries most of a stage's filesystem (its packages): `/usr`, `/etc`, `/lib`, … */
const SYSTEM_DIRS = new Set(['/usr', '/etc', '/lib', '/lib64', '/bin', '/sbin', '/var'])

/** A `COPY --from` that takes a stage's whole filesystem (or most of it) into another. */
interface RootfsCopy {
  /** 1-based line of the COPY. */
  line: number
  /** The COPY as written, e.g. `COPY --from=ubi / /`. */
  text: string
}

/** Whether a COPY source is the whole filesystem or a system directory of it (`/`, `/.`, `/*`, `/usr`, `/etc/`). */
function copiesFilesystem(source: string): boolean {
  if (!source.startsWith('/')) return false
  const normalized = path.posix.normalize(source).replace(/\/(\*|\.)?$/, '') || '/'
  return normalized === '/' || normalized === '/*' || SYSTEM_DIRS.has(normalized)
}

/**
 * The stages whose filesystem becomes (most of) another built stage's: each one a `COPY --from` takes `/` or a system
 * directory from, and the stages it is built `FROM` (their files are in it too).
 */
function rootfsStages(stages: readonly Stage[], built: ReadonlySet<Stage>, vars: Vars, lines: readonly string[]): Map<Stage, RootfsCopy> {
  const found = new Map<Stage, RootfsCopy>()
  for (const stage of stages) {
    if (!built.has(stage)) continue
    for (const instruction of stage.instructions) {
      if (instruction.getKeyword() !== 'COPY') continue
      const copy = instruction as Copy
      const from = copy.getFromFlag()?.getValue()
      const source = from ? stageNamed(stages, expandVariables(from, vars), stage.index) : undefined
      if (!source) continue
      const words = copy.getArguments().map(a => a.getValue())
      const argv = words.length > 0 && words[0]!.startsWith('[') ? jsonWords(copy.getArgumentsContent() ?? '') : words
      if (!argv.slice(0, -1).some(copiesFilesystem)) continue
      const line = lineOf(instruction)
      const record = { line, text: (lines[line - 1] ?? '').trim() }
      for (let s: Stage | undefined = source; s; s = s.parent) if (!found.has(s)) found.set(s, record)
    }
  }
  return found
}

/** The stages BuildKit builds for the target: the target stage and everything it needs. */
function builtStages(stages: readonly Stage[], root: Stage | undefined, vars: Vars): Set<Stage> {
  const built = new Set<Stage>()
  const visit = (stage: Stage): void => {
    if (built.has(stage)) return
    built.add(stage)
    for (const dependency of dependencies(stage, stages, vars)) visit(dependency)
  }
  if (root) visit(root)
  return built
}

/** The platform a stage's steps run on when building for `target`. */
function runPlatform(stage: Stage, target: Platform, hostArch: string, vars: Vars): Platform {
  const flag = stage.from.getPlatformFlag()?.getValue()
  if (flag) {
    const platformVars: Vars = {
      ...vars,
      BUILDPLATFORM: `linux/${hostArch}`,
      BUILDOS: 'linux',
      BUILDARCH: hostArch,
      BUILDVARIANT: '',
      TARGETPLATFORM: formatPlatform(target),
      TARGETOS: target.os,
      TARGETARCH: target.architecture,
      TARGETVARIANT: target.variant ?? ''
    }
    try {
      return parsePlatform(expandVariables(expandVariables(flag, platformVars), platformVars).replace(/\/$/, ''))
    } catch {
      return target
    }
  }
  return stage.parent ? runPlatform(stage.parent, target, hostArch, vars) : target
}

// ---------------------------------------------------------------------------------------------------------------
// Shell commands

/** A compiler or build tool found in a script, and where. */
interface Compile {
  tool: string
  family: 'go' | 'cargo' | 'c' | 'node' | 'other'
}

const C_COMPILERS = /^(gcc|cc|c\+\+|g\+\+|clang|clang\+\+|clang-\d+|gcc-\d+|g\+\+-\d+|[a-z0-9_]+-linux-gnu\w*-(gcc|g\+\+))$/
const C_BUILD_TOOLS = new Set(['make', 'gmake', 'cmake', 'ninja', 'meson', 'scons', 'configure', 'autoreconf'])
const WRAPPERS = new Set(['sudo', 'env', 'time', 'nice', 'nohup', 'exec', 'eval', '!', 'then', 'do', 'else', 'if', 'while', 'until', 'elif'])
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'source', '.'])
const NATIVE_TOOLCHAIN = /(?:^|[\s=])(build-essential|build-base|g\+\+|gcc|clang|node-gyp)(?=$|[\s;&|])/m

/** Splits shell text into simple commands (on `&&`, `||`, `;`, `|`, `&`, newlines, subshells); comments dropped. */
export function simpleCommands(script: string): string[][] {
  const commands: string[][] = []
  for (const line of script.replace(/\\\r?\n/g, ' ').split('\n')) {
    const text = line.replace(/(^|\s)#.*$/, '$1')
    for (const part of text.split(/&&|\|\||[;|&(){}`]|\$\(/)) {
      const words = part.trim().split(/\s+/).filter(w => w !== '')
      if (words.length > 0) commands.push(words)
    }
  }
  return commands
}

/** The command word after assignments and wrappers (`CGO_ENABLED=0 env -i sudo go build` → go build …). */
function commandWords(words: readonly string[]): string[] {
  let i = 0
  while (i < words.length) {
    const word = words[i]!
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word) || WRAPPERS.has(word) || (i > 0 && WRAPPERS.has(words[i - 1]!) && word.startsWith('-'))) i++
    else break
  }
  return words.slice(i).map(w => w.replace(/^["']|["']$/g, ''))
}

/** The first argument that is not a flag. */
function subcommand(args: readonly string[]): string | undefined {
  return args.find(a => !a.startsWith('-'))
}

/** Whether a command compiles (the tool and its family), ignoring scripts. */
function classify(words: readonly string[], nativeToolchain: boolean): Compile | undefined {
  const [program, ...args] = words
  if (!program) return undefined
  const name = path.posix.basename(program)
  const sub = subcommand(args)
  if (name === 'go' && sub && ['build', 'install', 'test', 'run'].includes(sub)) return { tool: `go ${sub}`, family: 'go' }
  if (name === 'cargo' && sub && ['build', 'install', 'test', 'run', 'rustc', 'b', 't'].includes(sub)) return { tool: `cargo ${sub}`, family: 'cargo' }
  if (name === 'rustc') return { tool: 'rustc', family: 'cargo' }
  if (C_COMPILERS.test(name)) return { tool: name, family: 'c' }
  if (C_BUILD_TOOLS.has(name)) return { tool: name === 'configure' ? './configure' : name, family: 'c' }
  if (name === 'tinygo' && sub === 'build') return { tool: 'tinygo build', family: 'other' }
  if (name === 'zig' && sub && ['build', 'build-exe', 'cc', 'c++'].includes(sub)) return { tool: `zig ${sub}`, family: 'other' }
  if (name === 'bazel' || name === 'bazelisk') return sub && ['build', 'test', 'run'].includes(sub) ? { tool: `bazel ${sub}`, family: 'other' } : undefined
  if (name === 'node-gyp' || (name === 'npm' && sub === 'rebuild')) return { tool: name === 'npm' ? 'npm rebuild' : 'node-gyp', family: 'node' }
  const installs = (name === 'npm' && sub && ['ci', 'install', 'i'].includes(sub)) || (name === 'yarn' && (!sub || sub === 'install')) || (name === 'pnpm' && sub && ['install', 'i'].includes(sub))
  if (installs && nativeToolchain) return { tool: `${name} ${sub ?? 'install'} (native modules)`, family: 'node' }
  return undefined
}

/** What a stage's `RUN`s can read: the files copied in (context → path) and `COPY <<EOF` files. */
interface StageFiles {
  copies: Array<{ sources: string[]; dest: string; inline?: string }>
  workdir: string
}

/** The content of an absolute path in the stage, when it was copied in from the context or written inline. */
function readStageFile(files: StageFiles, target: string, read: EmulationRequest['readContextFile']): string | undefined {
  for (const copy of [...files.copies].reverse()) {
    if (copy.inline !== undefined) {
      if (copy.dest === target) return copy.inline
      continue
    }
    for (const source of copy.sources) {
      const src = path.posix.normalize(source.replace(/^\/+/, '')).replace(/\/$/, '')
      const candidates: string[] = []
      if (target === copy.dest) candidates.push(src)
      const dir = copy.dest.replace(/\/$/, '')
      if (target.startsWith(`${dir}/`)) {
        const rel = target.slice(dir.length + 1)
        candidates.push(src === '.' ? rel : `${src}/${rel}`)
        if (rel === path.posix.basename(src)) candidates.push(src)
      }
      for (const candidate of candidates) {
        const content = read?.(candidate)
        if (content !== undefined) return content
      }
    }
  }
  return undefined
}

const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

/** The script a command runs, when it is a file the stage has: `./build.sh`, `sh scripts/x.sh`, `build.sh` on PATH. */
function scriptRun(words: readonly string[], files: StageFiles, read: EmulationRequest['readContextFile']): { name: string; text: string } | undefined {
  const [program, ...args] = words
  if (!program) return undefined
  const script = SHELLS.has(path.posix.basename(program)) ? subcommand(args) : program
  if (!script || (args.includes('-c') && SHELLS.has(path.posix.basename(program)))) return undefined
  const candidates = script.includes('/') ? [path.posix.resolve(files.workdir, script)] : [path.posix.resolve(files.workdir, script), ...PATH_DIRS.map(d => `${d}/${script}`)]
  for (const candidate of candidates) {
    const text = readStageFile(files, candidate, read)
    if (text !== undefined) return { name: script, text }
  }
  return undefined
}

/** The `-c` string of `sh -c '…'` (quotes dropped: the separators inside are split on all the same). */
function shellString(words: readonly string[]): string | undefined {
  const [program, ...args] = words
  if (!program || !SHELLS.has(path.posix.basename(program)) || !args.includes('-c')) return undefined
  return args
    .slice(args.indexOf('-c') + 1)
    .join(' ')
    .replace(/^["']|["']$/g, '')
}

/** The compiles in a shell script, following scripts it runs (up to three deep). */
function findCompiles(script: string, files: StageFiles, read: EmulationRequest['readContextFile'], nativeToolchain: boolean, depth = 0): Compile[] {
  const found: Compile[] = []
  for (const words of simpleCommands(script)) {
    const command = commandWords(words)
    const direct = classify(command, nativeToolchain)
    if (direct) {
      found.push(direct)
      continue
    }
    const inner = shellString(command)
    if (inner !== undefined && depth < 3) {
      found.push(...findCompiles(inner, files, read, nativeToolchain, depth + 1))
      continue
    }
    const run = depth < 3 ? scriptRun(command, files, read) : undefined
    if (run) {
      const inScript = findCompiles(run.text, files, read, nativeToolchain || NATIVE_TOOLCHAIN.test(run.text), depth + 1)
      found.push(...inScript.map(c => ({ ...c, tool: `${c.tool} (in ${run.name})` })))
    }
  }
  return found
}

/** The shell text a `RUN` runs: the command line, its heredocs, or the string of an exec-form `sh -c`. */
function runScript(run: Run, lines: readonly string[]): string {
  const content = run.getArgumentsContent() ?? ''
  if (content.trimStart().startsWith('[')) {
    try {
      const argv = JSON.parse(content) as unknown
      if (Array.isArray(argv)) {
        const words = argv.map(String)
        return shellString(words) ?? words.join(' ')
      }
    } catch {
      // not JSON: BuildKit runs it as a shell command
    }
  }
  const heredocs = run.getHeredocs()
  if (heredocs.length === 0) return content
  const bodies = heredocs.map(h => {
    const range = h.getContentRange()
    return range ? lines.slice(range.start.line, range.end.line + 1).join('\n') : ''
  })
  return [content.split('\n')[0]!.replace(/<<-?["']?\w+["']?/g, ''), ...bodies].join('\n')
}

/** Follows the stage's `WORKDIR`s and context `COPY`/`ADD`s up to (not including) `until`. */
function stageFiles(stage: Stage, until: Instruction | undefined, lines: readonly string[]): StageFiles {
  const inherited = stage.parent ? stageFiles(stage.parent, undefined, lines) : { copies: [], workdir: '/' }
  const files: StageFiles = { copies: [...inherited.copies], workdir: inherited.workdir }
  for (const instruction of stage.instructions) {
    if (instruction === until) break
    const keyword = instruction.getKeyword()
    if (keyword === 'WORKDIR') {
      files.workdir = path.posix.resolve(files.workdir, instruction.getArgumentsContent()?.trim() ?? '.')
    } else if (keyword === 'COPY' || keyword === 'ADD') {
      const copy = instruction as Copy
      if (copy.getFromFlag()) continue
      const heredocs = copy.getHeredocs()
      const words = copy.getArguments().map(a => a.getValue())
      if (heredocs.length > 0) {
        const dest = words.find((w, i) => i > 0 && !w.startsWith('<<')) ?? ''
        const range = heredocs[0]!.getContentRange()
        const inline = range ? lines.slice(range.start.line, range.end.line + 1).join('\n') : ''
        files.copies.push({ sources: [], dest: path.posix.resolve(files.workdir, dest), inline })
        continue
      }
      const argv = words.length > 0 && words[0]!.startsWith('[') ? jsonWords(copy.getArgumentsContent() ?? '') : words
      if (argv.length < 2) continue
      const dest = argv.at(-1)!
      const resolved = path.posix.resolve(files.workdir, dest)
      files.copies.push({ sources: argv.slice(0, -1), dest: dest.endsWith('/') ? `${resolved}/` : resolved })
    }
  }
  return files
}

function jsonWords(content: string): string[] {
  try {
    const parsed = JSON.parse(content) as unknown
    return Array.isArray(parsed) ? parsed.map(String) : []
  } catch {
    return []
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Advice

/** Every built stage that compiles under QEMU, with the change that moves its compile to the runner. */
export function adviseEmulation(request: EmulationRequest): EmulatedCompile[] {
  const { globals, stages } = readStages(request.dockerfile)
  const lines = request.dockerfile.split('\n')
  const vars = globalArgs(globals, request.buildArgs)
  for (const stage of stages) {
    const image = expandVariables(stage.from.getImage() ?? '', vars)
    stage.parent = stageNamed(stages, image, stage.index)
  }
  const target = (request.target && stages.find(s => s.name === request.target!.toLowerCase())) || stages.at(-1)
  const built = builtStages(stages, target, vars)
  const imageStages = new Set<Stage>()
  for (let s = target; s; s = s.parent) imageStages.add(s)
  const native = nativeArchitectures(request.hostArchitecture)
  const rootfs = rootfsStages(stages, built, vars, lines)

  const findings: EmulatedCompile[] = []
  for (const stage of stages) {
    if (!built.has(stage)) continue
    const emulated = request.platforms.filter(p => !native.includes(runPlatform(stage, p, request.hostArchitecture, vars).architecture))
    if (emulated.length === 0) continue
    const stageText = [stage, ...ancestors(stage)].flatMap(s => s.instructions.map(i => i.getRawArgumentsContent() ?? '')).join('\n')
    const nativeToolchain = NATIVE_TOOLCHAIN.test(stageText)
    const compiles: Array<{ line: number; found: Compile[] }> = []
    for (const instruction of stage.instructions) {
      if (instruction.getKeyword() !== 'RUN') continue
      const found = findCompiles(runScript(instruction as Run, lines), stageFiles(stage, instruction, lines), request.readContextFile, nativeToolchain)
      if (found.length > 0) compiles.push({ line: lineOf(instruction), found })
    }
    const [first, ...others] = compiles
    if (!first) continue
    const all = compiles.flatMap(c => c.found)
    const finding: Omit<EmulatedCompile, 'message'> = {
      file: request.file,
      line: first.line,
      stage: stage.alias ?? `stage ${stage.index}`,
      fromLine: lineOf(stage.from),
      platforms: emulated.map(formatPlatform),
      tools: [...new Set(all.map(c => c.tool))],
      otherLines: others.map(c => c.line)
    }
    const cgo = /CGO_ENABLED=1/.test(stageText)
    const whole = imageStages.has(stage) ? undefined : rootfs.get(stage)
    const message = whole ? rootfsAdvice(finding, whole, all, cgo, request.hostArchitecture) : adviceMessage(finding, stage, imageStages.has(stage), all, cgo)
    findings.push({ ...finding, message })
  }
  return findings
}

function ancestors(stage: Stage): Stage[] {
  return stage.parent ? [stage.parent, ...ancestors(stage.parent)] : []
}

/** `a, b and c`. */
function listWords(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`
}

/** What to change for each kind of compile, once the stage runs on $BUILDPLATFORM. */
function crossCompileSteps(families: ReadonlySet<Compile['family']>, cgo: boolean, arm32: boolean): string[] {
  const steps: string[] = []
  if (families.has('go')) {
    steps.push(
      `declare ARG TARGETOS TARGETARCH${arm32 ? ' TARGETVARIANT' : ''} in the stage and build with GOOS=$TARGETOS GOARCH=$TARGETARCH${arm32 ? ' GOARM=${TARGETVARIANT#v}' : ''}` +
        (cgo || families.has('c') ? '; with cgo also set CC to a cross compiler for the target (e.g. CC=aarch64-linux-gnu-gcc, or CC="clang --target=aarch64-linux-gnu" with a target sysroot)' : ' (CGO_ENABLED=0)')
    )
  }
  if (families.has('cargo')) steps.push('build with cargo build --target <the target triple, e.g. aarch64-unknown-linux-gnu for arm64> and a cross linker (CARGO_TARGET_<TRIPLE>_LINKER)')
  if (families.has('c') && !families.has('go')) {
    steps.push('compile with a cross toolchain for $TARGETARCH: CC/CXX set to <triple>-gcc (Debian\'s gcc-aarch64-linux-gnu, …) or clang --target=<triple> (for make pass CC/CXX; for cmake a toolchain file or -DCMAKE_C_COMPILER)')
  }
  if (families.has('node')) steps.push('install with npm_config_arch=$TARGETARCH so native modules are fetched prebuilt for the target (modules without prebuilt binaries need a cross C++ compiler, CXX=<triple>-g++)')
  if (families.has('other')) steps.push('point the tool at the target ($TARGETOS/$TARGETARCH) instead of the machine it runs on')
  return steps
}

/** The first sentence of every finding: which stage runs what under QEMU for which platforms. */
function findingHead(finding: Omit<EmulatedCompile, 'message'>): string {
  const where = finding.stage.startsWith('stage ') ? `The stage on line ${finding.fromLine}` : `Stage "${finding.stage}"`
  const also = finding.otherLines.length ? ` (also on line${finding.otherLines.length > 1 ? 's' : ''} ${finding.otherLines.join(', ')})` : ''
  return `${where} runs ${listWords(finding.tools)}${also} under QEMU for ${listWords(finding.platforms)}, typically 5–20× slower than on the runner's own CPU.`
}

/** GitHub's hosted runner of an architecture, where there is one. */
const NATIVE_RUNNERS: Readonly<Record<string, string>> = { amd64: 'ubuntu-24.04', arm64: 'ubuntu-24.04-arm' }

/**
 * The advice for a stage whose whole filesystem becomes the image: not `$BUILDPLATFORM` (its packages would be
 * the runner's), but native legs, or only the compiling steps moved into a cross-compiling stage.
 */
function rootfsAdvice(finding: Omit<EmulatedCompile, 'message'>, copy: RootfsCopy, compiles: readonly Compile[], cgo: boolean, hostArch: string): string {
  const platforms = finding.platforms.map(parsePlatform)
  const hosted = platforms.filter(p => NATIVE_RUNNERS[p.architecture]).map(p => `${NATIVE_RUNNERS[p.architecture]} for ${formatPlatform(p)}`)
  const selfHosted = platforms.filter(p => !NATIVE_RUNNERS[p.architecture]).map(formatPlatform)
  const runners = [...hosted, ...(selfHosted.length ? [`a self-hosted runner for ${listWords(selfHosted)}`] : [])]
  const steps = crossCompileSteps(new Set(compiles.map(c => c.family)), cgo, finding.platforms.some(p => p.startsWith('linux/arm/')))
  return (
    `${findingHead(finding)} Its filesystem becomes the image (${copy.text} on line ${copy.line}), so do not move it to FROM --platform=$BUILDPLATFORM: ` +
    `its package installs would put the runner's linux/${hostArch} packages into the ${listWords(finding.platforms)} image. ` +
    `Build ${finding.platforms.length > 1 ? 'those platforms' : 'that platform'} natively instead: mode: leg on a native runner (${runners.join('; ')}) and mode: merge, or a build node of that architecture (input "nodes"); ` +
    `or move only the compiling steps into a FROM --platform=$BUILDPLATFORM stage that cross-compiles (${steps.join('; ')}) and COPY --from it just the binaries into this stage.`
  )
}

function adviceMessage(finding: Omit<EmulatedCompile, 'message'>, stage: Stage, isImage: boolean, compiles: readonly Compile[], cgo: boolean): string {
  const image = stage.from.getImage() ?? 'IMAGE'
  const head = findingHead(finding)
  const steps = crossCompileSteps(new Set(compiles.map(c => c.family)), cgo, finding.platforms.some(p => p.startsWith('linux/arm/')))
  const name = stage.alias ?? 'build'
  if (isImage) {
    return `${head} This stage is the image itself, so move the compile into a build stage: FROM --platform=$BUILDPLATFORM ${image} AS build, ${steps.join('; ')}; then COPY --from=build the results into this stage.`
  }
  return `${head} Cross-compile on the runner instead: change line ${finding.fromLine} to FROM --platform=$BUILDPLATFORM ${image} AS ${name}, ${steps.join('; ')}; the COPY --from=${name} into the target stage stays as it is.`
}

// ---------------------------------------------------------------------------------------------------------------
// The phase

/** A build context's file by relative path, when it is a regular file inside the context (scripts are small). */
export function contextFileReader(context: string): (relative: string) => string | undefined {
  const root = path.resolve(context)
  return relative => {
    const full = path.resolve(root, relative)
    if (!full.startsWith(`${root}${path.sep}`)) return undefined
    try {
      const stat = statSync(full)
      return stat.isFile() && stat.size <= 1024 * 1024 ? readFileSync(full, 'utf8') : undefined
    } catch {
      return undefined
    }
  }
}

export interface EmulationCheck {
  mode: EmulationMode
  file: string
  context: string
  buildArgs: EmulationRequest['buildArgs']
  platforms: readonly Platform[]
  hostArchitecture: string
  target?: string
}

/**
 * Annotates each stage that compiles under QEMU on its Dockerfile line (`::warning file=…,line=…,title=Compiles
 * under QEMU::…`); with `qemu-compile-check: error` the annotations are errors and the run stops before building.
 */
export async function checkEmulation(check: EmulationCheck): Promise<EmulatedCompile[]> {
  if (check.mode === 'ignore') return []
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
  const file = path.relative(workspace, path.resolve(check.file)).split(path.sep).join('/')
  const findings = adviseEmulation({
    dockerfile: await readFile(check.file, 'utf8'),
    file,
    buildArgs: check.buildArgs,
    platforms: check.platforms,
    hostArchitecture: check.hostArchitecture,
    target: check.target,
    readContextFile: contextFileReader(check.context)
  })
  for (const finding of findings) {
    const properties = { title: ANNOTATION_TITLE, file: finding.file, startLine: finding.line }
    if (check.mode === 'error') core.error(finding.message, properties)
    else core.warning(finding.message, properties)
  }
  if (findings.length === 0) log.info(`no stage of ${file} compiles under QEMU`)
  if (findings.length > 0 && check.mode === 'error') {
    const where = findings.map(f => `line ${f.line} (stage ${f.stage})`).join(', ')
    throw new InputError(
      'qemu-compile-check',
      `is error and ${file} compiles under QEMU at ${where}, so nothing was built: cross-compile on $BUILDPLATFORM as the annotations say, or set "qemu-compile-check: warn"`
    )
  }
  return findings
}
