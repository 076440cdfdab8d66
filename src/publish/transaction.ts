/**
 * Moving tags as a transaction: plan, then move, then read back.
 *
 * 1. plan: every digest a move needs is resolved, every capability checked (`imagetools create --prefer-index`,
 *    or the engine's containerd store, which pushes a pulled manifest unchanged), the complete list of moves is
 *    known, and what every tag about to move holds now is recorded; the main tag must still hold what the tag
 *    planner saw (free, for `if-tag-exists: suffix` / `fail`), else another run got there first;
 * 2. move, in a fixed order: every per-platform tag (`TAG-ARCH`) in every repository, then every index tag;
 *    independent moves of one step run a few at a time;
 * 3. read back every moved reference and compare it with the plan.
 *
 * A failure after the first move is never left unreported, and reconciled from the {@link MoveJournal}, not from
 * one read: every reference whose move succeeded or was in flight (a failed or killed command may still have
 * landed) is read again, a few times where the read disagrees with the journal (a registry still down, or one that
 * serves the old manifest a moment after a write), put back when it held something before the run, and read
 * again; a tag this run created cannot be deleted portably and is reported as such.
 *
 * Two runs that move the same tags at once settle on one run's content (registries have no conditional write):
 * the same main tag on the index the first repository's main tag holds; a tag they share besides (`latest`, an
 * extra tag) on the index of the higher version, the same rule for both runs, and the run that yields it fails.
 */
import * as core from '@actions/core'
import { CancelledError, lastLines, withLayerBound, type Docker } from '../core/docker.js'
import { errorMessage } from '../core/errors.js'
import { forEachLimited, mapLimited, REGISTRY_CONCURRENCY } from '../core/limit.js'
import type { StagedIndex } from './publish.js'
import { currentDigest, inspectIndex, platformDigests, type ImageIndex } from '../core/registry.js'
import { retryDelayMs, type RetryPolicy } from '../core/retry.js'

/** One reference this run points at a digest. */
export interface TagMove {
  /** `repository:tag`. */
  reference: string
  repository: string
  /** `platform`: the tag points at one platform's manifest (`TAG-ARCH`); `index`: at the multi-arch index. */
  kind: 'platform' | 'index'
  /** The platform of a `TAG-ARCH` move (`linux/arm64`). */
  platform?: string
  /** The digest the move points the tag at. */
  target: string
  /** What the tag held when the plan was made ('' when it did not exist). */
  previous: string
}

export interface MovePlan {
  /** Every move, in the order they are made: per-platform tags first, then index tags. */
  moves: TagMove[]
  /** Whether buildx points a tag at a manifest itself (`--prefer-index=false`); else the engine pushes it. */
  preferIndex: boolean
  /** The run's main tag (`TAG`), whose `TAG-ARCH` tags move with it; the other index tags are shared with other runs. */
  main?: string
}

/**
 * Where a reference ended:
 * - `moved`: it holds the new digest; `restored`: it moved and was put back to what it held before;
 * - `not-moved`: it holds what it held before the run; `restore-failed`: it moved and could not be put back;
 * - `other`: it holds something neither this run nor the state before it put there (another run);
 * - `unknown`: the registry could not be asked.
 */
export type MoveOutcome = 'moved' | 'restored' | 'not-moved' | 'restore-failed' | 'other' | 'unknown'

export interface MoveRecord extends TagMove {
  outcome: MoveOutcome
  /** What the reference holds now, as far as known ('' for no such tag). */
  now: string
}

/** What the move phase did so far, for the outputs and the summary, also of a failed or cancelled run. */
export class MoveJournal {
  plan?: MovePlan
  /** References whose move command succeeded, in order. */
  readonly moved: string[] = []
  /** References whose move command started: moved, failed or still running (a failed or killed one may have landed). */
  readonly attempted: string[] = []
  /** Set once the moves ended (successfully, or reconciled after a failure). */
  records?: MoveRecord[]
  /** Local image names the engine path created, for the post step to remove. */
  readonly localNames: string[] = []

