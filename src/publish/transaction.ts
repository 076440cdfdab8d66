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
 * extra tag) on the index of the higher version, the same rule for both runs, and the run that yields it fails. A
 * run that cannot finish settling puts back what it moved and says which tags another run holds.
 *
 * A cancelled job (cancel.ts) puts back what this run moved within the cancel's window, or, where the window is
 * too short, stops there and says which `TAG-ARCH` disagree with their `TAG`.
 */
import * as core from '@actions/core'
import { cancelWindowMs, CancelledError, describeArgs, DockerCommandError, isCancelled, lastLines, withLayerBound, type CommandResult, type Docker } from '../core/docker.js'
import { errorMessage } from '../core/errors.js'
import { forEachLimited, mapLimited, REGISTRY_CONCURRENCY } from '../core/limit.js'
import type { StagedIndex } from './publish.js'
import { currentDigest, inspectIndex, platformDigests, type ImageIndex } from '../core/registry.js'
import { NO_RETRY, retryDelayMs, type RetryPolicy } from '../core/retry.js'

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
   * The local names, one group per image (a pulled `repo@digest` and the `TAG-ARCH` tags pushed from it, in every
   * repository), for one `docker image rm` each; names of no planned move (put back elsewhere) form the last group.
   */
  localNameGroups(): string[][] {
    const groups = new Map<string, string[]>()
    const rest: string[] = []
    for (const name of this.localNames) {
      const move = this.plan?.moves.find(m => m.kind === 'platform' && (name === m.reference || name === `${m.repository}@${m.target}`))
      if (!move) rest.push(name)
      else groups.set(move.target, [...(groups.get(move.target) ?? []), name])
    }
    return [...groups.values(), ...(rest.length > 0 ? [rest] : [])]
  }

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
 * would push a rewritten one, so this is checked here, before any tag moves. Another run on this engine may remove
 * the pulled name (its cleanup) between the pull and the check: it is pulled again, a few times.
 */
async function prepareLocalManifest(docker: Docker, move: Pick<TagMove, 'repository' | 'reference' | 'target'>, retry: RetryPolicy): Promise<void> {
  const source = `${move.repository}@${move.target}`
  let held = ''
  for (let attempt = 1; attempt <= LOCAL_ATTEMPTS && held === ''; attempt++) {
    // not --quiet: each layer's line is the progress that keeps the transfer's bound from expiring
    await docker.run(['pull', source], { ...withLayerBound(retry), silent: true })
    // inspected by digest, not by the tag's local name, which another run on this engine may tag at the same time
    const inspected = await docker.run(['image', 'inspect', '--format', '{{.Id}}', source], { silent: true, allowFailure: true })
    if (inspected.exitCode === 0) held = inspected.stdout.trim() || 'an unknown image'
    else if (!isNoSuchImage(inspected)) throw new DockerCommandError(['image', 'inspect', source], inspected)
  }
  if (held === '') throw new Error(`the engine lost ${source} each time it was pulled: another run on this engine removes it at the same time; give the workflow a "concurrency:" group keyed on the image`)
  if (held !== move.target) {
    throw new Error(
      `the engine holds ${move.target} as ${held}, so pushing ${move.reference} would publish a rewritten manifest; no tag moved: use a buildx with "imagetools create --prefer-index" (input "buildx-version"), or an engine with the containerd image store; set "platform-tags: false" to publish without per-platform tags`
    )
  }
}

/** How many times the engine path pulls, tags or pushes one manifest before it gives up (another run on the engine in the way). */
const LOCAL_ATTEMPTS = 4

