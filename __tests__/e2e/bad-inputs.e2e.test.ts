/**
 * Bad inputs, end to end: each one runs the real bundled action (main step, then post step). Unit tests cover the
 * parsing; here each bad input must end the run with ONE clear `::error::` line that names the input, the platform
 * or the file and says what to do, a post step that still passes, no secret it was given printed, and nothing at
 * all pushed to any repository of the run (the registry's own tag list is empty).
 *
 * Most are refused before any command runs, whatever the runner path: those run once, with no docker on PATH and a
 * DOCKER_HOST nothing listens on, and show that no command ran at all. The few that reach a registry (through the
 * path's buildx) or a build run on both runner paths.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../../scripts/run-action.mjs'
import {
  AUTH,
  AUTH_REGISTRY,
  BASE_IMAGE,
  commandsRun,
  freshRepository,
  GO_IMAGE,
  HELLO_CONTEXT,
  leaks,
  MINUTES,
  NO_DOCKER,
  registryTags,
  theError,
  UNREACHABLE,
  requireEnvironment
} from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

const BUILD_ARGS = `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`
const SECRET = 'hunter2-bad-input-secret'
/** Words that tell the user what to do; every message must contain one. */
const FIX = /\b(write|give|set|drop|check|fix|use|shorten|install|change|log in|name at least one|raise|remove|close|map)\b/

/** The repositories of one run: a fresh one on :5000 and, where logins are involved, one on the htpasswd :5001. */
interface Repositories {
  open: string
  auth: string
}

type Context = 'hello' | 'busybox' | 's390x-fails' | 'versions-yaml-error' | 'versions-missing-k8s'