  /**
   * The references as far as known now: the reconciled records, else the plan with the moves made so far (moved;
   * started and not known to have ended: unknown; never started: not moved).
   */
  snapshot(): MoveRecord[] {
    if (this.records) return this.records
    return (this.plan?.moves ?? []).map(m =>
      this.moved.includes(m.reference)
        ? { ...m, outcome: 'moved', now: m.target }
        : this.attempted.includes(m.reference)
          ? { ...m, outcome: 'unknown', now: '' }
          : { ...m, outcome: 'not-moved', now: m.previous }
    )
  }
}

/** The main tag as the tag planner saw it: each reference → the digest it held ('' free). */
export type SeenTags = Record<string, string>

/** A publish that failed after the moves began; the journal says where every reference ended. */
export class MoveError extends Error {
  override name = 'MoveError'
  constructor(
    message: string,
    readonly records: MoveRecord[],
    options?: ErrorOptions
  ) {
    super(message, options)
  }
}

/** The moves, in order: per-platform tags in every repository, then index tags in every repository. */
export function orderedMoves(
  staged: StagedIndex,
  indexTags: readonly string[],
  platformTags: Record<string, string>,
  platformDigests: Record<string, string>
): Array<Omit<TagMove, 'previous'>> {
  const moves: Array<Omit<TagMove, 'previous'>> = []
  for (const repository of staged.repositories) {
    for (const [platform, tag] of Object.entries(platformTags)) {
      const digest = platformDigests[platform]
      if (!digest) throw new Error(`the index has no manifest for ${platform}, so ${repository}:${tag} cannot be published; no tag moved`)
      moves.push({ reference: `${repository}:${tag}`, repository, kind: 'platform', platform, target: digest })
    }
  }
  for (const repository of staged.repositories) {
    for (const tag of indexTags) moves.push({ reference: `${repository}:${tag}`, repository, kind: 'index', target: staged.digest })
  }
  return moves
}

/** Whether this buildx has `imagetools create --prefer-index`. */
export async function supportsPreferIndex(docker: Docker): Promise<boolean> {
  const help = await docker.run(['buildx', 'imagetools', 'create', '--help'], { silent: true, allowFailure: true })
  return help.stdout.includes('--prefer-index')
}

/**
 * Without `--prefer-index`, a per-platform tag is pushed by the engine: pull the manifest by digest and tag it.
 * Only the containerd store keeps the manifest as it is (the image ID is the manifest digest); the classic store
 * would push a rewritten one, so this is checked here, before any tag moves.
 */
async function prepareLocalManifest(docker: Docker, move: Omit<TagMove, 'previous'>, retry: RetryPolicy): Promise<void> {
  const source = `${move.repository}@${move.target}`
  // not --quiet: each layer's line is the progress that keeps the transfer's bound from expiring
  await docker.run(['pull', source], { ...withLayerBound(retry), silent: true })
  // inspected by digest, not by the tag's local name, which another run on this engine may tag at the same time
  const { stdout } = await docker.run(['image', 'inspect', '--format', '{{.Id}}', source], { silent: true })
  if (stdout.trim() !== move.target) {
    throw new Error(
      `the engine holds ${move.target} as ${stdout.trim() || 'an unknown image'}, so pushing ${move.reference} would publish a rewritten manifest; no tag moved: use a buildx with "imagetools create --prefer-index" (input "buildx-version"), or an engine with the containerd image store; set "platform-tags: false" to publish without per-platform tags`
    )
  }
}

/**
 * Makes the plan; nothing moves. Throws, with nothing moved, when a digest is missing, a capability lacks, the
 * registry cannot be asked what a tag holds, or the main tag no longer holds what the tag planner saw.
 */
