/**
 * The real local environment the e2e tests run against (brought up by scripts/e2e-env.sh up), and small
 * registry-side helpers that read the registry over HTTP, independently of the action's own code.
 */
import { expect } from '@jest/globals'
import { execFile } from 'node:child_process'
import * as http from 'node:http'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from '../../../scripts/run-action.mjs'
import { STAGING_TAG_PREFIX } from '../../../src/publish/publish.js'
import { readAsRunner } from './runner-commands.js'

const execFileAsync = promisify(execFile)

export interface HttpAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/**
 * GET from a registry on loopback, one connection per request (no keep-alive pool that would outlive the tests).
 */
export function httpGet(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, agent: false }, response => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', chunk => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
    })
    request.on('error', reject)
  })
}

export const REGISTRY = 'localhost:5000'
export const AUTH_REGISTRY = 'localhost:5001'
/** A registry port nothing listens on (the e2e registries are 5000 and 5001): no pull or push there can succeed. */
export const UNREACHABLE = 'localhost:5999'
export const GO_IMAGE = `${REGISTRY}/base/golang`
export const BASE_IMAGE = `${REGISTRY}/base/busybox`
export const HELLO_CONTEXT = path.join(repoRoot, 'examples', 'hello')
export const FOUR_PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x']

/** Throws with the fix when the environment is not up. */
export async function requireEnvironment(): Promise<void> {
  try {
    await execFileAsync('bash', [path.join(repoRoot, 'scripts', 'e2e-env.sh'), 'status'])
  } catch (error) {
    const out = (error as { stdout?: string }).stdout ?? ''
    throw new Error(`the e2e environment is not up; run "bash scripts/e2e-env.sh up" (or "npm test")\n${out}`, {
      cause: error
    })
  }
}

/** The repositories this test file was handed (freshRepository): their images in the engine go when the file ends. */
const handedOut = new Set<string>()

/** A repository name no earlier run has used. */
export function freshRepository(name: string, registry = REGISTRY): string {
  const repository = `${registry}/e2e/${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
  handedOut.add(repository)
  return repository
}

/**
 * Removes from the engine's image store every image of a repository this test file was handed, whoever put it
 * there (the action's load of a build that pushes nothing, a test's `docker run --pull` or pull): the engine is
 * shared by every test file and every later run, so a file leaves none of its images behind. Returns the
 * references it removed. Images of other repositories (the base images, another file's) are never touched.
 */
export async function removeHandedOutImages(): Promise<string[]> {
  if (handedOut.size === 0) return []
  const { stdout } = await docker(['image', 'ls', '--no-trunc', '--format', '{{.Repository}}\t{{.Tag}}\t{{.Digest}}'])
  const references = new Set<string>()
  for (const line of stdout.split('\n')) {
    const [repository, tag, digest] = line.split('\t')
    if (!repository || !handedOut.has(repository)) continue
    if (tag && tag !== '<none>') references.add(`${repository}:${tag}`)
    else if (digest && digest !== '<none>') references.add(`${repository}@${digest}`)
  }
  if (references.size > 0) await docker(['image', 'rm', ...references])
  return [...references]
}

/** `docker login --password-stdin` into the docker config `dir`, as an earlier workflow step (docker/login-action) would. */
export function dockerLogin(dir: string, registry: string, user: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('docker', ['login', '--username', user, '--password-stdin', registry], { env: { ...process.env, DOCKER_CONFIG: dir } }, (error, _stdout, stderr) =>
      error ? reject(new Error(`docker login ${registry}: ${stderr}`)) : resolve()
    )
    child.stdin?.end(password)
  })
}

/**
 * The docker CLI as the tests run it, with the test file's DOCKER_CONFIG (support/setup.ts; `process.env` here is
 * the test file's, which a child started without `env` would not get) or the one given.
 */
export async function docker(args: string[], dockerConfig?: string): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync('docker', args, { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...(dockerConfig ? { DOCKER_CONFIG: dockerConfig } : {}) } })
}

/** A DOCKER_CONFIG directory of a run's own: empty, or with this config.json. */
export async function freshDockerConfig(config?: object): Promise<string> {
  const { mkdtemp, writeFile } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-docker-config-'))
  if (config) await writeFile(path.join(dir, 'config.json'), JSON.stringify(config))
  return dir
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json'
].join(', ')

export interface RegistryManifest {
  status: number
  digest: string | null
  body: string
}

/** GETs `repo:tag` (or `repo@digest`) straight from the registry's HTTP API on loopback. */
export async function registryManifest(reference: string, auth?: { user: string; password: string }): Promise<RegistryManifest> {
  const match = /^([^/]+)\/(.+?)(?::([^:/@]+)|@(sha256:[0-9a-f]{64}))$/.exec(reference)
  if (!match) throw new Error(`cannot split ${reference}`)
  const [, host, repository, tag, digest] = match
  const port = host!.split(':')[1] ?? '80'
  const headers: Record<string, string> = { Accept: MANIFEST_TYPES }
  if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`
  const response = await httpGet(`http://127.0.0.1:${port}/v2/${repository}/manifests/${tag ?? digest}`, headers)
  const digestHeader = response.headers['docker-content-digest']
  return { status: response.status, digest: typeof digestHeader === 'string' ? digestHeader : null, body: response.body }
}

