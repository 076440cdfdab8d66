/**
 * Two publishes of one main tag at once (`if-tag-exists: overwrite`, no `concurrency:` group), and what they left:
 * read from the registry itself, never from the action. Used by transaction.e2e (a few pairs in CI) and by the
 * stress run (`npm run stress`, many pairs).
 */
import type { ActionRun } from '../../../scripts/run-action.mjs'
import { registryManifest } from './environment.js'
import type { FaultProxy } from './fault-proxy.js'
import { runOnPath, type BuilderPath } from './paths.js'

/** What a reference holds, read straight from the registry on port 5000 (behind the proxy or not); '' for no such tag. */
export async function held(reference: string): Promise<string> {
  const served = await registryManifest(reference.replace(/^localhost:\d+\//, 'localhost:5000/'))
  return served.status === 200 ? (served.digest ?? '') : ''
}

/** The platform entries (architecture → digest) of the index `reference` holds; {} for no such tag. */
export async function indexEntries(reference: string): Promise<Record<string, string>> {
  const served = await registryManifest(reference.replace(/^localhost:\d+\//, 'localhost:5000/'))
  if (served.status !== 200) return {}
  const index = JSON.parse(served.body) as { manifests?: Array<{ digest: string; platform?: { os: string; architecture: string } }> }
  return Object.fromEntries(
    (index.manifests ?? []).filter(m => m.platform && m.platform.os !== 'unknown').map(m => [m.platform!.architecture, m.digest])
  )
}

/** One entry of the `moves` output. */
export interface MoveReport {
  reference: string
  previous: string
  digest: string
  now: string
  outcome: string
}

export function movesOf(run: ActionRun): MoveReport[] {
  return run.outputs.moves ? (JSON.parse(run.outputs.moves) as MoveReport[]) : []
}

/** What a pair of runs left, from the registry. */
export interface PairVerdict {
  /** In every repository TAG holds the same index, and every TAG-ARCH its entry for that architecture. */
  consistent: boolean
  /** Each reference that disagrees, with what it holds, when not consistent. */
  mix: string[]
  /** Each run's main step: 0 or 1. */
  exitCodes: number[]
  /** Which run's index TAG holds (0, 1), or -1 (neither: what it held before, or nothing). */
  heldBy: number
  /** References a run's `moves` output reports as holding something the registry does not serve; `failed`: that run failed. */
  untruthful: Array<{ run: number; failed: boolean; text: string }>
  /** Runs that ended successfully although TAG holds the other run's index (it finished before the other settled). */
  succeededButLost: number[]
  /** The failed runs' error lines. */
  errors: string[]
}

/**
 * Runs two publishes of `tag` into `repositories` at once, with build args of their own (different content), and
 * judges what they left. `more` adds inputs to both.
 */
export async function publishPair(
  builderPath: BuilderPath,
  context: string,
  repositories: readonly string[],
  tag: string,
  arches: readonly string[],
  more: Record<string, string> = {}
): Promise<{ runs: ActionRun[]; verdict: PairVerdict }> {
  const epoch = Math.floor(Math.random() * 1e6)
  const publish = (n: number): Promise<ActionRun> =>
    runOnPath(builderPath, {
      cwd: context,
      inputs: {
        images: repositories.join('\n'),
        'tag-template': tag,
        platforms: arches.map(a => `linux/${a}`).join(','),
        'if-tag-exists': 'overwrite',
        'build-args': `SOURCE_DATE_EPOCH=${epoch + n}`,
        provenance: 'false',
        ...more
      }
    })
  const runs = await Promise.all([publish(0), publish(1)])
  return { runs, verdict: await judgePair(runs, repositories, tag, arches) }
}

/** Judges what two runs that published `tag` at once left in `repositories`. */
export async function judgePair(runs: readonly ActionRun[], repositories: readonly string[], tag: string, arches: readonly string[]): Promise<PairVerdict> {
  const mix: string[] = []
  const tagHolders = await Promise.all(repositories.map(r => held(`${r}:${tag}`)))
  if (new Set(tagHolders).size !== 1) mix.push(...repositories.map((r, i) => `${r}:${tag} holds ${tagHolders[i] || 'nothing'}`))
  for (const repository of repositories) {
    const entries = await indexEntries(`${repository}:${tag}`)
    for (const arch of arches) {
      const now = await held(`${repository}:${tag}-${arch}`)
      if (now !== entries[arch]) mix.push(`${repository}:${tag}-${arch} holds ${now || 'nothing'}, ${repository}:${tag}'s ${arch} entry is ${entries[arch] ?? 'missing'}`)
    }
  }
  const heldBy = runs.findIndex(run => run.outputs.digest !== undefined && run.outputs.digest === tagHolders[0])
  const untruthful: PairVerdict['untruthful'] = []
  for (const [n, run] of runs.entries()) {
    for (const move of movesOf(run)) {
      const now = await held(move.reference)
      const text = `${move.reference} reported ${move.outcome} holding ${move.now || 'nothing'}, the registry serves ${now || 'nothing'}`
      if (now !== move.now) untruthful.push({ run: n, failed: run.main.exitCode !== 0, text })
    }
  }
  return {
    consistent: mix.length === 0,
    mix,
    exitCodes: runs.map(r => r.main.exitCode),
    heldBy,
    untruthful,
    succeededButLost: runs.flatMap((run, n) => (run.main.exitCode === 0 && heldBy !== n ? [n] : [])),
    errors: runs.flatMap(run => run.main.log.split('\n').filter(l => l.startsWith('::error::')))
  }
}

/** The registry API path of `repository`'s manifests (`/v2/NAME/manifests/`). */
function manifestsPath(repository: string): string {
  return `/v2/${repository.split('/').slice(1).join('/')}/manifests/`
}

/**
 * A proxy rule that holds each run's first write of `repository:tag` until both runs' writes wait (or 60 s): the
 * two runs' moves start together, so that they interleave.
 */
export function meetAtFirstWrite(proxy: FaultProxy, repository: string, tag: string): void {
  const path = new RegExp(`^${manifestsPath(repository)}${tag}$`)
  proxy.rules = [...proxy.rules, { method: 'PUT', path, times: 2, fault: { gather: 2 } }]
}

/**
 * Proxy rules that hold each run's first write of `repository:tag` until both wait (the two runs' writes of the main
 * tag land together, so one of them finds the other's index there and settles on it), then answer the next
 * `failures` HEAD requests for an index by its digest in `repository` with HTTP 503: the settling's read of the
 * winning index (`imagetools inspect REPO@DIGEST` asks HEAD first; a read of a tag asks HEAD of the tag). buildx
 * gives up such a read after 1 (0.13.1) or 2 (0.30.1) of them.
 */
export function meetAtTagThenFailIndexReads(proxy: FaultProxy, repository: string, tag: string, failures: number): void {
  let met = 0
  const base = manifestsPath(repository)
  proxy.rules = [
    ...proxy.rules,
    { method: 'PUT', path: new RegExp(`^${base}${tag}$`), times: 2, fault: { gather: 2 }, select: () => ++met > 0 },
    {
      method: 'HEAD',
      path: new RegExp(`^${base}sha256:`),
      times: failures,
      fault: { status: 503 },
      select: (_, path) => met >= 2 && proxy.indexes.has(path.slice(base.length))
    }
  ]
}