export async function planMoves(
  docker: Docker,
  staged: StagedIndex,
  tags: { indexTags: readonly string[]; platformTags: Record<string, string>; seen: SeenTags; tag?: string },
  platformDigests: Record<string, string>,
  retry: RetryPolicy,
  journal: MoveJournal
): Promise<MovePlan> {
  const moves = orderedMoves(staged, tags.indexTags, tags.platformTags, platformDigests)
  const platformMoves = moves.filter(m => m.kind === 'platform')
  const preferIndex = platformMoves.length > 0 && (await supportsPreferIndex(docker))
  if (!preferIndex) {
    // the pulled manifests are local names of this run too (`repo@digest`), removed with the others
    for (const m of platformMoves) if (!journal.localNames.includes(`${m.repository}@${m.target}`)) journal.localNames.push(`${m.repository}@${m.target}`)
    await forEachLimited(platformMoves, REGISTRY_CONCURRENCY, m => prepareLocalManifest(docker, m, retry))
  }
  const previous = await mapLimited(moves, REGISTRY_CONCURRENCY, m => currentDigest(docker, m.reference, retry))
  const plan: MovePlan = { moves: moves.map((m, i) => ({ ...m, previous: previous[i] ?? '' })), preferIndex, ...(tags.tag ? { main: tags.tag } : {}) }
  for (const move of plan.moves) {
    const seen = tags.seen[move.reference]
    if (seen !== undefined && seen !== move.previous) {
      throw new Error(
        `${move.reference} ${seen === '' ? 'was free' : `held ${seen}`} when this run chose its tag, and now holds ${move.previous || 'nothing'}: another run is publishing the same tag; no tag moved. Re-run this job to publish the next free tag, and give the workflow a "concurrency:" group keyed on the image so runs publish one at a time`
      )
    }
  }
  journal.plan = plan
  return plan
}

/** argv that points `reference` at `digest` of the same repository with buildx (a carbon copy with `exact`). */
export function imagetoolsTagArgs(reference: string, source: string, exact: boolean): string[] {
  return ['buildx', 'imagetools', 'create', ...(exact ? ['--prefer-index=false'] : []), '--tag', reference, source]
}

/**
 * Points one reference at its target. On the engine path the manifest pulled in the plan is tagged under the
 * reference and pushed; the digest the registry got is what the read-back compares (another run on this engine
 * may tag the same local name at the same time: that is a race, settled like any other).
 */
async function moveOne(docker: Docker, move: TagMove, preferIndex: boolean, retry: RetryPolicy, journal: MoveJournal): Promise<void> {
  const source = `${move.repository}@${move.target}`
  if (move.kind === 'index' || preferIndex) {
    await docker.run(imagetoolsTagArgs(move.reference, source, move.kind === 'platform'), { retry })
    return
  }
  await tagLocally(docker, source, move.reference)
  if (!journal.localNames.includes(move.reference)) journal.localNames.push(move.reference)
  await docker.run(['push', move.reference], { retry })
}

/**
 * `docker tag`, tried a few times: when another run on this engine tags the same name at the same moment, the
 * engine can refuse one ("already exists, but accessing it also failed"); a moment later it works.
 */
async function tagLocally(docker: Docker, source: string, reference: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const result = await docker.run(['tag', source, reference], { allowFailure: true })
    if (result.exitCode === 0) return
    if (attempt >= LOCAL_TAG_ATTEMPTS) {
      throw new Error(
        `the engine could not tag ${reference} (${lastLines(result.stderr || result.stdout, 1)}): another run on this engine is likely tagging the same name at the same time; give the workflow a "concurrency:" group keyed on the image`
      )
    }
    await new Promise(resolve => setTimeout(resolve, 250 * attempt))
  }
}

/** How often `docker tag` is tried before the move fails. */
const LOCAL_TAG_ATTEMPTS = 4

/** Makes the moves in the plan's order: all per-platform tags, then the index tags; stops at the first failure. */
async function makeMoves(docker: Docker, plan: MovePlan, retry: RetryPolicy, journal: MoveJournal): Promise<void> {
  for (const kind of ['platform', 'index'] as const) {
    await forEachLimited(
      plan.moves.filter(m => m.kind === kind),
      REGISTRY_CONCURRENCY,
      async move => {
        journal.attempted.push(move.reference)
        await moveOne(docker, move, plan.preferIndex, retry, journal)
        journal.moved.push(move.reference)
      }
    )
  }
}

/** How many times a reference whose read disagrees with the journal is read again, with a growing pause between. */
export const REREAD_ROUNDS = 4

export type Sleep = (ms: number) => Promise<void>
const realSleep: Sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** The pause before re-read round `round`: the retry policy's backoff, at least a quarter second once there is one. */
function rereadDelayMs(retry: RetryPolicy, round: number): number {
  return retry.baseDelayMs === 0 ? 0 : Math.max(250, retryDelayMs(retry, round, { kind: 'transient', cause: 're-read' }))
}