export const AUTH = { user: 'e2e-user', password: 'e2e-Passw0rd-not-secret' }

/**
 * PUTs a manifest straight into the open registry's HTTP API on loopback (what anyone with write access to the
 * repository can do, without this action or buildx), and returns the digest the registry gives it.
 */
export async function putRegistryManifest(reference: string, mediaType: string, body: string): Promise<string> {
  const match = /^([^/]+)\/(.+?):([^:/@]+)$/.exec(reference)
  if (!match) throw new Error(`cannot split ${reference}`)
  const [, host, repository, tag] = match
  const port = host!.split(':')[1] ?? '80'
  return new Promise((resolve, reject) => {
    const request = http.request(
      `http://127.0.0.1:${port}/v2/${repository}/manifests/${tag}`,
      { method: 'PUT', headers: { 'Content-Type': mediaType }, agent: false },
      response => {
        let answer = ''
        response.setEncoding('utf8')
        response.on('data', chunk => (answer += chunk))
        response.on('end', () => {
          const digest = response.headers['docker-content-digest']
          if (response.statusCode !== 201 || typeof digest !== 'string') reject(new Error(`PUT ${reference}: HTTP ${response.statusCode}: ${answer}`))
          else resolve(digest)
        })
      }
    )
    request.on('error', reject)
    request.end(body)
  })
}

/** The tags a repository has, straight from the registry ([] when the repository does not exist). */
export async function registryTags(repository: string, auth?: { user: string; password: string }): Promise<string[]> {
  const [host, ...path] = repository.split('/')
  const port = host!.split(':')[1] ?? '80'
  const headers: Record<string, string> = {}
  if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`
  const response = await httpGet(`http://127.0.0.1:${port}/v2/${path.join('/')}/tags/list`, headers)
  if (response.status === 404) return []
  if (response.status !== 200) throw new Error(`tags/list of ${repository}: HTTP ${response.status}`)
  const body = JSON.parse(response.body) as { tags?: string[] | null }
  return [...(body.tags ?? [])].sort()
}

/** A repository's tags split into the published ones and this action's staging tags (one per configuration, see publish.ts). */
export function splitStaging(tags: readonly string[]): { published: string[]; staging: string[] } {
  const staging = tags.filter(t => t.startsWith(`${STAGING_TAG_PREFIX}-`))
  return { published: tags.filter(t => !staging.includes(t)), staging }
}

/**
 * A go-build-style context: a versions file and a Dockerfile whose RUN steps run on the local busybox base for
 * every platform (foreign ones under QEMU). `variant` changes the content, for runs that must differ.
 */
