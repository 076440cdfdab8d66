/**
 * Publishing, all-or-nothing.
 *
 * 1. stage: the built index reaches every repository by digest, under no tag a user pulls;
 * 2. (the caller verifies what the registries now hold);
 * 3. move tags: only then do `TAG`, the extra tags and `TAG-ARCH` move, all to content already verified.
 *
 * How the index reaches the first repository depends on the driver. With its own BuildKit (`docker-container`)
 * buildx pushes it by digest. The `docker` driver cannot push by digest; it loads the image into the engine's
 * containerd store and `docker push` sends it under the staging tag of its configuration ({@link stagingTag}) in
 * the bookkeeping repository (`state-repository`, else the first of `images`), which users do not pull. Every
 * other repository gets a copy by digest (`imagetools create -t repo@digest`), so no tag moves there. Moving the
 * tags users pull is transaction.ts.
 */
import { createHash } from 'node:crypto'
import type { BuildOutput } from '../build/build.js'
import { DockerCommandError, lastLines, withLayerBound, type Docker } from '../core/docker.js'
import { archTagSuffix, type Platform } from '../core/platform.js'
import { indexAnnotationArgs } from '../core/annotations.js'
import { currentDigest, explainRegistryFailure, sha256Digest } from '../core/registry.js'
import type { RetryPolicy } from '../core/retry.js'

/** The start of every staging tag. */
export const STAGING_TAG_PREFIX = 'go-build-action-staging'

/**
 * The tag the `docker` driver path pushes through before anything is verified: one per configuration
 * (configuration.ts) and set of platforms (each leg has its own), overwritten by the next run of it, so the
 * registry holds a bounded set, never one per run: `go-build-action-staging-CONFIG-amd64-arm64` (the platforms
 * hashed where they would make the tag too long). Everything after the push uses the digest the registry
 * reported, so a later run overwriting the tag changes nothing; a registry with immutable tags refuses it from the
 * second run on: give such a setup a `state-repository`.
 */
export function stagingTag(configurationId: string, platforms: readonly Platform[]): string {
  const arches = platforms.map(archTagSuffix).join('-')
  const tag = `${STAGING_TAG_PREFIX}-${configurationId}-${arches}`
  return tag.length <= 120 ? tag : `${STAGING_TAG_PREFIX}-${configurationId}-${createHash('sha256').update(arches).digest('hex').slice(0, 12)}`
}

/**
 * The name a build loads into the engine under: the staging name and a suffix of this job's own, so that runs on
 * one engine (several runners, legs of one configuration) never replace or remove each other's loaded index. It
 * is tagged as the staging name just before the push ({@link stageIndex}).
 */
export function localBuildName(stagingName: string, random: () => number = Math.random): string {
  const unique = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0')
  return `${stagingName}-${unique}`
}

export interface StagedIndex {
  /** Digest of the index, the same in every repository. */
  digest: string
  /** Every repository, each holding the index by digest. */
  repositories: string[]
}

/** The digest `docker push` reports on its last line: `TAG: digest: sha256:... size: N`. */
export function parsePushDigest(output: string): string | undefined {
  const matches = [...output.matchAll(/digest: (sha256:[0-9a-f]{64})/g)]
  return matches.at(-1)?.[1]
}

/** `docker push` of the loaded index under the staging tag; returns the digest the registry got. */
export async function pushLoadedIndex(docker: Docker, localName: string, retry: RetryPolicy): Promise<string> {
  const { stdout, stderr } = await docker.run(['push', localName], withLayerBound(retry))
  const digest = parsePushDigest(`${stdout}\n${stderr}`)
  if (!digest) throw new Error(`docker push ${localName} did not report a digest`)
  return digest
}

/** Copies the index by digest from the first repository into every other one; no tag moves. */
export async function copyByDigest(
  docker: Docker,
  source: string,
  digest: string,
  targets: readonly string[],
  retry: RetryPolicy
): Promise<void> {
  for (const target of targets) {
    if (target === source) continue
    await docker.run(['buildx', 'imagetools', 'create', '--tag', `${target}@${digest}`, `${source}@${digest}`], withLayerBound(retry))
  }
}

/**
 * One index of the indexes of a build split over nodes (each pushed by digest into `repository`): buildx's
 * `imagetools create` lists their manifests and attestations (no layer moves) under `annotations`, first as a dry
 * run for the bytes and so the digest it will have, then pushed under that digest, so that no tag moves. Returns
 * the digest, which the registry must then serve.
 */