/**
 * Reads every planned reference again: what it holds now, and what that means. A read that disagrees with what
 * `expected` says the reference should hold (what a move command that succeeded wrote, or a restore put back) is
 * made again, up to {@link REREAD_ROUNDS} times: a registry that could not be asked (still down), or that serves
 * the old manifest or none a moment after a write (eventual consistency), is not taken at its first word.
 */
export async function readBack(
  docker: Docker,
  moves: readonly TagMove[],
  retry: RetryPolicy,
  expected: (move: TagMove) => string | undefined = () => undefined,
  sleep: Sleep = realSleep
): Promise<MoveRecord[]> {
  const readOne = async (move: TagMove): Promise<MoveRecord> => {
    let now: string
    try {
      now = await currentDigest(docker, move.reference, retry)
    } catch (error) {
      if (error instanceof CancelledError) throw error
      return { ...move, outcome: 'unknown' as const, now: '' }
    }
    return { ...move, now, outcome: outcomeOf(move, now) }
  }
  const records = await mapLimited(moves, REGISTRY_CONCURRENCY, readOne)
  for (let round = 1; round <= REREAD_ROUNDS; round++) {
    const doubtful = records.flatMap((record, i) => {
      const wanted = expected(record)
      // a stale read serves what the reference held before, or nothing; a third digest is another writer's
      const stale = wanted !== undefined && record.now !== wanted && (record.now === record.previous || record.now === '')
      return record.outcome === 'unknown' || stale ? [i] : []
    })
    if (doubtful.length === 0) break
    await sleep(rereadDelayMs(retry, round))
    const again = await mapLimited(doubtful, REGISTRY_CONCURRENCY, i => readOne(records[i]!))
    doubtful.forEach((i, k) => (records[i] = again[k]!))
  }
  return records
}

function outcomeOf(move: TagMove, now: string): MoveOutcome {
  if (now === move.target) return 'moved'
  if (now === move.previous) return 'not-moved'
  return 'other'
}

/**
 * Points a reference at a digest of its repository, outside the plan (putting a tag back, settling a race): a
 * carbon copy with `--prefer-index=false` where buildx has it; else `imagetools create` for an index, and the
 * engine (pull, tag, push) for a per-platform manifest.
 */
async function pointTag(docker: Docker, move: TagMove, digest: string, preferIndex: boolean, retry: RetryPolicy): Promise<void> {
  const source = `${move.repository}@${digest}`
  if (preferIndex || move.kind === 'index') {
    await docker.run(imagetoolsTagArgs(move.reference, source, preferIndex), { retry })
    return
  }
  // pulled and checked as in the plan: an engine that holds the manifest rewritten would push a third digest
  await prepareLocalManifest(docker, { ...move, target: digest }, retry)
  await tagLocally(docker, source, move.reference)
  await docker.run(['push', move.reference], { retry })
}

/**
 * Puts back every reference that held something before the run and, by the read or the journal, moved or may have
 * (its move was in flight and the registry could not say); then reads each again (with re-reads where it does
 * not yet serve what was put back). Where every one ended comes from that last read, never from the command alone.
 */
async function restore(
  docker: Docker,
  records: MoveRecord[],
  preferIndex: boolean,
  retry: RetryPolicy,
  journal: MoveJournal,
  sleep: Sleep
): Promise<MoveRecord[]> {
  const toRestore = (r: MoveRecord): boolean =>
    r.previous !== '' && (r.outcome === 'moved' || (r.outcome === 'unknown' && journal.attempted.includes(r.reference)))
  const candidates = records.filter(toRestore)
  if (candidates.length === 0) return records
  const putBack = new Set<string>()
  await mapLimited(candidates, REGISTRY_CONCURRENCY, async record => {
    try {
      await pointTag(docker, record, record.previous, preferIndex, retry)
      putBack.add(record.reference)
    } catch (error) {
      if (error instanceof CancelledError) throw error
    }
  })
  const reread = await readBack(docker, candidates, retry, m => (putBack.has(m.reference) ? m.previous : undefined), sleep)
  const after = new Map(reread.map(r => [r.reference, r]))
  return records.map(record => {
    const read = after.get(record.reference)
    if (!read) return record
    const outcome: MoveOutcome =
      read.outcome === 'unknown' ? 'unknown' : read.now === record.previous ? 'restored' : read.now === record.target ? 'restore-failed' : 'other'
    return { ...read, outcome }
  })
}