export async function goBuildStyleContext(variant = ''): Promise<string> {
  const { mkdtemp, writeFile } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-gb-'))
  await writeFile(
    path.join(dir, 'versions.yaml'),
    'golang:\n  version: 1.25.4\nllvm:\n  version: 18.1.8\nkubernetes:\n  version: 1.34.1\n'
  )
  await writeFile(
    path.join(dir, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      'FROM ${BASE_IMAGE}',
      'ARG GO_VERSION=1.25.4',
      'ARG LLVM_VERSION=18.1.8',
      'ARG K8S_VERSION=1.34.1',
      'RUN mkdir -p /etc/go-build && echo "go=$GO_VERSION llvm=$LLVM_VERSION k8s=$K8S_VERSION" > /etc/go-build/versions',
      `RUN uname -m > /etc/go-build/built-on${variant ? ` && echo ${variant} > /etc/go-build/variant` : ''}`,
      'CMD ["cat", "/etc/go-build/versions", "/etc/go-build/built-on"]',
      ''
    ].join('\n')
  )
  return dir
}

/** A context that builds with no RUN step (nothing to emulate): `FROM scratch` and one copied file. */
export async function copyOnlyContext(): Promise<string> {
  const { mkdtemp, writeFile } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-copy-only-'))
  await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n')
  await writeFile(path.join(context, 'hello.txt'), 'hello\n')
  return context
}

/**
 * The environment of a run that needs no docker, to show it: no docker (nor any other tool) on PATH, and a
 * DOCKER_HOST nothing listens on.
 */
export const NO_DOCKER: Readonly<Record<string, string>> = { PATH: '/nonexistent', DOCKER_HOST: 'tcp://127.0.0.1:9' }

/** The commands a run's steps started, as @actions/exec echoes each one (`[command]PROGRAM ARGS`). */
export function commandsRun(run: { main: { log: string }; post?: { log: string } }): string[] {
  return [run.main.log, run.post?.log ?? ''].flatMap(log => log.split('\n')).filter(line => line.startsWith('[command]'))
}

/** Jest timeouts of the e2e tests are in minutes. */
export const MINUTES = 60_000

/**
 * The `::error::` messages of a step, as the runner reads its stdout (support/runner-commands.ts: lines end at
 * `\r\n`, `\r` or `\n`, .NET's leading white space trimmed, stop-commands honoured), each written back as its
 * `::error::MESSAGE` line; annotations (`::error file=…::`) are not counted.
 */
export function errorLines(step: { stdout: string }): string[] {
  return readAsRunner(step.stdout)
    .processed.filter(command => command.name.toLowerCase() === 'error' && Object.keys(command.properties).length === 0)
    .map(command => `::error::${command.data}`)
}

/** The one `::error::` line of a run that failed: expects exit code 1 and exactly one such line. */
export function theError(run: { main: { exitCode: number; log: string; stdout: string } }): string {
  const errors = errorLines(run.main)
  expect({ exitCode: run.main.exitCode, errors: errors.length, log: errors.length === 1 ? '' : run.main.log.slice(-4000) }).toEqual({ exitCode: 1, errors: 1, log: '' })
  return errors[0]!
}

/**
 * Every place a run shows or keeps `value`: lines of either step's log (but the `::add-mask::` command that tells
 * the runner to mask it, which the runner consumes), and the outputs, the saved state and the job summary.
 */
export function leaks(run: { main: { log: string }; post?: { log: string }; outputs: object; state: object; summary: string }, value: string): string[] {
  const lines = [run.main.log, run.post?.log ?? ''].flatMap(log => log.split('\n')).filter(line => line.includes(value) && !line.startsWith('::add-mask::'))
  const saved = [JSON.stringify(run.outputs), JSON.stringify(run.state), run.summary].filter(text => text.includes(value))
  return [...lines, ...saved]
}

/** Expects the main and post steps to have passed; shows the main step's log when it did not. */
export function expectSucceeded(run: { main: { exitCode: number; log: string }; post?: { exitCode: number } }): void {
  const tail = (log: string): string => log.slice(-4000)
  expect({ exitCode: run.main.exitCode, log: run.main.exitCode === 0 ? '' : tail(run.main.log) }).toEqual({ exitCode: 0, log: '' })
  expect(run.post?.exitCode).toBe(0)
}
