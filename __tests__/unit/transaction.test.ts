import { afterEach, describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { CANCEL_WINDOW_MS } from '../../src/core/cancel.js'
import { cancelCommands, DockerCommandError, isCancelled, refuseIfCancelled, resetCancelForTests, stopCommands } from '../../src/core/docker.js'
import { sha256Digest } from '../../src/core/registry.js'
import { NO_RETRY } from '../../src/core/retry.js'
import { CANCEL_LAST_READ_MS, compareVersions, describeOutcome, executeMoves, MoveError, MoveJournal, orderedMoves, planMoves, strongerClaim, type MovePlan, type MoveRecord } from '../../src/publish/transaction.js'

const RAW = {
  index: '{"manifests":[]}',
  oldIndex: '{"manifests":[1]}',
  amd64: '{"amd64":1}',
  s390x: '{"s390x":1}',
  oldAmd64: '{"amd64":0}',
  otherAmd64: '{"amd64":2}',
  otherS390x: '{"s390x":0}'
}
const D = Object.fromEntries(Object.entries(RAW).map(([k, v]) => [k, sha256Digest(v)])) as Record<keyof typeof RAW | 'otherIndex', string>
/** The index another run published at the same time. */
const OTHER_INDEX = JSON.stringify({
  schemaVersion: 2,
  manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D.oldAmd64, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D.otherS390x, size: 1, platform: { os: 'linux', architecture: 's390x' } }
  ]
})
D.otherIndex = sha256Digest(OTHER_INDEX)
const PLATFORM_DIGESTS = { 'linux/amd64': D.amd64, 'linux/s390x': D.s390x }
const TAGS = { indexTags: ['t'], platformTags: { 'linux/amd64': 't-amd64', 'linux/s390x': 't-s390x' }, seen: {} }

/** A registry in memory behind a fake docker CLI: `imagetools inspect --raw` and `imagetools create`. */
function registry(tags: Record<string, string>, options: { preferIndex?: boolean; failing?: string[] } = {}) {
  const byDigest = new Map([...Object.values(RAW), OTHER_INDEX].map(raw => [sha256Digest(raw), raw]))
  const held = new Map(Object.entries(tags))
  const creates: string[] = []
  const docker = new FakeDocker()
    .on(['buildx', 'imagetools', 'create', '--help'], { stdout: options.preferIndex === false ? '' : '  --prefer-index' })
    .on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
      const reference = args[4]!
      const digest = reference.includes('@') ? reference.split('@')[1]! : held.get(reference)
      const raw = digest ? byDigest.get(digest) : undefined
      return raw === undefined ? { exitCode: 1, stderr: `ERROR: ${reference}: not found` } : { stdout: raw }
    })
    .on(['buildx', 'imagetools', 'create'], args => {
      const target = args[args.indexOf('--tag') + 1]!
      if (options.failing?.includes(target)) return { exitCode: 1, stderr: 'unexpected status from PUT request: 403 Forbidden' }
      creates.push(target)
      held.set(target, args.at(-1)!.split('@')[1]!)
      return {}
    })
  return { docker, held, creates }
}

const staged = { digest: D.index, repositories: ['r1', 'r2'] }

describe('orderedMoves', () => {
  it('lists every per-platform tag in every repository, then every index tag', () => {
    expect(orderedMoves(staged, ['t', 'latest'], TAGS.platformTags, PLATFORM_DIGESTS).map(m => m.reference)).toEqual([
      'r1:t-amd64', 'r1:t-s390x', 'r2:t-amd64', 'r2:t-s390x', 'r1:t', 'r1:latest', 'r2:t', 'r2:latest'
    ])
  })

  it('refuses, before anything moves, a platform the index has no manifest for', () => {
    expect(() => orderedMoves(staged, ['t'], { 'linux/arm64': 't-arm64' }, PLATFORM_DIGESTS)).toThrow(
      'the index has no manifest for linux/arm64, so r1:t-arm64 cannot be published; no tag moved'
    )
  })
})