/** How many rounds a run spends settling a race before it reports the tags as they are. */
const RACE_ROUNDS = 3

/**
 * Two runs moved the same tags at once: registries have no conditional tag write, so both can pass the check
 * before moving. Both settle on one run's content: the index the first repository's main tag holds (whichever
 * run moved it last). Every reference is pointed at that index or its platform's entry, and read back, a few
 * rounds at most. Returns the records and the index they settled on ('' when they did not settle).
 */
async function settleRace(
  docker: Docker,
  plan: MovePlan,
  records: MoveRecord[],
  retry: RetryPolicy
): Promise<{ records: MoveRecord[]; settledOn: string }> {
  let current = records
  for (let round = 0; round < RACE_ROUNDS; round++) {
    const anchor = current.find(r => r.kind === 'index')
    if (!anchor || anchor.now === '') break
    const winner = anchor.now
    const entries = winner === anchor.target ? undefined : platformDigests((await inspectIndex(docker, `${anchor.repository}@${winner}`, retry)).index)
    const desired = (move: TagMove): string | undefined =>
      move.kind === 'index' ? winner : entries ? entries[move.platform ?? ''] : move.target
    await forEachLimited(
      current.filter(r => desired(r) !== undefined && r.now !== desired(r)),
      REGISTRY_CONCURRENCY,
      r => pointTag(docker, r, desired(r)!, plan.preferIndex, retry)
    )
    current = await readBack(docker, plan.moves, retry)
    if (current.every(r => r.now === desired(r))) return { records: current, settledOn: winner }
  }
  return { records: current, settledOn: '' }
}

/** The tag of a reference (`repo:tag` → `tag`). */
function tagOf(move: TagMove): string {
  return move.reference.slice(move.repository.length + 1)
}

/** Whether a reference belongs to the run's main tag: `TAG` or a `TAG-ARCH` (no other run moves it without racing on `TAG`). */
function isMainTag(plan: MovePlan, move: TagMove): boolean {
  return move.kind === 'platform' || (plan.main !== undefined && tagOf(move) === plan.main)
}

/** What two runs that both claim a shared tag compare: the index's version annotation, then its creation time. */
interface Claim {
  digest: string
  version: string
  created: string
}

const VERSION_ANNOTATION = 'org.opencontainers.image.version'
const CREATED_ANNOTATION = 'org.opencontainers.image.created'

/** Compares two versions piecewise, digits as numbers (`1.25.10` after `1.25.9`, `1.25.4-1` after `1.25.4`). */
export function compareVersions(a: string, b: string): number {
  const pieces = (v: string): string[] => v.match(/\d+|\D+/g) ?? []
  const [pa, pb] = [pieces(a), pieces(b)]
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const [x, y] = [pa[i], pb[i]]
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1
    const numeric = /^\d/.test(x) && /^\d/.test(y)
    const order = numeric ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0
    if (order !== 0) return Math.sign(order)
  }
  return 0
}

/**
 * Which of two runs keeps the tags they share: the higher version (the main tag it annotates the index with),
 * then the later creation, then the larger digest; both runs apply the same rule, so they never take a tag back
 * and forth.
 */
export function strongerClaim(a: Claim, b: Claim): Claim {
  const order = compareVersions(a.version, b.version) || (a.created < b.created ? -1 : a.created > b.created ? 1 : 0) || (a.digest < b.digest ? -1 : 1)
  return order >= 0 ? a : b
}

async function claimOf(docker: Docker, repository: string, digest: string, retry: RetryPolicy): Promise<Claim> {
  let annotations: ImageIndex['annotations']
  try {
    annotations = (await inspectIndex(docker, `${repository}@${digest}`, retry)).index.annotations
  } catch (error) {
    if (error instanceof CancelledError) throw error
  }
  return { digest, version: annotations?.[VERSION_ANNOTATION] ?? '', created: annotations?.[CREATED_ANNOTATION] ?? '' }
}

/**
 * Another run moved tags this run shares with it (not its main tag): both settle on the stronger claim
 * ({@link strongerClaim}). The winner points every shared tag another run holds back at its index; the loser
 * points the shared tags it still holds at the winner's index (where that repository has it) and leaves the rest.
 * Returns the records as read at the end, and the winning index.
 */
