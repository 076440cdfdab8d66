/**
 * What the runner hands a step stays with the action, on both runner paths, from one run each:
 *
 * - nothing a build or the verify command prints can issue a workflow command, read the way the runner reads a
 *   step's output (support/runner-commands.ts: a line also ends at a lone `\r`, .NET's white space, U+0085
 *   included, is trimmed before `::`, the legacy `##[name]` counts anywhere in a line, `stop-commands` turns
 *   commands off); and the action's own commands (its masks, its log groups) still take effect around that output;
 * - no child (docker, buildx and the credential helpers docker runs, git) gets the runner's tokens, the services
 *   they open or the files that steer later steps, except the build that uses the gha cache, which gets the cache's
 *   share in its environment. `docker` and `git` are observed through wrappers first on PATH that record their argv
 *   and environment, then run the real programs.
 */
import { beforeAll, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import type { ActionRun, StepResult } from '../../scripts/run-action.mjs'
import { BUILDX_PLUGIN_ARGS } from '../../src/core/docker.js'
import { BASE_IMAGE, expectSucceeded, freshRepository, MINUTES, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'
import { readAsRunner, type RunnerReading } from './support/runner-commands.js'

const execFileAsync = promisify(execFile)

beforeAll(requireEnvironment, MINUTES)

/**
 * What a pull request's Dockerfile or image can print, each line marked INJECTED: commands after a lone `\r` (in
 * BuildKit's progress a step's output follows `#N 0.123 `, so only a line break the runner sees puts `::` first),
 * after U+0085, plainly, in the legacy form, a line shaped like the close of a fence, and last a `stop-commands` of
 * its own, which would turn off every command the action writes after it.
 */
const INJECTED_LINES = [
  'x\r::save-state name=dockerConfig::/tmp/INJECTED-state',
  '\u0085::add-mask::INJECTED-mask',
  'x\r\u0085::set-output name=digest::INJECTED-output',
  '::warning::INJECTED-annotation',
  'step ##[save-state name=builder]INJECTED-legacy',
  '::0123456789abcdef0123456789abcdef::',
  'x\r::error title=INJECTED::after a forged close',
  'x\r::stop-commands::INJECTEDSTOP'
]

/** The commands the action writes itself: masks, log groups, annotations, and the fences around output. */
const OWN_COMMANDS = new Set(['add-mask', 'group', 'endgroup', 'warning', 'error', 'notice', 'debug', 'stop-commands'])

/** The commands the runner acted on that the action did not write (a fence's own close is one of its own). */
function foreignCommands(reading: RunnerReading): string[] {
  const tokens = new Set(reading.processed.filter(c => c.name === 'stop-commands').map(c => c.data.toLowerCase()))
  return reading.processed.filter(c => c.line.includes('INJECTED') || !(OWN_COMMANDS.has(c.name.toLowerCase()) || tokens.has(c.name.toLowerCase()))).map(c => c.line)
}

/** The `::group::` / `::endgroup::` lines the action wrote (each on a line of its own). */
function ownGroupLines(step: StepResult): string[] {
  return step.stdout.split('\n').filter(l => /^::(end)?group::/.test(l) && !l.includes('INJECTED'))
}

/**
 * One command a wrapper saw: the name of the process that started it (the action's node: `MainThread`; buildx:
 * `docker-buildx`), its argv and its environment.
 */
interface ChildCall {
  parent: string
  argv: string
  env: Map<string, string>
}

/**
 * A directory to put first on PATH with `docker` and `git` wrappers, and a DOCKER_CONFIG whose buildx plugin is a
 * wrapper of `buildx` (the path's own, which the action runs standalone, and docker runs as its plugin): each records
 * the name of the program that started it, its argv and its environment in a file of its own under `calls`, then
 * runs the real program. buildx records only what it is started for standalone (`buildx ARGS`): a command docker
 * runs it for is the docker command the docker wrapper recorded, and docker's check of its plugins is neither.
 */
async function observingWrappers(pathEnv: Record<string, string>): Promise<{ bin: string; calls: string; dockerConfig: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-children-'))
  const bin = path.join(dir, 'bin')
  const calls = path.join(dir, 'calls')
  const dockerConfig = path.join(dir, 'docker-config')
  await mkdir(bin)
  await mkdir(calls)
  await mkdir(path.join(dockerConfig, 'cli-plugins'), { recursive: true })
  const record = (program: string, args: string): string => `f=$(mktemp "${calls}/${program}-XXXXXX"); { printf '%s\\t%s\\n' "$(cat /proc/$PPID/comm)" "${program} ${args}"; env -0; } > "$f"`
  for (const program of ['docker', 'git']) {
    const real = (await execFileAsync('sh', ['-c', `command -v ${program}`])).stdout.trim()
    await writeFile(path.join(bin, program), ['#!/bin/sh', record(program, '$*'), `exec "${real}" "$@"`, ''].join('\n'))
    await chmod(path.join(bin, program), 0o755)
  }
  // the path's buildx: the plugin docker runs with the path's DOCKER_CONFIG
  const asked = await execFileAsync('docker', BUILDX_PLUGIN_ARGS, { env: { ...process.env, ...pathEnv } })
  const buildx = asked.stdout.trim()
  if (!path.isAbsolute(buildx)) throw new Error(`docker names no buildx plugin (${asked.stdout}${asked.stderr})`)
  const plugin = path.join(dockerConfig, 'cli-plugins', 'docker-buildx')
  await writeFile(
    plugin,
    [
      '#!/bin/sh',
      // run by docker as its plugin (docker sets the variable), the call is docker's, which the docker wrapper saw
      'if [ -z "$DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND" ] && [ "$1" != docker-cli-plugin-metadata ]; then',
      `  ${record('buildx', '$*')}`,
      'fi',
      `exec "${buildx}" "$@"`,
      ''
    ].join('\n')
  )
  await chmod(plugin, 0o755)
  return { bin, calls, dockerConfig }
}

async function recordedCalls(dir: string): Promise<ChildCall[]> {
  const calls: ChildCall[] = []
  for (const file of await readdir(dir)) {
    const text = await readFile(path.join(dir, file), 'utf8')
    const newline = text.indexOf('\n')
    const env = new Map(
      text
        .slice(newline + 1)
        .split('\0')
        .filter(entry => entry.includes('='))
        .map(entry => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] as [string, string])
    )
    const [parent = '', argv = ''] = text.slice(0, newline).split('\t')
    calls.push({ parent, argv, env })
  }
  return calls
}

/** The command files the local runner (run-action.mjs) gives every step, as the runner does. */
const COMMAND_FILES = ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']

/**
 * A runtime token shaped as the runner's (a JWT whose `ac` claim lists the cache scopes, which BuildKit's gha cache
 * reads unverified), its signature the marker.
 */
function runnerToken(marker: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const claims = { ac: JSON.stringify([{ Scope: 'refs/heads/main', Permission: 3 }]), nbf: Math.floor(Date.now() / 1000) - 60, exp: Math.floor(Date.now() / 1000) + 3600 }
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${Buffer.from(marker).toString('base64url')}`
}

/** The share buildx reads for a gha cache. */
const GHA_SHARE = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_CACHE_URL', 'ACTIONS_RESULTS_URL']

describeEachPath('what the runner hands the step', builderPath => {
  let run: ActionRun
  let calls: ChildCall[]
  let secret: string
  /** A marker in the value of each of the runner's variables. */
  const marker = `runner-access-${Math.random().toString(36).slice(2, 10)}`
  let token: string
  /** The runner's variables this run hands the step that grant access: its tokens, services and command files. */
  let runnerAccess: string[]

  beforeAll(async () => {
    const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-commands-'))
    // a line of its own makes the RUN step new, so it runs (and prints) on the engine's shared build cache too
    const nonce = `run ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
    await writeFile(path.join(context, 'injected.txt'), `${nonce}\n${INJECTED_LINES.join('\n')}\n`)
    await writeFile(
      path.join(context, 'Dockerfile'),
      ['ARG BASE_IMAGE', 'FROM ${BASE_IMAGE}', 'COPY injected.txt /injected.txt', 'RUN --mount=type=secret,id=token cat /injected.txt /run/secrets/token', ''].join('\n')
    )
    secret = `fence-secret-${Math.random().toString(36).slice(2, 12)}`
    const wrappers = await observingWrappers(await builderPath.env())
    // nothing listens on port 9: the gha cache's import fails (a warning) and its export is ignore-error
    const unreachable = 'http://127.0.0.1:9'
    token = runnerToken(marker)
    const runner = {
      ACTIONS_RUNTIME_TOKEN: token,
      ACTIONS_RUNTIME_URL: `${unreachable}/${marker}-runtime/`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: token,
      ACTIONS_ID_TOKEN_REQUEST_URL: `${unreachable}/${marker}-oidc`,
      ACTIONS_CACHE_URL: `${unreachable}/${marker}-cache/`,
      ACTIONS_RESULTS_URL: `${unreachable}/${marker}-results/`,
      GITHUB_ENV: path.join(context, `${marker}-env`),
      GITHUB_PATH: path.join(context, `${marker}-path`)
    }
    runnerAccess = [...Object.keys(runner), ...COMMAND_FILES]
    run = await runOnPath(builderPath, {
      cwd: context,
      env: { PATH: `${wrappers.bin}:${process.env.PATH}`, DOCKER_CONFIG: wrappers.dockerConfig, ...runner },
      inputs: {
        images: freshRepository('commands'),
        'tag-template': 'commands',
        platforms: 'linux/amd64,linux/arm64',
        'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
        secrets: `token=${secret}`,
        provenance: 'false',
        cache: 'gha',
        'verify-command': 'cat /injected.txt'
      }
    })
    calls = await recordedCalls(wrappers.calls)
  }, 10 * MINUTES)

  it('a Dockerfile RUN and the verify command that print commands after a lone \\r, after U+0085, in the legacy ##[…] form, a forged fence close and a stop-commands issue none, read the runner\'s way; the action\'s own groups and masks still take effect; the run publishes', () => {
    expectSucceeded(run)
    for (const step of [run.main, run.post!]) {
      const stdout = readAsRunner(step.stdout)
      // the runner acted on no command the action did not write, and commands are on at the end
      expect(foreignCommands(stdout)).toEqual([])
      expect(stdout.stoppedWith).toBeUndefined()
      // stdout and stderr are read apart, in no fixed order: stderr carries no command, whatever the state
      expect(readAsRunner(step.stderr).processed.map(c => c.line)).toEqual([])
      // every log group the action opened or closed took effect, those after the build's output included
      const groups = ownGroupLines(step)
      expect(stdout.processed.filter(c => /^(end)?group$/i.test(c.name)).map(c => c.line)).toEqual(groups)
    }
    const main = readAsRunner(run.main.stdout)
    expect(main.processed.filter(c => c.name === 'group').length).toBeGreaterThanOrEqual(4)
    // the build printed the secret, on stdout only (where the action's mask, written before, is in force): the log
    // as the runner writes it shows *** instead
    expect(main.masks).toContain(secret)
    expect(run.main.stdout).toContain(secret)
    expect(run.main.stderr).not.toContain(secret)
    expect([...main.log, ...readAsRunner(run.post!.stdout).log].filter(l => l.includes(secret))).toEqual([])
    // the text is still there for the user to read: the build's and the verify command's (once per platform)
    expect(main.log.filter(l => l.includes('::save-state name=dockerConfig::/tmp/INJECTED-state')).length).toBeGreaterThanOrEqual(3)
    expect(main.log.filter(l => l.includes('::stop-commands::INJECTEDSTOP')).length).toBeGreaterThanOrEqual(3)
    // and nothing acted on it: no output, no state
    expect(JSON.stringify([run.outputs, run.state])).not.toContain('INJECTED')
  })

  it("no docker or git command the action runs (whose environment buildx, its plugins and credential helpers inherit) gets the runner's tokens, service URLs or command files, except the gha-cached build: the cache's share, in its environment, not its argv, and what it starts no more", () => {
    expectSucceeded(run)
    // the action's own commands, and the build's (buildx runs git for the context's revision)
    const startedByDocker = (c: ChildCall): boolean => /^docker/.test(c.parent)
    const own = calls.filter(c => !startedByDocker(c))
    const builds = own.filter(c => / buildx build /.test(` ${c.argv} `))
    const buildChildren = calls.filter(startedByDocker)
    // the wrappers saw the build, other docker commands, buildx run standalone (registry reads, tag moves), and git
    // (the fingerprint)
    expect(builds).toHaveLength(1)
    expect(own.some(c => c.argv.startsWith('docker ') && !builds.includes(c))).toBe(true)
    expect(own.some(c => c.argv.startsWith('buildx imagetools '))).toBe(true)
    expect(own.some(c => c.argv.startsWith('git '))).toBe(true)
    for (const call of own.filter(c => !builds.includes(c))) {
      expect({ argv: call.argv, withheld: runnerAccess.filter(name => call.env.has(name)) }).toEqual({ argv: call.argv, withheld: [] })
      expect([...call.env.values()].filter(value => value.includes(marker) || value.includes(token))).toEqual([])
    }
    // what the build starts has the build's environment, and no more
    for (const call of buildChildren) {
      expect({ parent: call.parent, argv: call.argv, withheld: runnerAccess.filter(name => call.env.has(name) && !GHA_SHARE.includes(name)) }).toEqual({
        parent: 'docker-buildx',
        argv: call.argv,
        withheld: []
      })
    }
    const build = builds[0]!
    expect(build.argv).toContain('type=gha')
    expect(runnerAccess.filter(name => build.env.has(name))).toEqual(GHA_SHARE)
    expect(GHA_SHARE.map(name => build.env.get(name))).toEqual([token, `http://127.0.0.1:9/${marker}-cache/`, `http://127.0.0.1:9/${marker}-results/`])
    expect(build.argv).not.toContain(marker)
    expect(build.argv).not.toContain(token)
    // the step's inputs reach no child either
    expect(calls.filter(c => [...c.env.keys()].some(name => /^INPUT_/i.test(name))).map(c => c.argv)).toEqual([])
  })
})