export async function combineByDigest(docker: Docker, repository: string, digests: readonly string[], annotations: Record<string, string>, retry: RetryPolicy): Promise<string> {
  const args = ['buildx', 'imagetools', 'create', ...indexAnnotationArgs(annotations)]
  const sources = digests.map(d => `${repository}@${d}`)
  const dry = await docker.run([...args, '--dry-run', ...sources], { retry, silent: true })
  // buildx prints the index and a newline
  const digest = sha256Digest(dry.stdout.replace(/\n$/, ''))
  await docker.run([...args, '--tag', `${repository}@${digest}`, ...sources], withLayerBound(retry))
  const served = await currentDigest(docker, `${repository}@${digest}`, retry)
  if (served !== digest) throw new Error(`${repository}@${digest} does not hold the index combined from ${sources.join(', ')} (the registry serves ${served || 'nothing'} there)`)
  return digest
}

/** How often the loaded index is tagged and pushed under the staging name when another run on the engine took it. */
const STAGING_ATTEMPTS = 4

/**
 * `docker tag` of this job's loaded index as the staging name, and `docker push`; again when the registry got
 * another digest or the name was gone (another run on this engine tagged or removed the same staging name
 * between the two), so that only this build's digest is ever taken.
 */
export async function pushThroughStagingName(
  docker: Docker,
  localName: string,
  stagingName: string,
  builtDigest: string | undefined,
  retry: RetryPolicy
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= STAGING_ATTEMPTS
    const tagged = await docker.run(['tag', localName, stagingName], { allowFailure: true })
    if (tagged.exitCode !== 0) {
      if (last) throw new Error(`the engine could not tag ${localName} as ${stagingName}: ${lastLines(tagged.stderr || tagged.stdout, 1)}`)
      continue
    }
    let digest: string
    try {
      digest = await pushLoadedIndex(docker, stagingName, retry)
    } catch (error) {
      const gone = error instanceof DockerCommandError && /does not exist locally|no such image/i.test(error.result.stderr)
      if (gone && !last) continue
      throw error
    }
    if (!builtDigest || digest === builtDigest || last) return digest
    await new Promise(resolve => setTimeout(resolve, 250 * attempt))
  }
}

/**
 * Gets the built index into every repository by digest. The `docker` driver's loaded index is pushed through
 * `stagingName` (in the bookkeeping repository; without it, under the name it was loaded as); a push-by-digest
 * build is in the first repository already. The digest the registry reports must be the one buildx built.
 */
export async function stageIndex(
  docker: Docker,
  output: BuildOutput,
  builtDigest: string | undefined,
  repositories: readonly string[],
  retry: RetryPolicy,
  stagingName?: string
): Promise<StagedIndex> {
  const [first] = repositories
  if (!first) throw new Error('no repository to publish to')
  try {
    return await stageTo(docker, output, builtDigest, first, repositories, retry, stagingName)
  } catch (error) {
    throw explainRegistryFailure(error, error instanceof DockerCommandError ? repositoryIn(error.args, repositories) : first)
  }
}

/** The repository a failed command wrote to (the `--tag` target, else the pushed name), for messages. */
export function repositoryIn(args: readonly string[], repositories: readonly string[]): string {
  const tagIndex = args.indexOf('--tag')
  const target = tagIndex >= 0 ? args[tagIndex + 1] : args.at(-1)
  const matches = repositories.filter(r => target?.startsWith(`${r}:`) || target?.startsWith(`${r}@`))
  return matches.sort((a, b) => b.length - a.length)[0] ?? repositories[0] ?? ''
}

async function stageTo(
  docker: Docker,
  output: BuildOutput,
  builtDigest: string | undefined,
  first: string,
  repositories: readonly string[],
  retry: RetryPolicy,
  stagingName?: string
): Promise<StagedIndex> {
  let digest: string
  const pushedName = output.kind === 'load' ? (stagingName ?? output.name) : ''
  switch (output.kind) {
    case 'load':
      digest = stagingName ? await pushThroughStagingName(docker, output.name, stagingName, builtDigest, retry) : await pushLoadedIndex(docker, output.name, retry)
      if (builtDigest && digest !== builtDigest) {
        throw new Error(`docker push sent ${digest}, but buildx built ${builtDigest}: the local image ${output.name} changed during the run`)
      }
      break
    case 'push-by-digest':
      if (!builtDigest) throw new Error('buildx pushed by digest but its metadata has no containerimage.digest')
      digest = builtDigest
      break
    case 'none':
      throw new Error('nothing to stage: the build kept its result in the builder only')
  }
  // the loaded index went to the repository of its local name (the bookkeeping repository); the others get copies
  const source = output.kind === 'load' ? pushedName.slice(0, pushedName.lastIndexOf(':')) : first
  await copyByDigest(docker, source, digest, repositories, retry)
  return { digest, repositories: [...repositories] }
}