async function settleShared(
  docker: Docker,
  plan: MovePlan,
  records: MoveRecord[],
  retry: RetryPolicy,
  sleep: Sleep
): Promise<{ records: MoveRecord[]; winner: Claim; ours: Claim }> {
  const contested = records.filter(r => r.outcome === 'other' && r.now !== '')
  const first = contested[0]!
  const ours = await claimOf(docker, first.repository, first.target, retry)
  let winner = ours
  for (const digest of new Set(contested.map(r => r.now))) {
    const holder = contested.find(r => r.now === digest)!
    winner = strongerClaim(winner, await claimOf(docker, holder.repository, digest, retry))
  }
  const contestedTags = new Set(contested.map(tagOf))
  const shared = records.filter(r => r.kind === 'index' && !isMainTag(plan, r) && contestedTags.has(tagOf(r)))
  const desired = new Map<string, string>()
  if (winner.digest === ours.digest) {
    for (const r of shared) desired.set(r.reference, r.target)
  } else {
    for (const r of shared.filter(r => r.now === r.target)) {
      if ((await currentDigest(docker, `${r.repository}@${winner.digest}`, retry).catch(() => '')) === winner.digest) desired.set(r.reference, winner.digest)
    }
  }
  await mapLimited(
    shared.filter(r => desired.has(r.reference) && r.now !== desired.get(r.reference)),
    REGISTRY_CONCURRENCY,
    r => pointTag(docker, r, desired.get(r.reference)!, plan.preferIndex, retry).catch((error: unknown) => {
      if (error instanceof CancelledError) throw error
    })
  )
  const sharedReferences = new Set(shared.map(r => r.reference))
  const reread = await readBack(docker, plan.moves, retry, m => desired.get(m.reference) ?? (sharedReferences.has(m.reference) ? undefined : m.target), sleep)
  return { records: reread, winner, ours }
}

/**
 * How long a run that moved tags shared with other runs waits before it reads them once more: another run that
 * moved them at the same time and keeps them (the stronger claim) points them back within that time, and this run
 * then reports them as that run's, never as its own.
 */
export const SHARED_SETTLE_MS = 5000

/** Reads the shared tags that read back as this run's once more, after {@link SHARED_SETTLE_MS}. */
async function rereadShared(docker: Docker, plan: MovePlan, records: MoveRecord[], retry: RetryPolicy, sleep: Sleep): Promise<MoveRecord[]> {
  const shared = records.flatMap((r, i) => (r.kind === 'index' && !isMainTag(plan, r) && r.outcome === 'moved' && r.previous !== r.target ? [i] : []))
  if (shared.length === 0 || records.some(r => r.outcome !== 'moved')) return records
  await sleep(retry.baseDelayMs === 0 ? 0 : SHARED_SETTLE_MS)
  const again = await readBack(docker, shared.map(i => records[i]!), retry, m => m.target, sleep)
  const updated = [...records]
  shared.forEach((i, k) => (updated[i] = again[k]!))
  return updated
}

/**
 * Moves every tag of the plan, reads every reference back, and on any failure reconciles: reads every planned
 * reference again, puts back what it can, and throws a {@link MoveError} whose records say where each ended.
 * A cancelled job stops here: no restore or read-back starts once it is cancelled (the report is the journal's).
 */