describe('planMoves + executeMoves', () => {
  it('records what every tag held, moves per-platform tags before index tags, and reads every one back', async () => {
    const { docker, creates } = registry({ 'r1:t': D.oldIndex, 'r1:t-amd64': D.oldAmd64 })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    expect(plan.moves.map(m => [m.reference, m.previous])).toEqual([
      ['r1:t-amd64', D.oldAmd64], ['r1:t-s390x', ''], ['r2:t-amd64', ''], ['r2:t-s390x', ''], ['r1:t', D.oldIndex], ['r2:t', '']
    ])
    const records = await executeMoves(docker, plan, NO_RETRY, journal)
    expect(records.every(r => r.outcome === 'moved' && r.now === r.target)).toBe(true)
    expect(creates.slice(0, 4).sort()).toEqual(['r1:t-amd64', 'r1:t-s390x', 'r2:t-amd64', 'r2:t-s390x'])
    expect(creates.slice(4)).toEqual(['r1:t', 'r2:t'])
    expect(docker.calls.find(c => c.args.includes('r1:t-amd64') && c.args[2] === 'create')?.args).toEqual([
      'buildx', 'imagetools', 'create', '--prefer-index=false', '--tag', 'r1:t-amd64', `r1@${D.amd64}`
    ])
  })

  it('a failed move: stops, puts back what held something before, and reports every reference', async () => {
    const { docker, held } = registry({ 'r1:t': D.oldIndex, 'r1:t-amd64': D.oldAmd64 }, { failing: ['r2:t'] })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    const error = await executeMoves(docker, plan, NO_RETRY, journal).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MoveError)
    const outcomes = Object.fromEntries((error as MoveError).records.map(r => [r.reference, r.outcome]))
    expect(outcomes).toEqual({
      'r1:t-amd64': 'restored',
      'r1:t-s390x': 'moved',
      'r2:t-amd64': 'moved',
      'r2:t-s390x': 'moved',
      'r1:t': 'restored',
      'r2:t': 'not-moved'
    })
    expect(held.get('r1:t')).toBe(D.oldIndex)
    expect(held.get('r1:t-amd64')).toBe(D.oldAmd64)
    expect((error as Error).message).toMatch(/403 Forbidden.*; 5 of 6 tag\(s\) had moved; 2 put back to their previous digest; r1:t-s390x, r2:t-amd64, r2:t-s390x were created by this run and still point at its content \(a tag cannot be deleted portably/)
    expect(journal.snapshot()).toBe((error as MoveError).records)
  })

  it('a failed per-platform move: no index tag moves', async () => {
    const { docker, creates } = registry({}, { failing: ['r2:t-s390x'] })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    await expect(executeMoves(docker, plan, NO_RETRY, journal)).rejects.toThrow(MoveError)
    expect(creates.filter(c => c === 'r1:t' || c === 'r2:t')).toEqual([])
  })

  it('refuses to move when the main tag no longer holds what the tag planner saw (another run took it)', async () => {
    const { docker, creates } = registry({ 'r2:t': D.oldIndex })
    const seen = { 'r1:t': '', 'r2:t': '' }
    await expect(planMoves(docker, staged, { ...TAGS, seen }, PLATFORM_DIGESTS, NO_RETRY, new MoveJournal())).rejects.toThrow(
      /^r2:t was free when this run chose its tag, and now holds sha256:.*another run is publishing the same tag; no tag moved.*"concurrency:" group/
    )
    expect(creates).toEqual([])
  })

  /** Runs `during` once, right after the first imagetools create that moves `reference`: another run's move. */
  function anotherRunMoves(docker: FakeDocker, reference: string, during: () => void): void {
    const original = docker.run.bind(docker)
    let done = false
    docker.run = async (args, options) => {
      const result = await original(args, options)
      if (!done && args[2] === 'create' && args.includes(reference)) {
        done = true
        during()
      }
      return result
    }
  }

  it('a race this run won (the first main tag holds its index): the other references are pointed back at its content', async () => {
    const { docker, held } = registry({})
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    anotherRunMoves(docker, 'r2:t', () => held.set('r1:t-amd64', D.oldAmd64))
    const records = await executeMoves(docker, plan, NO_RETRY, journal)
    expect(records.every(r => r.outcome === 'moved')).toBe(true)
    expect(held.get('r1:t-amd64')).toBe(D.amd64)
  })

  it('a race another run won: every reference settles on that run\'s content, never a mix, and this run fails', async () => {
    const { docker, held } = registry({})
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    anotherRunMoves(docker, 'r2:t', () => {
      held.set('r1:t', D.otherIndex)
      held.set('r2:t-s390x', D.otherS390x)
    })
    await expect(executeMoves(docker, plan, NO_RETRY, journal)).rejects.toThrow(
      /^another run published sha256:.* to the same tags at the same time, and its content holds every tag now \(TAG and each TAG-ARCH agree\).*"concurrency:" group/
    )
    for (const repository of ['r1', 'r2']) {
      expect(held.get(`${repository}:t`)).toBe(D.otherIndex)
      expect(held.get(`${repository}:t-amd64`)).toBe(D.oldAmd64)
      expect(held.get(`${repository}:t-s390x`)).toBe(D.otherS390x)
    }
  })
})