/** Whether a failed local command found no such image or tag (another run on this engine removed it). */
function isNoSuchImage(result: CommandResult): boolean {
  return /no such image|tag does not exist|does not exist locally/i.test(`${result.stderr}\n${result.stdout}`)
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
  // what every tag holds now is read while buildx is asked what it can do and, without it, the engine pulls each
  // platform manifest (independent: neither reads what the other does)
  const reading = mapLimited(moves, REGISTRY_CONCURRENCY, m => currentDigest(docker, m.reference, retry))
  reading.catch(() => undefined)
  const preferIndex = platformMoves.length > 0 && (await supportsPreferIndex(docker))
  if (!preferIndex) {
    // the pulled manifests are local names of this run too (`repo@digest`), removed with the others
    for (const m of platformMoves) if (!journal.localNames.includes(`${m.repository}@${m.target}`)) journal.localNames.push(`${m.repository}@${m.target}`)
    await forEachLimited(platformMoves, REGISTRY_CONCURRENCY, m => prepareLocalManifest(docker, m, retry))
  }
  const previous = await reading
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

/** What the steps of the move phase share: the commands, the plan, the retries, the journal, the pauses. */
interface Mover {
  docker: Docker
  plan: MovePlan
  retry: RetryPolicy
  journal: MoveJournal
  sleep: Sleep
}

/** Points one reference at its target, as the plan says (pulled and checked in the plan on the engine path). */
async function moveOne(m: Mover, move: TagMove): Promise<void> {
  if (move.kind === 'index' || m.plan.preferIndex) {
    await m.docker.run(imagetoolsTagArgs(move.reference, `${move.repository}@${move.target}`, move.kind === 'platform'), { retry: m.retry })
    return
  }
  await pushLocalManifest(m, move, move.target)
}

/**
 * The engine path points `reference` at the manifest `digest` of its repository, pulled by digest: tagged under the
 * reference, then pushed. Another run on this engine can, in between, remove the pulled name (its cleanup), tag the
 * same local name (its own move; the engine refuses one of two tags made at once) or remove it: a missing image is
 * pulled again, a refused tag made again, and a push that sent another digest (`docker push` prints the one it
 * sent) made again, a few times. What the registry holds in the end is what the read-back compares.
 */
async function pushLocalManifest(m: Mover, move: Pick<TagMove, 'repository' | 'reference'>, digest: string): Promise<void> {
  const source = `${move.repository}@${digest}`
  let problem = ''
  for (let attempt = 1; attempt <= LOCAL_ATTEMPTS; attempt++) {
    if (attempt > 1) await m.sleep(250 * attempt)
    const tagged = await m.docker.run(['tag', source, move.reference], { allowFailure: true })
    if (tagged.exitCode !== 0) {
      problem = lastLines(tagged.stderr || tagged.stdout, 1)
      if (isNoSuchImage(tagged)) await prepareLocalManifest(m.docker, { ...move, target: digest }, m.retry)
      continue
    }
    if (!m.journal.localNames.includes(move.reference)) m.journal.localNames.push(move.reference)
    let pushed: CommandResult
    try {
      pushed = await m.docker.run(['push', move.reference], { retry: m.retry })
    } catch (error) {
      if (!(error instanceof DockerCommandError) || !isNoSuchImage(error.result)) throw error
      problem = lastLines(error.result.stderr || error.result.stdout, 1)
      continue
    }
    const sent = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1]
    if (sent === undefined || sent === digest) return
    problem = `it pushed ${sent} instead`
  }
  throw new Error(
    `the engine could not push ${move.reference} as ${digest} (${problem}): another run on this engine is likely moving the same tag at the same time; give the workflow a "concurrency:" group keyed on the image`
  )
}