export async function executeMoves(
  docker: Docker,
  plan: MovePlan,
  retry: RetryPolicy,
  journal: MoveJournal,
  sleep: Sleep = realSleep
): Promise<MoveRecord[]> {
  let failure: unknown
  try {
    await makeMoves(docker, plan, retry, journal)
  } catch (error) {
    if (error instanceof CancelledError) throw error
    failure = error
  }
  // what a move command that succeeded wrote is what the registry must serve: a read that says otherwise is read again
  const wrote = (m: TagMove): string | undefined => (journal.moved.includes(m.reference) ? m.target : undefined)
  let records = await readBack(docker, plan.moves, retry, wrote, sleep)
  records = await rereadShared(docker, plan, records, retry, sleep)
  const astray = records.filter(r => r.outcome !== 'moved')
  const others = astray.filter(r => r.outcome === 'other')
  if (others.some(r => r.now !== '') && failure === undefined && !others.some(r => isMainTag(plan, r))) {
    core.warning(`another run moved ${others.map(r => r.reference).join(', ')} at the same time: settling the tags both runs publish on one run's index`)
    const settled = await settleShared(docker, plan, records, retry, sleep)
    records = settled.records
    journal.records = records
    const taken = records.filter(r => r.outcome !== 'moved')
    if (taken.length === 0) return records
    const wonBy = settled.winner.digest === settled.ours.digest ? undefined : settled.winner
    throw new MoveError(
      wonBy
        ? `another run published ${wonBy.digest}${wonBy.version ? ` (${wonBy.version})` : ''} to ${taken.map(r => r.reference).join(', ')} at the same time, and it keeps ${taken.length === 1 ? 'that tag' : 'those tags'} (the higher version wins a tag two runs share); this run's other tags hold its content: ${describeOutcome(records)}. Publish a shared tag such as "latest" from one job only, or give the workflow a "concurrency:" group keyed on the image`
        : `another run moved ${taken.map(r => r.reference).join(', ')} at the same time and they did not settle on this run's index; ${describeOutcome(records)}. Re-run this job to publish every tag, and give the workflow a "concurrency:" group keyed on the image`,
      records
    )
  }
  if (others.length > 0 && others.some(r => isMainTag(plan, r))) {
    core.warning(`another run moved ${others.map(r => r.reference).join(', ')} at the same time: settling every tag on one run's content`)
    const settled = await settleRace(docker, plan, records, retry)
    records = settled.records
    journal.records = records
    const ours = plan.moves.find(m => m.kind === 'index')?.target
    if (settled.settledOn !== '' && settled.settledOn === ours) {
      if (failure !== undefined) core.warning(`a tag move had failed (${errorMessage(failure)}); after settling, every tag holds this run's content`)
      return records
    }
    throw new MoveError(
      settled.settledOn !== ''
        ? `another run published ${settled.settledOn} to the same tags at the same time, and its content holds every tag now (TAG and each TAG-ARCH agree): this run's index ${ours ?? ''} is published by digest only. Give the workflow a "concurrency:" group keyed on the image so runs publish one at a time`
        : `another run moved the same tags at the same time and they did not settle on one run's content; ${describeOutcome(records)}. Re-run one of the runs to publish every tag consistently, and give the workflow a "concurrency:" group keyed on the image`,
      records
    )
  }
  if (failure === undefined && astray.length === 0) {
    journal.records = records
    return records
  }
  const reconciled = await restore(docker, records, plan.preferIndex, retry, journal, sleep)
  journal.records = reconciled
  const cause =
    failure !== undefined
      ? errorMessage(failure)
      : `after moving, ${astray.map(r => (r.outcome === 'unknown' ? `${r.reference} could not be read back` : `${r.reference} ${r.outcome === 'other' ? 'holds another run\'s' : 'still holds'} ${r.now || 'nothing'}`)).join(', ')}, not what this run moved it to`
  throw new MoveError(`${cause}; ${describeOutcome(reconciled)}`, reconciled, { cause: failure })
}

/** One sentence on where the references ended, for the error line (the summary has the table). */
export function describeOutcome(records: readonly MoveRecord[]): string {
  const count = (outcome: MoveOutcome): MoveRecord[] => records.filter(r => r.outcome === outcome)
  const parts = [`${count('moved').length + count('restored').length + count('restore-failed').length} of ${records.length} tag(s) had moved`]
  if (count('restored').length) parts.push(`${count('restored').length} put back to their previous digest`)
  const created = count('moved').filter(r => r.previous === '')
  if (created.length) {
    parts.push(
      `${created.map(r => r.reference).join(', ')} ${created.length === 1 ? 'was' : 'were'} created by this run and still point${created.length === 1 ? 's' : ''} at its content (a tag cannot be deleted portably; re-run the job to complete the publish)`
    )
  }
  const stuck = [...count('moved').filter(r => r.previous !== ''), ...count('restore-failed')]
  if (stuck.length) parts.push(`${stuck.map(r => r.reference).join(', ')} could not be put back and point${stuck.length === 1 ? 's' : ''} at this run's content`)
  if (count('other').length) parts.push(`${count('other').map(r => r.reference).join(', ')} now hold another run's content`)
  if (count('unknown').length) parts.push(`${count('unknown').map(r => r.reference).join(', ')} could not be read back`)
  return parts.join('; ')
}