describe('reconciling from the journal', () => {
  it('a move that failed after it landed, with the registry down for the next reads: re-read, put back and reported from the registry', async () => {
    const { docker, held } = registry({ 'r1:t': D.oldIndex, 'r1:t-amd64': D.oldAmd64 })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    // r1:t's write lands, its command fails (the registry went down before it answered); the next 5 reads fail too
    let down = 0
    const original = docker.run.bind(docker)
    docker.run = async (args, options) => {
      if (args[2] === 'create' && args.includes('r1:t')) {
        await original(args, options)
        down = 5
        return original(['buildx', 'imagetools', 'inspect', '--raw', 'r9:none'], options)
      }
      if (down > 0 && args[2] === 'inspect') {
        down--
        return original(['buildx', 'imagetools', 'inspect', '--raw', 'r9:down'], options).catch(() => {
          throw new Error('dial tcp: connection refused')
        })
      }
      return original(args, options)
    }
    const error = (await executeMoves(docker, plan, NO_RETRY, journal).catch((e: unknown) => e)) as MoveError
    expect(error).toBeInstanceOf(MoveError)
    const byReference = Object.fromEntries(error.records.map(r => [r.reference, r]))
    // the journal knew r1:t was in flight: it is put back although its command failed
    expect(byReference['r1:t']).toMatchObject({ outcome: 'restored', now: D.oldIndex })
    expect(byReference['r1:t-amd64']).toMatchObject({ outcome: 'restored', now: D.oldAmd64 })
    expect(held.get('r1:t')).toBe(D.oldIndex)
    // every record says what the registry holds
    for (const record of error.records) expect(record.now).toBe(held.get(record.reference) ?? '')
  })

  it('a registry that serves the old manifest, or none, right after a write: read again, not reported as a failure', async () => {
    const { docker } = registry({ 'r1:t': D.oldIndex })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    const stale = new Map([['r1:t', 2], ['r2:t-s390x', 1]])
    const original = docker.run.bind(docker)
    docker.run = async (args, options) => {
      const reference = args[4] ?? ''
      if (args[2] === 'inspect' && journal.moved.includes(reference) && (stale.get(reference) ?? 0) > 0) {
        stale.set(reference, stale.get(reference)! - 1)
        // r1:t serves its old index for two reads; r2:t-s390x answers MANIFEST_UNKNOWN once
        return reference === 'r1:t' ? { exitCode: 0, stdout: RAW.oldIndex, stderr: '' } : original(['buildx', 'imagetools', 'inspect', '--raw', 'r9:none'], options)
      }
      return original(args, options)
    }
    const records = await executeMoves(docker, plan, NO_RETRY, journal)
    expect(records.map(r => r.outcome)).toEqual(Array(6).fill('moved'))
    expect([...stale.values()]).toEqual([0, 0])
  })

  it('a restore whose command failed after it landed is reported from the registry: restored, not restore-failed', async () => {
    const { docker, held } = registry({ 'r1:t': D.oldIndex }, { failing: ['r2:t'] })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    const original = docker.run.bind(docker)
    docker.run = async (args, options) => {
      const result = await original(args, options)
      if (args[2] === 'create' && args.includes('r1:t') && args.at(-1) === `r1@${D.oldIndex}`) {
        return original(['buildx', 'imagetools', 'create', '--tag', 'r2:t', 'x'], options)
      }
      return result
    }
    const error = (await executeMoves(docker, plan, NO_RETRY, journal).catch((e: unknown) => e)) as MoveError
    expect(error.records.find(r => r.reference === 'r1:t')).toMatchObject({ outcome: 'restored', now: D.oldIndex })
    expect(held.get('r1:t')).toBe(D.oldIndex)
  })
})

/**
 * The real wrapper's cancel gate in front of a fake docker, and a clock the commands advance: each command takes
 * `cost(args)` ms; one that runs past its bound is killed there, before its write lands (exit 137, as the
 * wrapper reports a kill). `during(args, now)` runs when a command starts: the runner's signals come from there.
 */
function gated(docker: FakeDocker, cost: (args: readonly string[]) => number, during: (args: readonly string[], now: number) => 'killed' | void = () => undefined) {
  let now = 0
  const original = docker.run.bind(docker)
  docker.run = async (args, options = {}) => {
    refuseIfCancelled(args, options, now)
    const ms = cost(args)
    const bound = options.timeout?.seconds
    const killed = during(args, now) === 'killed' || (bound !== undefined && ms > bound * 1000)
    if (killed) {
      now += Math.min(ms, (bound ?? Infinity) * 1000)
      docker.calls.push({ args: [...args], options })
      const result = { exitCode: 137, stdout: '', stderr: 'signal: killed', timedOut: bound !== undefined ? { seconds: bound } : undefined }
      if (options.allowFailure) return result
      throw new DockerCommandError(args, result)
    }
    now += ms
    return original(args, options)
  }
  return () => now
}