/** Makes the moves in the plan's order: all per-platform tags, then the index tags; stops at the first failure. */
async function makeMoves(m: Mover): Promise<void> {
  for (const kind of ['platform', 'index'] as const) {
    await forEachLimited(
      m.plan.moves.filter(move => move.kind === kind),
      REGISTRY_CONCURRENCY,
      async move => {
        m.journal.attempted.push(move.reference)
        await moveOne(m, move)
        m.journal.moved.push(move.reference)
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
async function pointTag(m: Mover, move: TagMove, digest: string): Promise<void> {
  if (m.plan.preferIndex || move.kind === 'index') {
    await m.docker.run(imagetoolsTagArgs(move.reference, `${move.repository}@${digest}`, m.plan.preferIndex), { retry: m.retry })
    return
  }
  // pulled and checked as in the plan: an engine that holds the manifest rewritten would push a third digest
  await prepareLocalManifest(m.docker, { ...move, target: digest }, m.retry)
  await pushLocalManifest(m, move, digest)
}

/**
 * Puts back every reference that held something before the run and, by the read or the journal, moved or may have
 * (its move was in flight and the registry could not say); then reads each again (with re-reads where it does
 * not yet serve what was put back). Where every one ended comes from that last read, never from the command alone.
 * A reference another run holds now is left to it.
 */
async function restore(m: Mover, records: MoveRecord[]): Promise<MoveRecord[]> {
  const toRestore = (r: MoveRecord): boolean =>
    r.previous !== '' && (r.outcome === 'moved' || (r.outcome === 'unknown' && m.journal.attempted.includes(r.reference)))
  const candidates = records.filter(toRestore)
  if (candidates.length === 0) return records
  const putBack = new Set<string>()
  await forEachLimited(candidates, REGISTRY_CONCURRENCY, async record => {
    try {
      await pointTag(m, record, record.previous)
      putBack.add(record.reference)
    } catch (error) {
      if (error instanceof CancelledError) throw error
    }
  })
  const reread = await readBack(m.docker, candidates, m.retry, r => (putBack.has(r.reference) ? r.previous : undefined), m.sleep)
  return afterPutBack(records, reread, putBack)
}

/**
 * The records once some were put back, from their last read: restored (what it held before, after a put-back, or
 * after a move known to have landed), not moved (a move that may have landed, no put-back made), restore-failed,
 * another run's, or unknown.
 */
function afterPutBack(records: readonly MoveRecord[], reread: readonly MoveRecord[], made: ReadonlySet<string>): MoveRecord[] {
  const after = new Map(reread.map(r => [r.reference, r]))
  return records.map(record => {
    const read = after.get(record.reference)
    if (!read) return record
    const back = made.has(record.reference) || record.outcome === 'moved'
    const outcome: MoveOutcome =
      read.outcome === 'unknown' ? 'unknown' : read.now === record.previous ? (back ? 'restored' : 'not-moved') : read.now === record.target ? 'restore-failed' : 'other'
    return { ...read, outcome }
  })
}

/** How many rounds a run spends settling a race before it reports the tags as they are. */
const RACE_ROUNDS = 3

/**
 * Two runs moved the same tags at once: registries have no conditional tag write, so both can pass the check
 * before moving. Both settle on one run's content: the index the first repository's main tag holds (whichever
 * run moved it last). Every reference is pointed at that index or its platform's entry, and read back, a few
 * rounds at most; a read or a move that fails in a round (the registry, or the other run on this engine removing a
 * name) is made again in the next. Returns the records and the index they settled on ('' when they did not settle).
 */
async function settleRace(m: Mover, records: MoveRecord[]): Promise<{ records: MoveRecord[]; settledOn: string }> {
  let current = records
  for (let round = 0; round < RACE_ROUNDS; round++) {
    if (round > 0) await m.sleep(rereadDelayMs(m.retry, round))
    const anchor = current.find(r => r.kind === 'index')
    if (!anchor || anchor.now === '') break
    const winner = anchor.now
    let entries: Record<string, string> | undefined
    if (winner !== anchor.target) {
      try {
        entries = platformDigests((await inspectIndex(m.docker, `${anchor.repository}@${winner}`, m.retry)).index)
      } catch (error) {
        if (error instanceof CancelledError) throw error
        current = await readBack(m.docker, m.plan.moves, m.retry, undefined, m.sleep)
        continue
      }
    }
    const desired = (move: TagMove): string | undefined => (move.kind === 'index' ? winner : entries ? entries[move.platform ?? ''] : move.target)
    await forEachLimited(
      current.filter(r => desired(r) !== undefined && r.now !== desired(r)),
      REGISTRY_CONCURRENCY,
      async r => {
        try {
          await pointTag(m, r, desired(r)!)
        } catch (error) {
          if (error instanceof CancelledError) throw error
          core.warning(`settling ${r.reference} on ${desired(r)!} failed (tried again): ${errorMessage(error)}`)
        }
      }
    )
    current = await readBack(m.docker, m.plan.moves, m.retry, desired, m.sleep)
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
async function settleShared(m: Mover, records: MoveRecord[]): Promise<{ records: MoveRecord[]; winner: Claim; ours: Claim }> {
  const { docker, plan, retry } = m
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
    r => pointTag(m, r, desired.get(r.reference)!).catch((error: unknown) => {
      if (error instanceof CancelledError) throw error
    })
  )
  const sharedReferences = new Set(shared.map(r => r.reference))
  const reread = await readBack(docker, plan.moves, retry, r => desired.get(r.reference) ?? (sharedReferences.has(r.reference) ? undefined : r.target), m.sleep)
  return { records: reread, winner, ours }
}

/**
 * How long a run that moved tags shared with other runs waits before it reads them once more: another run that
 * moved them at the same time and keeps them (the stronger claim) points them back within that time, and this run
 * then reports them as that run's, never as its own.
 */
export const SHARED_SETTLE_MS = 5000

/** Reads the shared tags that read back as this run's once more, after {@link SHARED_SETTLE_MS}. */
async function rereadShared(m: Mover, records: MoveRecord[]): Promise<MoveRecord[]> {
  const shared = records.flatMap((r, i) => (r.kind === 'index' && !isMainTag(m.plan, r) && r.outcome === 'moved' && r.previous !== r.target ? [i] : []))
  if (shared.length === 0 || records.some(r => r.outcome !== 'moved')) return records
  await m.sleep(m.retry.baseDelayMs === 0 ? 0 : SHARED_SETTLE_MS)
  const again = await readBack(m.docker, shared.map(i => records[i]!), m.retry, r => r.target, m.sleep)
  const updated = [...records]
  shared.forEach((i, k) => (updated[i] = again[k]!))
  return updated
}

/**
 * Moves every tag of the plan, reads every reference back, and on any failure reconciles: reads every planned
 * reference again, puts back what it can, and throws a {@link MoveError} whose records say where each ended.
 * A cancelled job puts back what this run moved within the cancel's window ({@link putBackAfterCancel}).
 */
export async function executeMoves(
  docker: Docker,
  plan: MovePlan,
  retry: RetryPolicy,
  journal: MoveJournal,
  sleep: Sleep = realSleep,
  clock: () => number = Date.now
): Promise<MoveRecord[]> {
  const m: Mover = { docker, plan, retry, journal, sleep }
  try {
    return await moveAndSettle(m)
  } catch (error) {
    if (!isCancelled()) throw error
    throw await putBackAfterCancel(m, clock)
  }
}

/** The moves, their read-back, and what a failure or another run's moves call for. */
async function moveAndSettle(m: Mover): Promise<MoveRecord[]> {
  const { docker, plan, retry, journal, sleep } = m
  let failure: unknown
  try {
    await makeMoves(m)
  } catch (error) {
    if (error instanceof CancelledError) throw error
    failure = error
  }
  // what a move command that succeeded wrote is what the registry must serve: a read that says otherwise is read again
  const wrote = (move: TagMove): string | undefined => (journal.moved.includes(move.reference) ? move.target : undefined)
  let records = await readBack(docker, plan.moves, retry, wrote, sleep)
  records = await rereadShared(m, records)
  const astray = records.filter(r => r.outcome !== 'moved')
  const others = astray.filter(r => r.outcome === 'other')
  if (others.some(r => r.now !== '') && failure === undefined && !others.some(r => isMainTag(plan, r))) {
    core.warning(`another run moved ${others.map(r => r.reference).join(', ')} at the same time: settling the tags both runs publish on one run's index`)
    const settled = await settleShared(m, records)
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
    const settled = await settleRace(m, records)
    records = settled.records
    journal.records = records
    const ours = plan.moves.find(move => move.kind === 'index')?.target
    if (settled.settledOn !== '' && settled.settledOn === ours) {
      if (failure !== undefined) core.warning(`a tag move had failed (${errorMessage(failure)}); after settling, every tag holds this run's content`)
      return records
    }
    if (settled.settledOn !== '') {
      throw new MoveError(
        `another run published ${settled.settledOn} to the same tags at the same time, and its content holds every tag now (TAG and each TAG-ARCH agree): this run's index ${ours ?? ''} is published by digest only. Give the workflow a "concurrency:" group keyed on the image so runs publish one at a time`,
        records
      )
    }
    // the runs did not settle: this run takes its own content out of the tags, so what is left is the other run's
    // or what the tags held before, and says which
    records = await restore(m, records)
    journal.records = records
    throw new MoveError(
      `another run moved the same tags at the same time and they did not settle on one run's content; this run put back what it had moved: ${describeOutcome(records)}${disagreement(plan, records)}. Re-run one of the runs to publish every tag consistently, and give the workflow a "concurrency:" group keyed on the image`,
      records
    )
  }
  if (failure === undefined && astray.length === 0) {
    journal.records = records
    return records
  }
  const reconciled = await restore(m, records)
  journal.records = reconciled
  const cause =
    failure !== undefined
      ? errorMessage(failure)
      : `after moving, ${astray.map(r => (r.outcome === 'unknown' ? `${r.reference} could not be read back` : `${r.reference} ${r.outcome === 'other' ? 'holds another run\'s' : 'still holds'} ${r.now || 'nothing'}`)).join(', ')}, not what this run moved it to`
  throw new MoveError(`${cause}; ${describeOutcome(reconciled)}`, reconciled, { cause: failure })
}

/**
 * How much of the cancel's window is kept for the last read of the references a cancelled run put back (a third of
 * a shorter window): the put-backs that have not ended by then are killed, and the read says where each ended.
 */
export const CANCEL_LAST_READ_MS = 1500

/**
 * The job was cancelled during the moves (the moves running then are killed, no further one starts). Within the
 * cancel's window (docker.ts, {@link cancelWindowMs}): every planned reference is read; unless every one holds this
 * run's content (a complete publish is kept), every reference that holds it, or may (its move was killed and the
 * read could not tell), and held something before is put back; then those are read again. What does not fit in the
 * window is not started, or is killed at its end; the records say what is known of each reference then (a second
 * signal ends it at once), and the error says which `TAG-ARCH` disagree with their `TAG`.
 */
async function putBackAfterCancel(m: Mover, clock: () => number): Promise<MoveError> {
  const window = cancelWindowMs(clock())
  const end = clock() + window
  // each command runs only while its step has time left, and is bounded by it
  const until = (deadline: number): Mover => ({
    ...m,
    retry: NO_RETRY,
    docker: {
      run: (args, options = {}) => {
        const left = deadline - clock()
        if (left <= 0) return Promise.reject(new CancelledError(`docker ${describeArgs(args)} was not started: the cancel's window had passed`))
        return m.docker.run(args, { ...options, retry: NO_RETRY, afterCancel: true, timeout: { seconds: left / 1000 } })
      }
    }
  })
  const known = new Map(m.journal.snapshot().map(r => [r.reference, r]))
  const read = async (move: TagMove, deadline: number): Promise<MoveRecord | undefined> => {
    try {
      const now = await currentDigest(until(deadline).docker, move.reference)
      return { ...move, now, outcome: outcomeOf(move, now) }
    } catch {
      return undefined
    }
  }
  const putBackBy = end - Math.min(CANCEL_LAST_READ_MS, window / 3)
  for (const record of await mapLimited(m.plan.moves, REGISTRY_CONCURRENCY, move => read(move, putBackBy))) {
    if (record) known.set(record.reference, record)
  }
  let records = m.plan.moves.map(move => known.get(move.reference)!)
  const complete = records.every(r => r.outcome === 'moved')
  if (!complete) {
    const toPutBack = records.filter(r => r.previous !== '' && (r.outcome === 'moved' || (r.outcome === 'unknown' && m.journal.attempted.includes(r.reference))))
    // each put-back: made, not started (refused: the registry is as read), or failed or killed (it may have landed)
    const putBack = new Map<string, 'made' | 'not-started' | 'failed'>()
    await forEachLimited(toPutBack, REGISTRY_CONCURRENCY, async r => {
      await pointTag(until(putBackBy), r, r.previous).then(
        () => putBack.set(r.reference, 'made'),
        (error: unknown) => putBack.set(r.reference, error instanceof CancelledError ? 'not-started' : 'failed')
      )
    })
    const reread = await mapLimited(toPutBack, REGISTRY_CONCURRENCY, async r => {
      const again = await read(r, end)
      if (again) return again
      // not read again in time: what the put-back command said
      const made = putBack.get(r.reference)
      return made === 'made' ? { ...r, now: r.previous, outcome: 'not-moved' as const } : made === 'not-started' ? r : { ...r, now: '', outcome: 'unknown' as const }
    })
    records = afterPutBack(records, reread, new Set([...putBack].flatMap(([reference, made]) => (made === 'made' ? [reference] : []))))
  }
  m.journal.records = records
  return new MoveError(
    complete
      ? `every tag had moved before the cancel: ${records.map(r => r.reference).join(', ')} hold this run's content`
      : `this run put back what it had moved, as far as the cancel's window let it: ${describeOutcome(records)}${disagreement(m.plan, records)}`,
    records
  )
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
  if (count('other').length) parts.push(`${count('other').map(r => r.reference).join(', ')} now hold${count('other').length === 1 ? 's' : ''} another run's content`)
  if (count('unknown').length) parts.push(`${count('unknown').map(r => r.reference).join(', ')} could not be read back`)
  return parts.join('; ')
}

/**
 * The `TAG-ARCH` that disagree with their repository's `TAG`, as the records tell: `TAG` holds this run's index
 * while a `TAG-ARCH` does not hold this run's manifest, or `TAG` holds what it held before while a `TAG-ARCH` holds
 * this run's manifest or another run's. '' when they agree (or `TAG` is not among the records); else a clause
 * naming each, to follow {@link describeOutcome}.
 */
export function disagreement(plan: MovePlan, records: readonly MoveRecord[]): string {
  if (!plan.main) return ''
  const holds = (r: MoveRecord): string =>
    r.outcome === 'unknown' ? 'what could not be read' : r.now === r.target ? "this run's content" : r.now === r.previous ? (r.previous ? 'what it held before' : 'nothing') : "another run's content"
  const clauses: string[] = []
  for (const repository of new Set(records.map(r => r.repository))) {
    const main = records.find(r => r.repository === repository && r.kind === 'index' && tagOf(r) === plan.main)
    if (!main || main.outcome === 'unknown') continue
    const agrees = (r: MoveRecord): boolean => (main.now === main.target && r.now === r.target) || (main.now === main.previous && r.now === r.previous)
    const off = records.filter(r => r.repository === repository && r.kind === 'platform' && !agrees(r))
    if (off.length === 0) continue
    clauses.push(`${main.reference} holds ${holds(main)} while ${off.map(r => `${r.reference} holds ${holds(r)}`).join(', ')}`)
  }
  return clauses.length === 0 ? '' : `; TAG and TAG-ARCH disagree: ${clauses.join('; ')} (a re-run publishes them again)`
}
