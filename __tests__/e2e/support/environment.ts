/**
 * The real local environment the e2e tests run against (brought up by scripts/e2e-env.sh up), and small
 * registry-side helpers that read the registry over HTTP, independently of the action's own code.
 */
import { execFile } from 'node:child_process'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from '../../../scripts/run-action.mjs'

const execFileAsync = promisify(execFile)

export const REGISTRY = 'localhost:5000'
export const AUTH_REGISTRY = 'localhost:5001'
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

/** A repository name no earlier run has used. */
export function freshRepository(name: string, registry = REGISTRY): string {
  return `${registry}/e2e/${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
}

export async function docker(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync('docker', args, { maxBuffer: 64 * 1024 * 1024 })
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
  const response = await fetch(`http://127.0.0.1:${port}/v2/${repository}/manifests/${tag ?? digest}`, { headers })
  return { status: response.status, digest: response.headers.get('docker-content-digest'), body: await response.text() }
}