describe('a cancelled job during the moves', () => {
  const EARLIER = { 'r1:t': D.oldIndex, 'r1:t-amd64': D.oldAmd64, 'r1:t-s390x': D.otherS390x }
  const ONE = { digest: D.index, repositories: ['r1'] }
  const isCreate = (args: readonly string[], reference: string): boolean => args[2] === 'create' && args.includes(reference)
  afterEach(() => resetCancelForTests())
  /** A publish into one repository whose every tag held an earlier publish: the registry, and the plan made. */
  const planned = async () => {
    const { docker, held } = registry(EARLIER)
    const journal = new MoveJournal()
    const plan = await planMoves(docker, ONE, { ...TAGS, tag: 't' }, PLATFORM_DIGESTS, NO_RETRY, journal)
    return { docker, held, journal, plan }
  }
  /** The runner's SIGINT while TAG moves: that move is killed there, before it lands. */
  const sigintWhileTagMoves = (args: readonly string[], now: number): 'killed' | void => {
    if (isCancelled() || !isCreate(args, 'r1:t')) return
    cancelCommands(CANCEL_WINDOW_MS.SIGINT!, now)
    return 'killed'
  }
  const execute = async (docker: FakeDocker, plan: MovePlan, journal: MoveJournal, clock: () => number): Promise<MoveError> =>
    (await executeMoves(docker, plan, NO_RETRY, journal, async () => undefined, clock).catch((e: unknown) => e)) as MoveError

  it('SIGINT while TAG moves: the killed move is read, the TAG-ARCH this run moved are put back within the window, and every tag holds what it held before', async () => {
    const { docker, held, journal, plan } = await planned()
    const clock = gated(docker, () => 300, sigintWhileTagMoves)
    const error = await execute(docker, plan, journal, clock)
    expect(error).toBeInstanceOf(MoveError)
    expect(Object.fromEntries(error.records.map(r => [r.reference, [r.outcome, r.now]]))).toEqual({
      'r1:t-amd64': ['restored', D.oldAmd64],
      'r1:t-s390x': ['restored', D.otherS390x],
      'r1:t': ['not-moved', D.oldIndex]
    })
    expect(Object.fromEntries(held)).toEqual(EARLIER)
    expect(error.message).toBe("this run put back what it had moved, as far as the cancel's window let it: 2 of 3 tag(s) had moved; 2 put back to their previous digest")
    expect(journal.snapshot()).toBe(error.records)
    // every command after the signal was a put-back or a read, bounded by what was left of the window
    const after = docker.calls.slice(docker.calls.findIndex(c => isCreate(c.args, 'r1:t')) + 1)
    expect(after.length).toBeGreaterThan(0)
    for (const call of after) {
      expect(call.options).toMatchObject({ afterCancel: true, retry: NO_RETRY })
      expect(call.options.timeout!.seconds).toBeLessThanOrEqual(CANCEL_WINDOW_MS.SIGINT! / 1000)
    }
    expect(clock()).toBeLessThan(CANCEL_WINDOW_MS.SIGINT! + 300)
  })

  it('a window too short for the put-backs: none lands, and the error names the TAG-ARCH that disagree with TAG', async () => {
    const { docker, held, journal, plan } = await planned()
    // a put-back (a write after the signal) takes longer than the whole window; reads are quick
    const clock = gated(docker, args => (isCancelled() && args[2] === 'create' ? 10_000 : 200), sigintWhileTagMoves)
    const error = await execute(docker, plan, journal, clock)
    expect(Object.fromEntries(error.records.map(r => [r.reference, [r.outcome, r.now]]))).toEqual({
      'r1:t-amd64': ['restore-failed', D.amd64],
      'r1:t-s390x': ['restore-failed', D.s390x],
      'r1:t': ['not-moved', D.oldIndex]
    })
    expect(held.get('r1:t-amd64')).toBe(D.amd64)
    expect(error.message).toMatch(
      /^this run put back what it had moved, as far as the cancel's window let it: 2 of 3 tag\(s\) had moved; r1:t-amd64, r1:t-s390x could not be put back and point at this run's content; TAG and TAG-ARCH disagree: r1:t holds what it held before while r1:t-amd64 holds this run's content, r1:t-s390x holds this run's content \(a re-run publishes them again\)$/
    )
    for (const record of error.records) expect(record.now).toBe(held.get(record.reference))
    // the put-backs started were killed when the window's last read was due (this fake clock runs them one after
    // the other: the second finds no time left); the read came before the window ended
    const putBacks = docker.calls.filter(c => c.options.afterCancel && c.args[2] === 'create')
    expect(putBacks.length).toBeGreaterThanOrEqual(1)
    for (const call of putBacks) expect(call.options.timeout!.seconds).toBeLessThanOrEqual((CANCEL_WINDOW_MS.SIGINT! - CANCEL_LAST_READ_MS) / 1000)
    expect(clock()).toBeLessThanOrEqual(CANCEL_WINDOW_MS.SIGINT! + 300)
  })

  it('a second signal during the put-backs: nothing more starts, and the records say what is known then', async () => {
    const { docker, held, journal, plan } = await planned()
    let putBacks = 0
    const clock = gated(
      docker,
      () => 200,
      (args, now) => {
        if (!isCancelled()) return sigintWhileTagMoves(args, now)
        // the runner's SIGTERM comes while the first put-back runs: it is killed (before it lands)
        if (args[2] === 'create' && ++putBacks === 1) {
          stopCommands()
          return 'killed'
        }
      }
    )
    const error = await execute(docker, plan, journal, clock)
    expect(putBacks).toBe(1)
    const byReference = Object.fromEntries(error.records.map(r => [r.reference, r]))
    // the killed put-back may have landed: unknown; the other never started: still this run's, as read
    expect(error.records.filter(r => r.outcome === 'unknown')).toHaveLength(1)
    const other = error.records.find(r => r.kind === 'platform' && r.outcome !== 'unknown')!
    expect(other).toMatchObject({ outcome: 'restore-failed', now: held.get(other.reference) })
    expect(byReference['r1:t']).toMatchObject({ outcome: 'not-moved', now: D.oldIndex })
    expect(error.message).toMatch(/could not be read back; TAG and TAG-ARCH disagree: r1:t holds what it held before while r1:t-\w+ holds what could not be read, r1:t-\w+ holds this run's content/)
  })

  it('a cancel once every tag had moved (during the read-back): the complete publish is kept', async () => {
    const { docker, held, journal, plan } = await planned()
    const clock = gated(docker, () => 200, (args, now) => {
      if (!isCancelled() && journal.moved.length === 3 && args[2] === 'inspect') cancelCommands(CANCEL_WINDOW_MS.SIGINT!, now)
    })
    const error = await execute(docker, plan, journal, clock)
    expect(error.message).toBe("every tag had moved before the cancel: r1:t-amd64, r1:t-s390x, r1:t hold this run's content")
    expect(error.records.map(r => r.outcome)).toEqual(['moved', 'moved', 'moved'])
    expect([held.get('r1:t'), held.get('r1:t-amd64'), held.get('r1:t-s390x')]).toEqual([D.index, D.amd64, D.s390x])
    expect(docker.calls.filter(c => c.args[2] === 'create' && c.args.includes('--tag'))).toHaveLength(3)
  })
})

/**
 * The engine's side of the engine path in memory (the registry's is {@link registry}): `pull REPO@DIGEST` stores
 * the manifest under that name, `tag` copies a local name, `push` sends what a local name holds (and prints its
 * digest, as docker does), `image inspect` reads a local name; a missing name fails as the engine says it.
 */
function engine(docker: FakeDocker, held: Map<string, string>) {
  const local = new Map<string, string>()
  docker
    .on(['pull'], args => {
      local.set(args[1]!, args[1]!.split('@')[1]!)
      return {}
    })
    .on(['image', 'inspect'], args =>
      local.has(args.at(-1)!) ? { stdout: `${local.get(args.at(-1)!)}\n` } : { exitCode: 1, stderr: `Error response from daemon: No such image: ${args.at(-1)}` }
    )
    .on(['tag'], args => {
      if (!local.has(args[1]!)) return { exitCode: 1, stderr: `Error response from daemon: No such image: ${args[1]}` }
      local.set(args[2]!, local.get(args[1]!)!)
      return {}
    })
    .on(['push'], args => {
      const digest = local.get(args[1]!)
      if (!digest) return { exitCode: 1, stderr: `tag does not exist: ${args[1]}` }
      held.set(args[1]!, digest)
      return { stdout: `${args[1]!.split(':')[1]}: digest: ${digest} size: 1` }
    })
  return local
}

/** Runs `during` right after the first command matching `when` (another run acting between two of this run's commands). */
function afterCommand(docker: FakeDocker, when: (args: readonly string[]) => boolean, during: () => void): void {
  const original = docker.run.bind(docker)
  let done = false
  docker.run = async (args, options) => {
    try {
      return await original(args, options)
    } finally {
      if (!done && when(args)) {
        done = true
        during()
      }
    }
  }
}

describe('two runs on one main tag at once: settling', () => {
  const EARLIER = { 'r1:t': D.oldIndex, 'r1:t-amd64': D.oldAmd64, 'r1:t-s390x': D.otherS390x }
  const ONE = { digest: D.index, repositories: ['r1'] }
  const sameAsRegistry = (records: readonly MoveRecord[], held: Map<string, string>): void => {
    for (const record of records) expect({ reference: record.reference, now: record.now }).toEqual({ reference: record.reference, now: held.get(record.reference) ?? '' })
  }

  it('engine path, the interleaving seen in 2 of 17 rounds: the other run\'s cleanup removes the manifest this run pulled to settle, then the local tag it made: pulled and tagged again, and every tag ends on the other run\'s content', async () => {
    const { docker, held } = registry({}, { preferIndex: false })
    const local = engine(docker, held)
    const journal = new MoveJournal()
    const plan = await planMoves(docker, ONE, { ...TAGS, tag: 't' }, PLATFORM_DIGESTS, NO_RETRY, journal)
    // the other run moved r1:t and r1:t-s390x after this run did, and its r1:t-amd64 before
    afterCommand(docker, args => args[2] === 'create' && args.includes('r1:t'), () => {
      held.set('r1:t', D.otherIndex)
      held.set('r1:t-s390x', D.otherS390x)
    })
    // its cleanup (docker image rm of its local names) lands between this run's pull and check, then after its tag
    afterCommand(docker, args => args[0] === 'pull' && args[1] === `r1@${D.oldAmd64}`, () => local.delete(`r1@${D.oldAmd64}`))
    afterCommand(docker, args => args[0] === 'tag' && args[1] === `r1@${D.oldAmd64}`, () => local.delete('r1:t-amd64'))
    const error = (await executeMoves(docker, plan, NO_RETRY, journal, async () => undefined).catch((e: unknown) => e)) as MoveError
    expect(error).toBeInstanceOf(MoveError)
    expect(error.message).toMatch(/^another run published sha256:\w+ to the same tags at the same time, and its content holds every tag now \(TAG and each TAG-ARCH agree\)/)
    expect([held.get('r1:t'), held.get('r1:t-amd64'), held.get('r1:t-s390x')]).toEqual([D.otherIndex, D.oldAmd64, D.otherS390x])
    sameAsRegistry(journal.snapshot(), held)
    expect(journal.localNames).toContain('r1:t-amd64')
  })

  /**
   * The other run moves r1:t and r1:t-s390x right after this run moved r1:t; the registry fails the read of its
   * index `failing` times (a 503) while this run settles. Returns the registry, the run's error and how many reads failed.
   */
  const raceWithWinnerUnreadable = async (failing: number) => {
    const { docker, held } = registry(EARLIER)
    const journal = new MoveJournal()
    const plan = await planMoves(docker, ONE, { ...TAGS, tag: 't' }, PLATFORM_DIGESTS, NO_RETRY, journal)
    afterCommand(docker, args => args[2] === 'create' && args.includes('r1:t'), () => {
      held.set('r1:t', D.otherIndex)
      held.set('r1:t-s390x', D.otherS390x)
    })
    const original = docker.run.bind(docker)
    let failures = 0
    docker.run = async (args, options) => {
      if (failures < failing && args[2] === 'inspect' && args[4] === `r1@${D.otherIndex}`) {
        failures++
        throw new DockerCommandError(args, { exitCode: 1, stdout: '', stderr: 'unexpected status: 503 Service Unavailable' })
      }
      return original(args, options)
    }
    const error = (await executeMoves(docker, plan, NO_RETRY, journal, async () => undefined).catch((e: unknown) => e)) as MoveError
    return { held, journal, error, failures }
  }

  it('a read of the winning index that fails once while settling is made again: the tags settle, and the report says what the registry holds', async () => {
    const { held, journal, error, failures } = await raceWithWinnerUnreadable(1)
    expect(failures).toBe(1)
    expect(error).toBeInstanceOf(MoveError)
    expect(error.message).toMatch(/its content holds every tag now/)
    expect([held.get('r1:t'), held.get('r1:t-amd64'), held.get('r1:t-s390x')]).toEqual([D.otherIndex, D.oldAmd64, D.otherS390x])
    sameAsRegistry(journal.snapshot(), held)
  })

  it('a read of the winning index that fails in every round: caught, this run puts back its own moves, and no record calls "moved" a tag another run holds', async () => {
    const { held, journal, error, failures } = await raceWithWinnerUnreadable(Infinity)
    expect(failures).toBeGreaterThan(1)
    expect(error).toBeInstanceOf(MoveError)
    // this run's r1:t-amd64 is put back; TAG and r1:t-s390x keep what the other run moved them to
    expect(Object.fromEntries(held)).toEqual({ ...EARLIER, 'r1:t': D.otherIndex })
    expect(error.message).toMatch(/^another run moved the same tags at the same time and they did not settle on one run's content; this run put back what it had moved: .*r1:t now holds another run's content/)
    sameAsRegistry(error.records, held)
    expect(error.records.filter(r => r.outcome === 'moved')).toEqual([])
    // the outputs (the journal's records) say the same
    expect(journal.snapshot()).toBe(error.records)
  })

  it('a run that cannot finish settling (another writer keeps taking TAG-amd64) puts back its own moves and says which tags another run holds', async () => {
    const { docker, held } = registry(EARLIER)
    const journal = new MoveJournal()
    const plan = await planMoves(docker, ONE, { ...TAGS, tag: 't' }, PLATFORM_DIGESTS, NO_RETRY, journal)
    const original = docker.run.bind(docker)
    docker.run = async (args, options) => {
      const result = await original(args, options)
      // each time this run points r1:t-amd64 at its manifest, the other writer points it at its own
      if (args[2] === 'create' && args.includes('r1:t-amd64')) held.set('r1:t-amd64', D.otherAmd64)
      return result
    }
    const error = (await executeMoves(docker, plan, NO_RETRY, journal, async () => undefined).catch((e: unknown) => e)) as MoveError
    expect(error).toBeInstanceOf(MoveError)
    // TAG and the TAG-ARCH this run still held hold what they held before; the other writer keeps its tag
    expect(Object.fromEntries(held)).toEqual({ ...EARLIER, 'r1:t-amd64': D.otherAmd64 })
    expect(error.message).toMatch(
      /^another run moved the same tags at the same time and they did not settle on one run's content; this run put back what it had moved: 2 of 3 tag\(s\) had moved; 2 put back to their previous digest; r1:t-amd64 now holds another run's content; TAG and TAG-ARCH disagree: r1:t holds what it held before while r1:t-amd64 holds another run's content .*"concurrency:" group/
    )
    sameAsRegistry(error.records, held)
    expect(journal.snapshot()).toBe(error.records)
  })
})

describe('two runs with different main tags that share a tag', () => {
  const annotated = (version: string, amd64: string): string =>
    JSON.stringify({
      schemaVersion: 2,
      annotations: { 'org.opencontainers.image.version': version, 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd64, size: 1, platform: { os: 'linux', architecture: 'amd64' } }]
    })

  it('compares versions piecewise, digits as numbers', () => {
    expect(compareVersions('1.25.10', '1.25.9')).toBe(1)
    expect(compareVersions('1.25.4-1', '1.25.4')).toBe(1)
    expect(compareVersions('1.24.9-llvm18', '1.25.4-llvm18')).toBe(-1)
    expect(compareVersions('a', 'a')).toBe(0)
    const claim = (version: string, digest: string) => ({ version, created: '', digest })
    expect(strongerClaim(claim('1.24', 'sha256:b'), claim('1.25', 'sha256:a')).version).toBe('1.25')
    expect(strongerClaim(claim('', 'sha256:a'), claim('', 'sha256:b')).digest).toBe('sha256:b')
  })

  it.each([
    ['the newer run moves latest last', ['1.24.9', '1.25.4']],
    ['the older run moves latest last', ['1.25.4', '1.24.9']]
  ])('%s: latest ends on the higher version in every repository, the other run fails naming it, and both report the truth', async (_, order) => {
    const raws = { '1.24.9': annotated('1.24.9', D.oldAmd64), '1.25.4': annotated('1.25.4', D.amd64) }
    const digests = Object.fromEntries(Object.entries(raws).map(([v, raw]) => [v, sha256Digest(raw)]))
    const byDigest = new Map([...Object.values(RAW), ...Object.values(raws)].map(raw => [sha256Digest(raw), raw]))
    const held = new Map<string, string>()
    const docker = new FakeDocker()
      .on(['buildx', 'imagetools', 'create', '--help'], { stdout: '  --prefer-index' })
      .on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
        const reference = args[4]!
        const digest = reference.includes('@') ? reference.split('@')[1]! : held.get(reference)
        const raw = digest ? byDigest.get(digest) : undefined
        return raw === undefined ? { exitCode: 1, stderr: `ERROR: ${reference}: not found` } : { stdout: raw }
      })
      .on(['buildx', 'imagetools', 'create'], args => {
        held.set(args[args.indexOf('--tag') + 1]!, args.at(-1)!.split('@')[1]!)
        return {}
      })
    const run = async (version: string, platformDigest: string): Promise<MoveRecord[] | MoveError> => {
      const journal = new MoveJournal()
      const plan = await planMoves(
        docker,
        { digest: digests[version]!, repositories: ['r1', 'r2'] },
        { tag: version, indexTags: [version, 'latest'], platformTags: { 'linux/amd64': `${version}-amd64` }, seen: {} },
        { 'linux/amd64': platformDigest },
        NO_RETRY,
        journal
      )
      // real pauses, a hundred times shorter: the settle pause lets the other run point the tags back first
      const fast = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms / 100))
      return executeMoves(docker, plan, { attempts: 1, baseDelayMs: 100, maxDelayMs: 100 }, journal, fast).catch((e: unknown) => e as MoveError)
    }
    const platform = { '1.24.9': D.oldAmd64, '1.25.4': D.amd64 } as Record<string, string>
    // both start together: their reads and writes interleave
    const results = await Promise.all(order.map(v => run(v, platform[v]!)))
    const [older, newer] = order[0] === '1.24.9' ? results : [results[1]!, results[0]!]
    for (const repository of ['r1', 'r2']) {
      expect(held.get(`${repository}:latest`)).toBe(digests['1.25.4'])
      expect(held.get(`${repository}:1.24.9`)).toBe(digests['1.24.9'])
      expect(held.get(`${repository}:1.25.4`)).toBe(digests['1.25.4'])
    }
    expect(Array.isArray(newer)).toBe(true)
    expect(older).toBeInstanceOf(MoveError)
    const error = older as MoveError
    expect(error.message).toMatch(/^another run published sha256:\w+ \(1\.25\.4\) to r1:latest, r2:latest at the same time, and it keeps those tags \(the higher version wins/)
    for (const records of [newer as MoveRecord[], error.records]) {
      for (const record of records) expect(record.now).toBe(held.get(record.reference))
    }
    expect(error.records.filter(r => r.outcome !== 'moved').map(r => [r.reference, r.outcome])).toEqual([['r1:latest', 'other'], ['r2:latest', 'other']])
  })
})