interface BadInput {
  name: string
  inputs: (r: Repositories) => Record<string, string>
  /** What the one `::error::` line says (after `::error::`). */
  message: RegExp | ((r: Repositories) => RegExp)
  /** Also put the :5001 repository into `images`. */
  auth?: boolean
  /** The directory the action runs in (default: examples/hello; `busybox`: the base image alone, nothing to compile). */
  context?: Context
  /**
   * What the run reaches before it fails: nothing (the default: the input is refused before any command runs, so
   * the case runs once, with no docker at all), a registry read through the path's buildx, or a build. Those two
   * run on both runner paths.
   */
  reaches?: 'registry' | 'build'
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const LONG_TAG = `t${'x'.repeat(128)}`
const LOGIN = (registry: string, password = SECRET): string => `- registry: ${registry}\n  username: ${AUTH.user}\n  password: ${password}\n`

/** Platforms that name one platform twice once normalized as containerd does: refused before anything runs. */
const SAME_PLATFORM_TWICE: Array<[string, string, string, string]> = [
  ['linux/arm64', 'linux/arm64/v8', 'linux/arm64', 'arm64 and arm64/v8'],
  ['linux/arm', 'linux/arm/v7', 'linux/arm/v7', 'arm and arm/v7'],
  ['linux/amd64', 'linux/amd64/v1', 'linux/amd64', 'amd64 and amd64/v1'],
  ['linux/amd64', 'x86_64', 'linux/amd64', 'amd64 and x86_64'],
  ['aarch64', 'linux/arm64', 'linux/arm64', 'aarch64 and arm64'],
  ['armhf', 'linux/arm/v7', 'linux/arm/v7', 'armhf and arm/v7'],
  ['linux/ppc64el', 'linux/ppc64le', 'linux/ppc64le', 'ppc64el and ppc64le'],
  ['i386', 'linux/386', 'linux/386', 'i386 and 386']
]

/** Bounds in whole seconds from 1 to 21600. */
const BAD_SECONDS: Array<[string, RegExp]> = [
  ['0', /is not a number from 1 to 21600: write one in that range$/],
  ['-5', /is not a number from 1 to 21600: write one in that range$/],
  ['forever', /is not a number from 1 to 21600: write one in that range$/],
  ['2m', /is not a number from 1 to 21600: write one in that range$/],
  ['99999', /is not a number from 1 to 21600: write one in that range$/],
  ['2.5', /is not a whole number of seconds: write one from 1 to 21600$/]
]

/** Passwords YAML would read as something else than written (the secret never printed). */
const ALTERED_PASSWORDS: Array<[string, string]> = [
  ['a YAML tag', `!${SECRET}`],
  ['a YAML anchor', `&${SECRET}`],
  ['a YAML alias', `*${SECRET}`],
  ['a comment', `${SECRET} #tail`],
  ['a leading %', `%${SECRET}`],
  ['a leading @', `@${SECRET}`],
  ['a leading backtick', `\`${SECRET}`],
  ['": " inside', `${SECRET}: x`]
]

/** The inputs and failure modes of the publish transaction (issue 10). */
const TRANSACTION_CASES: BadInput[] = [
  ...SAME_PLATFORM_TWICE.map(([a, b, key, what]): BadInput => ({
    name: `platforms: ${what} (one platform twice once normalized)`,
    inputs: () => ({ platforms: `${a},${b}` }),
    message: new RegExp(`^input "platforms": "${escape(a)}" and "${escape(b)}" both name ${escape(key)}: give each platform once$`)
  })),
  {
    name: 'platforms: the same spelling twice',
    inputs: () => ({ platforms: 'linux/s390x,linux/amd64,linux/s390x' }),
    message: /^input "platforms": "linux\/s390x" is given twice: give each platform once$/
  },
  {
    name: 'platforms: arm64 with a variant it does not have',
    inputs: () => ({ platforms: 'linux/arm64/v7' }),
    message: /^input "platforms": "linux\/arm64\/v7": architecture arm64 has no variant "v7" \(variants: one of v8\): write it without the variant, or with one of those$/
  },
  ...(['registry-timeout', 'verify-timeout'] as const).flatMap(input =>
    BAD_SECONDS.map(([value, message]): BadInput => ({
      name: `${input} ${value}`,
      inputs: () => ({ [input]: value }),
      message: new RegExp(`^input "${input}": "${escape(value)}" ${message.source}`)
    }))
  ),
  ...ALTERED_PASSWORDS.map(([what, password]): BadInput => ({
    name: `logins: a password with ${what}`,
    inputs: () => ({ logins: LOGIN(AUTH_REGISTRY, password) }),
    auth: true,
    message:
      /^input "logins": the password on line 3 would be read by YAML as something else than written: quote it \(password: 'the password', doubling any ' inside\), or write password: \$\{\{ toJSON\(secrets\.NAME\) \}\}$/
  }))
]

const CASES: BadInput[] = [
  // platforms
  {
    name: 'unknown platform',
    inputs: () => ({ platforms: 'linux/amd64,linux/sparc' }),
    message: /^input "platforms": "linux\/sparc" is not a known platform: write linux\/ARCHITECTURE, e\.g\. linux\/arm64; known architectures: .*s390x/
  },
  {
    name: 'a platform that is not linux',
    inputs: () => ({ platforms: 'windows/amd64' }),
    message: /^input "platforms": "windows\/amd64": only linux platforms can be built .*: write linux\/ARCHITECTURE, e\.g\. linux\/arm64$/
  },
  // images
  { name: 'empty images', inputs: () => ({ images: ' \n, ' }), message: /^input "images": is empty: name at least one repository/ },
  // a repository in uppercase is lowercased with a notice (tags.e2e.test.ts), not an error
  {
    name: 'skip-unchanged that is not auto, true or false',
    inputs: () => ({ 'skip-unchanged': 'sometimes' }),
    message: /^input "skip-unchanged": "sometimes" is not valid: write one of auto, true, false$/
  },
  {
    name: 'a repository with a tag',
    inputs: r => ({ images: `${r.open}:v1` }),
    message: /^input "images": ".*:v1": give the repository without a tag \(tags come from "tag-template" and "tags"\)$/
  },
  {
    name: 'a repository with a digest',
    inputs: r => ({ images: `${r.open}@sha256:${'0'.repeat(64)}` }),
    message: /^input "images": ".*@sha256:0+": give the repository without a digest$/
  },
  {
    name: 'a repository name with a space',
    inputs: r => ({ images: `${r.open} copy` }),
    message: /^input "images": ".* copy": not a valid repository name: write \[registry\[:port\]\/\]path/
  },
  // tags
  {
    name: 'a bad tag in tags',
    inputs: () => ({ tags: 'latest-ok,feature/x' }),
    message: /^input "tags": the tag "feature\/x" is not a valid tag: .*use only those characters$/
  },
  {
    name: 'a tag over 128 characters',
    inputs: () => ({ tags: LONG_TAG }),
    message: /^input "tags": the tag "tx+" is not a valid tag: a tag is at most 128 characters \(this one has 129\): shorten it$/
  },
  {
    name: 'an unbalanced tag-template',
    inputs: () => ({ 'tag-template': '{go-llvm' }),
    message: /^input "tag-template": "\{go-llvm": "\{" at position 1 is not closed: close it with "\}", placeholders look like \{go\}$/
  },
  // registries that cannot be reached
  {
    name: 'an unreachable registry (found by the rebuild check, before the build)',
    inputs: r => ({ images: `${r.open}\n${UNREACHABLE}/e2e/nowhere`, 'retry-attempts': '2', 'retry-delay': '0.1' }),
    message: new RegExp(
      `^cannot tell whether ${UNREACHABLE}/e2e/nowhere:bad exists after 2 attempts \\(.*connection refused\\): check the registry address in input "images"`
    ),
    reaches: 'registry'
  },
  {
    name: 'an unreachable registry (if-tag-exists: overwrite, found by the push after the build)',
    context: 'busybox',
    inputs: r => ({
      images: `${UNREACHABLE}/e2e/nowhere\n${r.open}`,
      'if-tag-exists': 'overwrite',
      'retry-attempts': '2',
      'retry-delay': '0.1'
    }),
    message: new RegExp(
      `^${UNREACHABLE} did not accept ${UNREACHABLE}/e2e/nowhere after 2 attempt\\(s\\) \\(connection refused: .*\\): check the registry address in input "images" and that the runner can reach it, or raise "retry-attempts"$`
    ),
    reaches: 'build'
  },
  // files
  {
    name: 'the Dockerfile missing',
    inputs: () => ({ file: 'docker/Dockerfile.missing' }),
    message: /^input "file": Dockerfile "docker\/Dockerfile\.missing" does not exist \(relative paths start at .*\): set "file" to its path$/
  },
  {
    name: 'the context missing',
    inputs: () => ({ context: 'no-such-dir' }),
    message: /^input "context": directory "no-such-dir" does not exist \(relative paths start at .*\): check out the repository first, or fix the path$/
  },
  {
    name: 'a build error in one platform (RUN fails only on s390x)',
    inputs: () => ({}),
    context: 's390x-fails',
    message: /^the build failed for linux\/s390x at `RUN test "\$\(uname -m\)" != s390x`: .*exit code: 1; fix Dockerfile \(the step's output is in the build log above\)$/,
    reaches: 'build'
  },
  {
    name: 'a versions file with a YAML error',
    inputs: () => ({ 'tag-template': '' }),
    context: 'versions-yaml-error',
    message: /^versions\.yaml:\d+: not valid YAML \(.*\): fix the syntax; the expected form is/
  },
  {
    name: 'a version with a space',
    inputs: () => ({ 'go-version': '1.25 .4' }),
    message: /^input "go-version": "1\.25 \.4" contains whitespace: write one word such as 1\.25\.4$/
  },
  {
    name: 'a tag-template placeholder with no source',
    // written out: without a tag-template, an image lacking a version gets the first-run tag (tags.e2e.test.ts)
    inputs: () => ({ 'tag-template': '{go}-llvm{llvm}-k8s{k8s}' }),
    context: 'versions-missing-k8s',
    message:
      /^input "tag-template": "\{go\}-llvm\{llvm\}-k8s\{k8s\}": \{k8s\} has no value; looked in input "k8s-version", .*versions\.yaml \(kubernetes\.version or kubernetes or k8s\.version or k8s\), the default of ARG K8S_VERSION in .*Dockerfile\. Set "k8s-version"/
  },
  // secrets
  {
    name: 'secrets: a line without id=',
    inputs: () => ({ secrets: `token=ok\n${SECRET}` }),
    message: /^input "secrets": line 2 is not id=value: write one secret per line as id=value \(the id is letters, digits, _ \. -\)$/
  },
  {
    name: 'secrets: a line with an empty id',
    inputs: () => ({ secrets: `=${SECRET}` }),
    message: /^input "secrets": line 1 is not id=value: write one secret per line/
  },
  { name: 'secrets: the same id twice', inputs: () => ({ secrets: `token=${SECRET}\ntoken=${SECRET}2` }), message: /^input "secrets": secret id "token" is given twice: give each secret its own id$/ },
  // build inputs
  {
    name: 'ssh: default without an ssh agent',
    inputs: () => ({ ssh: 'default' }),
    message: /^input "ssh": default needs the runner's ssh agent, but SSH_AUTH_SOCK is not set: start an agent in an earlier step/
  },
  {
    name: 'secret-envs: a variable the step does not set',
    inputs: () => ({ 'secret-envs': 'token=E2E_NOT_SET_ANYWHERE' }),
    message: /^input "secret-envs": token: the environment variable E2E_NOT_SET_ANYWHERE is not set: set it in the step's env:/
  },
  {
    name: 'ulimit: an unknown resource',
    inputs: () => ({ ulimit: 'files=1024' }),
    message: /^input "ulimit": "files=1024" is not type=soft\[:hard\]: write e\.g\. nofile=1024:1024/
  },
  // conflicting inputs
  {
    name: 'no-cache with cache-from',
    inputs: () => ({ 'no-cache': 'true', 'cache-from': 'type=registry,ref=localhost:5000/e2e/cache' }),
    message: /^input "no-cache": is true and "cache-from" is set: a build without cache reads none; drop one of them$/
  },
  {
    name: 'username without password',
    inputs: () => ({ registry: AUTH_REGISTRY, username: AUTH.user }),
    auth: true,
    message: /^input "password": is empty but "username" is set: give both, or neither \(a pull request from a fork gets no secrets: with push: auto it builds without pushing and logs in nowhere\)$/
  },
  {
    name: 'password without username',
    inputs: () => ({ registry: AUTH_REGISTRY, password: SECRET }),
    auth: true,
    message: /^input "username": is empty but "password" is set: give both, or neither \(a pull request from a fork gets no secrets/
  },
  {
    name: 'registry without credentials',
    inputs: () => ({ registry: AUTH_REGISTRY }),
    auth: true,
    message: /^input "registry": is set \(localhost:5001\) but "username" and "password" are not: give them to log in, or drop "registry"/
  },
  {
    name: 'the same registry twice (registry/username/password and logins)',
    inputs: () => ({ registry: AUTH_REGISTRY, username: AUTH.user, password: SECRET, logins: LOGIN(AUTH_REGISTRY, `${SECRET}-2`) }),
    auth: true,
    message: /^input "logins": registry "localhost:5001" is given twice: log in to each registry once$/
  },
  // logins
  {
    name: 'logins is not valid YAML',
    inputs: () => ({ logins: `- registry: [${AUTH_REGISTRY}\n  username: ${AUTH.user}\n  password: ${SECRET}\n` }),
    auth: true,
    message: /^input "logins": is not valid YAML \(line \d+\): write a list of \{registry, username, password\}$/
  },
  {
    name: 'logins is not a list',
    inputs: () => ({ logins: `registry: ${AUTH_REGISTRY}\nusername: ${AUTH.user}\npassword: ${SECRET}\n` }),
    auth: true,
    message: /^input "logins": is not a YAML list: write one "- registry: HOST" entry with username and password per registry$/
  },
  {
    name: 'a logins entry without password',
    inputs: () => ({ logins: `- registry: ${AUTH_REGISTRY}\n  username: ${AUTH.user}\n` }),
    auth: true,
    message: /^input "logins": entry 1 \(localhost:5001\) needs both username and password: give both$/
  },
  {
    name: 'a logins entry with an unknown key',
    inputs: () => ({ logins: `- registry: ${AUTH_REGISTRY}\n  user: ${AUTH.user}\n  password: ${SECRET}\n` }),
    auth: true,
    message: /^input "logins": entry 1 has unknown key\(s\) user: use registry, username, password$/
  },
  // attestations
  {
    name: 'provenance: an invalid value',
    inputs: () => ({ provenance: 'maximal' }),
    message: /^input "provenance": "maximal" is not a value buildx takes for --provenance: write false, true, mode=min or mode=max$/
  },
  {
    name: 'sbom: an invalid value',
    inputs: () => ({ sbom: 'yes please' }),
    message: /^input "sbom": "yes please" is not a value buildx takes for --sbom: write false, true or generator=IMAGE$/
  },
  // retries
  { name: 'retry-attempts 0', inputs: () => ({ 'retry-attempts': '0' }), message: /^input "retry-attempts": "0" is not a number from 1 to 10: write one in that range$/ },
  {
    name: 'retry-attempts not a number',
    inputs: () => ({ 'retry-attempts': 'three' }),
    message: /^input "retry-attempts": "three" is not a number from 1 to 10/
  },
  {
    name: 'retry-attempts not whole',
    inputs: () => ({ 'retry-attempts': '2.5' }),
    message: /^input "retry-attempts": "2\.5" is not a whole number: write how many times to try, from 1 to 10$/
  },
  { name: 'retry-delay out of range', inputs: () => ({ 'retry-delay': '100' }), message: /^input "retry-delay": "100" is not a number from 0 to 60/ },
  // verify-command
  {
    name: 'verify-command with an unterminated quote',
    inputs: () => ({ 'verify-command': 'go "version' }),
    message: /^input "verify-command": unterminated " quote: write a command such as "go version"$/
  },
  {
    name: 'a verify-command that fails on every platform',
    context: 'busybox',
    inputs: () => ({ 'verify-command': 'false' }),
    message:
      /^input "verify-command" failed on 2 of 2 platform\(s\), so no tag moved: linux\/amd64, linux\/s390x: the verify command exited 1; the command must exit 0 in every platform's image: fix the image, or change "verify-command"$/,
    reaches: 'build'
  },
  {
    name: 'a verify-command whose program is not in the image',
    context: 'busybox',
    inputs: () => ({ 'verify-command': 'no-such-binary --version' }),
    message:
      /^input "verify-command" failed on 2 of 2 platform\(s\), so no tag moved: linux\/amd64, linux\/s390x: "no-such-binary" is not in the image \(executable file not found\): install it in the image, or change "verify-command"$/,
    reaches: 'build'
  },
  // key=value lists
  { name: 'labels not key=value', inputs: () => ({ labels: 'org.example.ok=1\nnovalue' }), message: /^input "labels": "novalue" is not key=value: write one key=value per line$/ },
  { name: 'annotations not key=value', inputs: () => ({ annotations: '=x' }), message: /^input "annotations": "=x" is not key=value: write one key=value per line$/ },
  {
    name: 'build-args malformed',
    inputs: () => ({ 'build-args': `${BUILD_ARGS}\n1BAD=x` }),
    message: /^input "build-args": "1BAD=x" is not NAME=value: write one NAME=value per line/
  },
  // choices
  { name: 'a bad rebuild value', inputs: () => ({ 'if-tag-exists': 'sometimes' }), message: /^input "if-tag-exists": "sometimes" is not valid: write one of suffix, overwrite, fail$/ },
  { name: 'a bad push value', inputs: () => ({ push: 'maybe' }), message: /^input "push": "maybe" is not valid: write one of auto, true, false$/ },
  { name: 'a bad no-cache value', inputs: () => ({ 'no-cache': 'sometimes' }), message: /^input "no-cache": "sometimes" is not a boolean: write true or false$/ },
  { name: 'a bad qemu value', inputs: () => ({ qemu: 'fast' }), message: /^input "qemu": "fast" is not a mode: write one of auto, image, host, off$/ },
  { name: 'a bad driver value', inputs: () => ({ driver: 'kubernetes' }), message: /^input "driver": "kubernetes" is not supported: write docker-container or docker$/ },
  {
    name: 'driver-opts with the docker driver',
    inputs: () => ({ driver: 'docker', 'driver-opts': 'network=host' }),
    message: /^input "driver-opts": only applies to the docker-container driver: remove it, or set "driver: docker-container"$/
  },
  ...TRANSACTION_CASES
]

async function contextDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-bad-'))
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text)
  return dir
}

const contexts: Record<Context, string> = {
  hello: HELLO_CONTEXT,
  busybox: '',
  's390x-fails': '',
  'versions-yaml-error': '',
  'versions-missing-k8s': ''
}

beforeAll(async () => {
  await requireEnvironment()
  const versioned = 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG GO_VERSION\nARG LLVM_VERSION\nARG K8S_VERSION\n'
  contexts.busybox = await contextDir({ Dockerfile: 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n' })
  contexts['s390x-fails'] = await contextDir({
    Dockerfile: 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN test "$(uname -m)" != s390x\n'
  })
  contexts['versions-yaml-error'] = await contextDir({ Dockerfile: versioned, 'versions.yaml': 'golang:\n  version: [1.25.4\n' })
  contexts['versions-missing-k8s'] = await contextDir({ Dockerfile: versioned, 'versions.yaml': 'go: 1.25.4\nllvm: 18.1.8\n' })
}, MINUTES)

/** The secret a case gives the run, if any: only those runs are searched for it. */
const givesSecret = (bad: BadInput, repositories: Repositories): boolean => JSON.stringify(bad.inputs(repositories)).includes(SECRET)

/** Runs one case (on a runner path, or with no docker at all) and checks everything the file's comment promises. */
async function expectOneClearError(bad: BadInput, run: (inputs: Record<string, string>) => Promise<ActionRun>): Promise<ActionRun> {
  const repositories: Repositories = {
    open: freshRepository('bad-input'),
    auth: freshRepository('bad-input', AUTH_REGISTRY)
  }
  const result = await run({
    images: bad.auth ? `${repositories.open}\n${repositories.auth}` : repositories.open,
    'tag-template': 'bad',
    'build-args': BUILD_ARGS,
    platforms: 'linux/amd64,linux/s390x',
    ...bad.inputs(repositories)
  })
  const message = theError(result).slice('::error::'.length)
  expect(message).toMatch(typeof bad.message === 'function' ? bad.message(repositories) : bad.message)
  // names the input, a platform or a file, and says what to do
  expect(message).toMatch(/input "[a-z-]+"|linux\/[a-z0-9]+|Dockerfile|versions\.yaml/)
  expect(message).toMatch(FIX)
  // the post step cleans up without failing
  expect(result.post?.exitCode).toBe(0)
  expect(result.post?.log).not.toMatch(/^::error::/m)
  // a secret given to the run is printed nowhere but in the mask command
  if (givesSecret(bad, repositories)) expect(leaks(result, SECRET)).toEqual([])
  // nothing was pushed, to any repository of the run
  expect(await registryTags(repositories.open)).toEqual([])
  expect(await registryTags(repositories.auth, AUTH)).toEqual([])
  return result
}

describe('bad inputs', () => {
  it('covers at least 30 bad inputs, and at least 30 more for the publish transaction; each secret-bearing case is one', () => {
    expect(CASES.length - TRANSACTION_CASES.length).toBeGreaterThanOrEqual(30)
    expect(TRANSACTION_CASES.length).toBeGreaterThanOrEqual(30)
    expect(new Set(CASES.map(c => c.name)).size).toBe(CASES.length)
    // the leak check runs where there is a secret to leak: the logins and secrets cases
    const repositories = { open: 'localhost:5000/e2e/x', auth: 'localhost:5001/e2e/x' }
    expect(CASES.filter(c => givesSecret(c, repositories)).length).toBeGreaterThanOrEqual(15)
  })
})

describe('bad inputs refused before any command runs: one clear error, a clean post step, nothing pushed (once: no docker on PATH)', () => {
  it.each(CASES.filter(c => !c.reaches).map(c => [c.name, c] as const))('%s', async (_name, bad) => {
    const run = await expectOneClearError(bad, inputs => runAction({ cwd: contexts[bad.context ?? 'hello'], env: NO_DOCKER, inputs }))
    // refused before anything ran: no command at all (@actions/exec echoes each one), so none could push
    expect(commandsRun(run)).toEqual([])
  }, MINUTES)
})

describeEachPath('bad inputs found by a registry read or a build', builderPath => {
  it.each(CASES.filter(c => c.reaches).map(c => [c.name, c] as const))('%s: one clear error, a clean post step, nothing pushed', async (_name, bad) => {
    const run = await expectOneClearError(bad, inputs => runOnPath(builderPath, { cwd: contexts[bad.context ?? 'hello'], inputs }))
    if (bad.reaches === 'registry') expect(run.main.log).not.toMatch(/\[internal\] load build definition/)
  }, 5 * MINUTES)
})