describe('the engine path (buildx without --prefer-index)', () => {
  it('checks, before any tag moves, that the engine holds each platform manifest unchanged', async () => {
    const { docker } = registry({}, { preferIndex: false })
    docker.on(['pull'], {}).on(['tag'], {}).on(['image', 'inspect'], { stdout: `sha256:${'9'.repeat(64)}\n` })
    const journal = new MoveJournal()
    await expect(planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)).rejects.toThrow(
      /^the engine holds sha256:.* as sha256:9+, so pushing r1:t-amd64 would publish a rewritten manifest; no tag moved: use a buildx with "imagetools create --prefer-index"/
    )
    expect(docker.calls.some(c => c.args[0] === 'push' || c.args[0] === 'tag')).toBe(false)
    // inspected by digest: another run on the engine may tag the same local name meanwhile
    expect(docker.calls.find(c => c.args[0] === 'image')?.args).toEqual(['image', 'inspect', '--format', '{{.Id}}', `r1@${D.amd64}`])
  })

  it('pushes the pulled manifests, then moves the index tags', async () => {
    const { docker, held } = registry({}, { preferIndex: false })
    docker
      .on(['pull'], {})
      .on(['tag'], {})
      .on(['image', 'inspect'], args => ({ stdout: args.at(-1)!.split('@')[1] }))
      .on(['push'], args => {
        const digest = args[1]!.endsWith('amd64') ? D.amd64 : D.s390x
        held.set(args[1]!, digest)
        return { stdout: `${args[1]}: digest: ${digest} size: 1` }
      })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    const records = await executeMoves(docker, plan, NO_RETRY, journal)
    expect(records.map(r => r.outcome)).toEqual(Array(6).fill('moved'))
    // the tags made to push, and the manifests pulled to tag them (removed with the other local names)
    expect(journal.localNames.sort()).toEqual(
      ['r1:t-amd64', 'r1:t-s390x', 'r2:t-amd64', 'r2:t-s390x', ...['r1', 'r2'].flatMap(r => [`${r}@${D.amd64}`, `${r}@${D.s390x}`])].sort()
    )
    // one group per platform manifest, in every repository: the names of one image are removed by one command
    expect(journal.localNameGroups().map(g => g.sort())).toEqual([
      [`r1:t-amd64`, `r1@${D.amd64}`, `r2:t-amd64`, `r2@${D.amd64}`],
      [`r1:t-s390x`, `r1@${D.s390x}`, `r2:t-s390x`, `r2@${D.s390x}`]
    ])
  })

  it('groups the local names by the image they name; a name no planned move made is in a last group of its own', () => {
    const journal = new MoveJournal()
    journal.plan = {
      preferIndex: false,
      moves: [
        { reference: 'r1:t-amd64', repository: 'r1', kind: 'platform', platform: 'linux/amd64', target: D.amd64, previous: '' },
        { reference: 'r1:t-s390x', repository: 'r1', kind: 'platform', platform: 'linux/s390x', target: D.s390x, previous: '' },
        { reference: 'r1:t', repository: 'r1', kind: 'index', target: D.index, previous: '' }
      ]
    }
    journal.localNames.push(`r1@${D.amd64}`, `r1@${D.s390x}`, 'r1:t-amd64', 'r1:other', 'r1:t-s390x')
    expect(journal.localNameGroups()).toEqual([[`r1@${D.amd64}`, 'r1:t-amd64'], [`r1@${D.s390x}`, 'r1:t-s390x'], ['r1:other']])
  })
})

describe('the engine path puts a tag back', () => {
  it('only with the manifest it held: an engine that holds it rewritten pushes nothing, and the report says so', async () => {
    const { docker, held } = registry({ 'r1:t': D.oldIndex, 'r1:t-amd64': D.oldAmd64 }, { preferIndex: false, failing: ['r2:t'] })
    docker
      .on(['pull'], {})
      .on(['tag'], {})
      // the engine holds this run's manifests unchanged, the earlier one rewritten
      .on(['image', 'inspect'], args => ({ stdout: args.at(-1)!.endsWith(D.oldAmd64) ? `sha256:${'9'.repeat(64)}` : args.at(-1)!.split('@')[1] }))
      .on(['push'], args => {
        const digest = args[1]!.endsWith('amd64') ? D.amd64 : D.s390x
        held.set(args[1]!, digest)
        return { stdout: `${args[1]}: digest: ${digest} size: 1` }
      })
    const journal = new MoveJournal()
    const plan = await planMoves(docker, staged, TAGS, PLATFORM_DIGESTS, NO_RETRY, journal)
    const error = (await executeMoves(docker, plan, NO_RETRY, journal).catch((e: unknown) => e)) as MoveError
    expect(error.records.find(r => r.reference === 'r1:t-amd64')).toMatchObject({ outcome: 'restore-failed', now: D.amd64 })
    expect(held.get('r1:t-amd64')).toBe(D.amd64)
    // pushed once, by the move; never with the rewritten manifest
    expect(docker.calls.filter(c => c.args[0] === 'push' && c.args[1] === 'r1:t-amd64')).toHaveLength(1)
  })
})

describe('describeOutcome', () => {
  it('says what moved, what was put back and what another run holds', () => {
    const record = (reference: string, outcome: MoveRecord['outcome']): MoveRecord => ({
      reference, repository: 'r', kind: 'index', target: D.index, previous: '', outcome, now: ''
    })
    expect(describeOutcome([record('r:a', 'not-moved'), record('r:b', 'other'), record('r:c', 'unknown')])).toBe(
      '0 of 3 tag(s) had moved; r:b now holds another run\'s content; r:c could not be read back'
    )
  })
})
