/**
 * Publishing as a transaction, for real, on both runner paths: the action publishes through the fault proxy in
 * front of the local registry, into two repositories, and the proxy fails the n-th tag move persistently, for
 * every n. Each time: the run fails, its `moves` output and summary list exactly the references that moved, the
 * ones that held something before are put back, the ones it created still hold its content, and the next run
 * completes the publish. A build that fails on one platform over tags already published writes no tag and leaves
 * every one as it was. Also: two runs that publish one tag at once (they settle on one run's index), and a job
 * cancelled during the moves as the runner cancels it (what moved is put back, or the disagreeing tags named).
 * Everything is checked from the registry's side.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { downAfterNthTagMove, failNthTagMove, FaultProxy, HANG, tagWritten } from './support/fault-proxy.js'
import { held, indexEntries, meetAtFirstWrite, meetAtTagThenFailIndexReads, movesOf, publishPair, type MoveReport } from './support/concurrent.js'
import { BASE_IMAGE, copyOnlyContext, errorLines, expectSucceeded, FOUR_PLATFORMS, MINUTES, registryTags, requireEnvironment, theError } from './support/environment.js'
import { describeEachPath, runOnPath, type BuilderPath } from './support/paths.js'

const TAG = 'tx'
/** Two platforms, one written with the variant BuildKit leaves out of the index (normalized to linux/arm64). */
const PLATFORMS = 'linux/amd64,linux/arm64/v8'
const ARCHES = ['amd64', 'arm64']
/** Tag moves of one run into two repositories: 2 × (2 per-platform tags + 1 index tag). */
const MOVES = 6

beforeAll(requireEnvironment, MINUTES)

/** The outcome of a move says what its `now` is: the digest this run moved it to, what it held before, or another. */
function expectTruthful(move: MoveReport): void {
  const expected: Record<string, string | undefined> = {
    moved: move.digest,
    'restore-failed': move.digest,
    restored: move.previous,
    'not-moved': move.previous
  }
  if (move.outcome in expected) {
    expect({ reference: move.reference, outcome: move.outcome, now: move.now }).toEqual({ reference: move.reference, outcome: move.outcome, now: expected[move.outcome] })
  }
  else if (move.outcome === 'other') expect([move.digest, move.previous]).not.toContain(move.now)
  else throw new Error(`${move.reference}: outcome ${move.outcome}`)
}

/** Every tag the run publishes holds what it should: TAG the run's index, TAG-ARCH that index's entries. */
async function expectComplete(repositories: readonly string[], digest: string): Promise<void> {
  for (const repository of repositories) {
    expect(await held(`${repository}:${TAG}`)).toBe(digest)
    const entries = await indexEntries(`${repository}:${TAG}`)
    expect(Object.keys(entries).sort()).toEqual(ARCHES)
    for (const arch of ARCHES) expect(await held(`${repository}:${TAG}-${arch}`)).toBe(entries[arch])
  }
}

describeEachPath('publishing as a transaction', (builderPath: BuilderPath) => {
  const proxy = new FaultProxy(5000)
  let context: string

  /** Reproducible content: the same epoch gives the same index, another epoch other content. */
  const publish = (images: readonly string[], epoch: string, more: Record<string, string> = {}): Promise<ActionRun> =>
    runOnPath(builderPath, {
      cwd: context,
      inputs: {
        images: images.join('\n'),
        'tag-template': TAG,
        platforms: PLATFORMS,
        'if-tag-exists': 'overwrite',
        'build-args': `SOURCE_DATE_EPOCH=${epoch}`,
        provenance: 'false',
        'retry-attempts': '2',
        'retry-delay': '0.1',
        ...more
      }
    })

  beforeAll(async () => {
    context = await copyOnlyContext()
    await proxy.start()
  }, MINUTES)
  afterAll(() => proxy.stop())

  /** A repository name of its own; behind the proxy once it listens (its port is known only then). */
  const fresh = (what: string): string => `e2e/tx-${what}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
  const behindProxy = (names: readonly string[]): string[] => names.map(name => `${proxy.host}/${name}`)

  it('publishes linux/arm64/v8 as linux/arm64: TAG-arm64 is the index entry, platform-digests keyed linux/arm64', async () => {
    const repositories = behindProxy([fresh('arm64v8-a'), fresh('arm64v8-b')])
    const run = await publish(repositories, '1')
    expectSucceeded(run)
    expect(Object.keys(JSON.parse(run.outputs['platform-digests']!) as object).sort()).toEqual(['linux/amd64', 'linux/arm64'])
    await expectComplete(repositories, run.outputs.digest!)
    const moves = JSON.parse(run.outputs.moves!) as MoveReport[]
    expect(moves.map(m => m.outcome)).toEqual(Array(MOVES).fill('moved'))
  }, 10 * MINUTES)

  it('a build that fails on linux/arm64 over a published TAG (if-tag-exists: overwrite): no tag write reaches the registry, and TAG and all four TAG-ARCH hold exactly what they held', async () => {
    const repositories = behindProxy([fresh('fails-over-a'), fresh('fails-over-b')])
    // a RUN step that fails on one architecture only when the build arg names it
    const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-tx-fails-'))
    await writeFile(path.join(dir, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG FAIL_ON\nRUN test "$(uname -m)" != "$FAIL_ON"\n')
    const overwrite = (failOn: string): Promise<ActionRun> =>
      runOnPath(builderPath, {
        cwd: dir,
        inputs: {
          images: repositories.join('\n'),
          'tag-template': TAG,
          platforms: FOUR_PLATFORMS.join(','),
          'if-tag-exists': 'overwrite',
          'build-args': `BASE_IMAGE=${BASE_IMAGE}\nFAIL_ON=${failOn}`,
          provenance: 'false'
        }
      })
    const published = await overwrite('none')
    expectSucceeded(published)
    const tags = [TAG, ...FOUR_PLATFORMS.map(p => `${TAG}-${p.split('/')[1]}`)]
    const references = repositories.flatMap(r => tags.map(t => `${r}:${t}`))
    const before = Object.fromEntries(await Promise.all(references.map(async r => [r, await held(r)] as const)))
    // what the first run published: TAG its index, every TAG-ARCH that index's entry
    for (const repository of repositories) {
      const entries = await indexEntries(`${repository}:${TAG}`)
      expect(before[`${repository}:${TAG}`]).toBe(published.outputs.digest)
      for (const platform of FOUR_PLATFORMS) expect(before[`${repository}:${TAG}-${platform.split('/')[1]}`]).toBe(entries[platform.split('/')[1]!])
    }

    const logged = proxy.log.length
    const failed = await overwrite('aarch64')
    expect(failed.main.exitCode).toBe(1)
    expect(failed.main.log).toMatch(/::error::the build failed for linux\/arm64 at `RUN test "\$\(uname -m\)" != "aarch64"`/)
    expect(failed.post?.exitCode).toBe(0)
    expect(failed.outputs).toMatchObject({ result: 'failed', pushed: 'false', digest: '' })
    expect(failed.summary).toContain('No tag a user pulls was moved.')
    // the proxy saw no write of any tag users pull during the failed run, and every tag holds what it held
    expect(proxy.log.slice(logged).filter(l => tagWritten(l.method, l.path) !== undefined)).toEqual([])
    expect(Object.fromEntries(await Promise.all(references.map(async r => [r, await held(r)] as const)))).toEqual(before)
  }, 15 * MINUTES)

  it('if-tag-exists: suffix — a re-run of the same build after a failed publish completes TAG instead of starting TAG-1', async () => {
    const repositories = behindProxy([fresh('resume-a'), fresh('resume-b')])
    const suffixRun = (): Promise<ActionRun> =>
      runOnPath(builderPath, {
        cwd: context,
        inputs: { images: repositories.join('\n'), 'tag-template': TAG, platforms: PLATFORMS, 'build-args': 'SOURCE_DATE_EPOCH=3', provenance: 'false', 'retry-attempts': '1' }
      })
    // the last move fails: TAG is in one repository only, every TAG-ARCH moved
    const failed = await proxy.during([failNthTagMove(MOVES, { status: 400 })], suffixRun)
    expect(failed.main.exitCode).toBe(1)
    expect(failed.outputs.tag).toBe(TAG)
    const moves = JSON.parse(failed.outputs.moves!) as MoveReport[]
    expect(moves.filter(m => m.outcome === 'moved')).toHaveLength(MOVES - 1)

    const rerun = await suffixRun()
    expectSucceeded(rerun)
    expect(rerun.outputs.tag).toBe(TAG)
    expect(rerun.main.log).toContain('holds an unfinished publish of this very build (same fingerprint): this run completes it')
    await expectComplete(repositories, rerun.outputs.digest!)
    for (const repository of repositories) {
      expect((await registryTags(repository.replace(/^localhost:\d+\//, 'localhost:5000/'))).filter(t => t.startsWith(`${TAG}-1`))).toEqual([])
    }
  }, 10 * MINUTES)

  it('two runs on the same TAG started together, with different build args: both end, and every repository is consistent', async () => {
    const repositories = [fresh('race-a'), fresh('race-b')].map(name => `localhost:5000/${name}`)
    const race = (epoch: string): Promise<ActionRun> =>
      runOnPath(builderPath, {
        cwd: context,
        inputs: { images: repositories.join('\n'), 'tag-template': TAG, platforms: PLATFORMS, 'build-args': `SOURCE_DATE_EPOCH=${epoch}`, provenance: 'false' }
      })
    const runs = await Promise.all([race('10'), race('11')])
    for (const run of runs) expect(run.post?.exitCode).toBe(0)
    // at least one publishes; one that lost the race fails clearly, or (suffix) published the next free tag
    expect(runs.filter(r => r.main.exitCode === 0).length).toBeGreaterThanOrEqual(1)
    for (const run of runs.filter(r => r.main.exitCode !== 0)) {
      expect(errorLines(run.main).join('\n')).toMatch(/another run/)
    }
    const digests = runs.map(r => r.outputs.digest).filter((d): d is string => !!d)
    const tags = [...new Set(runs.map(r => r.outputs.tag).filter((t): t is string => !!t))]
    for (const tag of tags) {
      const holders = await Promise.all(repositories.map(r => held(`${r}:${tag}`)))
      // TAG holds one run's index, the same in every repository, and every TAG-ARCH holds that index's entry
      expect(new Set(holders).size).toBe(1)
      expect(digests).toContain(holders[0])
      for (const repository of repositories) {
        const entries = await indexEntries(`${repository}:${tag}`)
        for (const arch of ARCHES) expect(await held(`${repository}:${tag}-${arch}`)).toBe(entries[arch])
      }
    }
  }, 15 * MINUTES)

  it('two runs publish one TAG at once with if-tag-exists: overwrite and no concurrency group (2 pairs: their first TAG-ARCH writes made to meet; their TAG writes made to meet, then the registry failing the settling\'s read of the winning index once, retry-attempts 1): each pair leaves TAG and every TAG-ARCH of both repositories on one run\'s index, and a run that fails names the other run and reports every tag as the registry holds it', async () => {
    for (const pair of ['first TAG-ARCH writes meet', 'TAG writes meet, then index reads fail'] as const) {
      const repositories = behindProxy([fresh('pair-a'), fresh('pair-b')])
      proxy.rules = []
      if (pair === 'first TAG-ARCH writes meet') meetAtFirstWrite(proxy, repositories[0]!, `${TAG}-amd64`)
      // one failed read of the winning index, as buildx counts them (it asks 0.13.1's HEAD once, 0.30.1's twice)
      else meetAtTagThenFailIndexReads(proxy, repositories[0]!, TAG, builderPath.driver === 'docker' ? 1 : 2)
      const logged = proxy.log.length
      const { runs, verdict } = await publishPair(builderPath, context, repositories, TAG, ARCHES, { 'retry-attempts': pair === 'first TAG-ARCH writes meet' ? '2' : '1', 'retry-delay': '0.1' })
      proxy.rules = []
      // the runs met, and (second pair) one of them settled through the failing reads
      expect(proxy.log.slice(logged).filter(l => l.status === 'gathered')).toHaveLength(2)
      if (pair !== 'first TAG-ARCH writes meet') expect(proxy.log.slice(logged).filter(l => l.status === 503).length).toBeGreaterThanOrEqual(1)
      expect({ pair, mix: verdict.mix }).toEqual({ pair, mix: [] })
      expect(runs.map(r => r.post?.exitCode)).toEqual([0, 0])
      // TAG holds one of the two runs' indexes
      expect(verdict.heldBy).toBeGreaterThanOrEqual(0)
      // a run that failed says another run was publishing, and every reference it reports is as the registry holds it
      for (const run of runs.filter(r => r.main.exitCode !== 0)) {
        const errors = run.main.log.split('\n').filter(l => l.startsWith('::error::'))
        expect({ pair, errors }).toEqual({ pair, errors: [expect.stringMatching(/another run/)] })
      }
      expect({ pair, untruthful: verdict.untruthful.filter(u => u.failed) }).toEqual({ pair, untruthful: [] })
    }
  }, 20 * MINUTES)

  describe('a job cancelled during the moves, as the runner cancels (SIGINT, SIGTERM 7.5 s later, then a kill), once the first TAG-ARCH reads back', () => {
    const names = [fresh('cancel-back'), fresh('cancel-short')]
    let repositories: string[]
    let before: Record<string, string>
    const references = (repository: string): string[] => [TAG, ...ARCHES.map(a => `${TAG}-${a}`)].map(t => `${repository}:${t}`)
    /** A TAG-ARCH of `repository` no longer holds the earlier publish: it has moved. */
    const aTagArchMoved = (repository: string) => async (): Promise<boolean> => {
      for (const reference of references(repository).slice(1)) if ((await held(reference)) !== before[reference]) return true
      return false
    }
    /** The PUT of `repository:tag` (a tag move, not a digest) is never answered while `when()` holds. */
    const holdTagWrite = (repository: string, tag: string, when: () => boolean = () => true) => ({
      method: 'PUT',
      path: new RegExp(`^/v2/${repository.split('/').slice(1).join('/')}/manifests/${tag}$`),
      times: Infinity,
      fault: HANG,
      select: () => when()
    })

    beforeAll(async () => {
      proxy.rules = []
      repositories = behindProxy(names)
      expectSucceeded(await publish(repositories, '1'))
      before = Object.fromEntries(await Promise.all(repositories.flatMap(references).map(async r => [r, await held(r)] as const)))
    }, 10 * MINUTES)

    /** Publishes other content to `repository`, TAG's write held, cancelled once `cancelWhen` says so. */
    const cancelledPublish = async (repository: string, cancelWhen: () => Promise<boolean>): Promise<ActionRun> => {
      const run = await runOnPath(builderPath, {
        cwd: context,
        inputs: { images: repository, 'tag-template': TAG, platforms: PLATFORMS, 'if-tag-exists': 'overwrite', 'build-args': 'SOURCE_DATE_EPOCH=2', provenance: 'false' },
        cancelWhen
      })
      proxy.rules = []
      expect(run.post?.exitCode).toBe(0)
      // the step ended before the runner's SIGTERM: everything below happened within the 7.5 s after SIGINT
      expect(run.main.signals.map(s => s.signal)).toEqual(['SIGINT'])
      expect(run.main.endedAt - run.main.signals[0]!.at).toBeLessThan(7500)
      return run
    }

    it('the TAG-ARCH this run moved are put back before the runner\'s SIGTERM: every tag holds the earlier publish, and the report says where each ended', async () => {
      const repository = repositories[0]!
      proxy.rules = [holdTagWrite(repository, TAG)]
      const run = await cancelledPublish(repository, aTagArchMoved(repository))
      for (const reference of references(repository)) expect({ reference, now: await held(reference) }).toEqual({ reference, now: before[reference] })
      const errors = run.main.log.split('\n').filter(l => l.startsWith('::error::'))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(/^::error::the job was cancelled \(SIGINT\) during the run: this run put back what it had moved, as far as the cancel's window let it: [12] of 3 tag\(s\) had moved; [12] put back to their previous digest$/)
      const moves = movesOf(run)
      expect(moves.map(m => m.reference).sort()).toEqual(references(repository).sort())
      for (const move of moves) {
        expect({ reference: move.reference, now: move.now }).toEqual({ reference: move.reference, now: before[move.reference] })
        expectTruthful(move)
      }
      expect(moves.find(m => m.reference === `${repository}:${TAG}`)?.outcome).toBe('not-moved')
      expect(run.summary).toContain('The run failed while moving tags')
    }, 10 * MINUTES)

    it('a put-back that cannot land in time (TAG-amd64\'s write held once the job is cancelled) is cut at the window\'s end: the error names the TAG-ARCH that disagree with TAG, as the registry holds them', async () => {
      const repository = repositories[1]!
      let cancelled = false
      proxy.rules = [holdTagWrite(repository, TAG), holdTagWrite(repository, `${TAG}-amd64`, () => cancelled)]
      const moved = aTagArchMoved(repository)
      // both TAG-ARCH moved: TAG-amd64 is certain to need a put-back
      const bothMoved = async (): Promise<boolean> => {
        for (const reference of references(repository).slice(1)) if ((await held(reference)) === before[reference]) return false
        return (cancelled = await moved())
      }
      const run = await cancelledPublish(repository, bothMoved)
      const moves = movesOf(run)
      const amd64 = moves.find(m => m.reference === `${repository}:${TAG}-amd64`)!
      expect(await held(`${repository}:${TAG}`)).toBe(before[`${repository}:${TAG}`])
      expect(await held(`${repository}:${TAG}-arm64`)).toBe(before[`${repository}:${TAG}-arm64`])
      expect(await held(amd64.reference)).toBe(amd64.digest)
      expect(amd64.outcome).toBe('restore-failed')
      for (const move of moves) {
        expect({ reference: move.reference, now: move.now }).toEqual({ reference: move.reference, now: await held(move.reference) })
        expectTruthful(move)
      }
      const errors = run.main.log.split('\n').filter(l => l.startsWith('::error::'))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toContain(`; TAG and TAG-ARCH disagree: ${repository}:${TAG} holds what it held before while ${amd64.reference} holds this run's content (a re-run publishes them again)`)
      // the held put-back was cut: its write reached the proxy after the signal and was never answered
      expect(proxy.log.some(l => l.status === 'hang' && l.path.endsWith(`/manifests/${TAG}-amd64`))).toBe(true)
    }, 10 * MINUTES)
  })

  it('the registry goes down during a move (the write lands, the answer is lost): every reference the journal knows moved or was in flight is read again, put back, and reported as it ended', async () => {
    const repositories = behindProxy([fresh('down-held'), fresh('down-new')])
    expectSucceeded(await publish(repositories.slice(0, 1), '1'))
    const references = repositories.flatMap(r => [TAG, ...ARCHES.map(a => `${TAG}-${a}`)].map(t => `${r}:${t}`))
    const before = Object.fromEntries(await Promise.all(references.map(async r => [r, await held(r)] as const)))
    // the first index tag's write lands and its answer is lost; then the registry is down for 5 s: longer than a
    // read and its retry (1 s apart), shorter than the re-reads a disagreeing read gets (1 + 2 + 4 + 8 s)
    const rules = downAfterNthTagMove(MOVES - 1, 5000)
    const failed = await proxy.during(rules, () => publish(repositories, '2', { 'retry-delay': '1' }))
    const landed = `${proxy.host}/${(rules[0] as ReturnType<typeof failNthTagMove>).written[MOVES - 2]!}`
    expect(failed.main.exitCode).toBe(1)
    expect(failed.post?.exitCode).toBe(0)
    const moves = JSON.parse(failed.outputs.moves!) as MoveReport[]
    expect(moves.map(m => m.reference).sort()).toEqual(references.sort())
    for (const move of moves) {
      expect(move.previous).toBe(before[move.reference])
      expect(await held(move.reference)).toBe(move.now)
      expectTruthful(move)
    }
    // every tag of the repository that held an earlier publish holds it again (the ones that moved before the
    // registry went down are put back although it could not be read at first), and the landed move is known
    for (const move of moves.filter(m => m.previous !== '')) {
      expect({ reference: move.reference, outcome: move.outcome }).toEqual({ reference: move.reference, outcome: /-(amd64|arm64)$/.test(move.reference) || move.reference === landed ? 'restored' : expect.stringMatching(/^(restored|not-moved)$/) })
    }
    expect(moves.find(m => m.reference === landed)?.outcome).toMatch(/^(restored|moved)$/)
    expect(failed.summary).toContain('The run failed while moving tags')
  }, 10 * MINUTES)

  it('two runs with different main tags sharing a tag, their writes of it made to meet: it ends on one index (the higher version), the other run fails naming it, and both report where every tag ended', async () => {
    const repositories = [fresh('share-a'), fresh('share-b')].map(name => `${proxy.host}/${name}`)
    const SHARED = 'shared'
    // each run's write of the shared tag in the first repository waits until the other run's arrives too
    const gather = { method: 'PUT', path: new RegExp(`/${repositories[0]!.split('/').slice(1).join('/')}/manifests/${SHARED}$`), times: 2, fault: { gather: 2 } }
    const share = (main: string, epoch: string): Promise<ActionRun> =>
      runOnPath(builderPath, {
        cwd: context,
        inputs: {
          images: repositories.join('\n'),
          'tag-template': main,
          tags: SHARED,
          platforms: PLATFORMS,
          'if-tag-exists': 'overwrite',
          'build-args': `SOURCE_DATE_EPOCH=${epoch}`,
          provenance: 'false',
          'retry-attempts': '2',
          'retry-delay': '0.1'
        }
      })
    const [older, newer] = await proxy.during([gather], () => Promise.all([share('tx-1.24', '20'), share('tx-1.25', '21')]))
    expect([older.post?.exitCode, newer.post?.exitCode]).toEqual([0, 0])
    expectSucceeded(newer)
    // the shared tag holds the higher version's index in every repository; each main tag its own run's
    for (const repository of repositories) {
      expect(await held(`${repository}:${SHARED}`)).toBe(newer.outputs.digest)
      expect(await held(`${repository}:tx-1.25`)).toBe(newer.outputs.digest)
      expect(await held(`${repository}:tx-1.24`)).toBe(older.outputs.digest)
    }
    expect(theError(older)).toMatch(/another run published sha256:\w+ \(tx-1\.25\) to .*:shared.* at the same time, and it keeps/)
    // both runs report where every tag ended, as the registry holds it; neither claims a tag the other holds
    for (const run of [older, newer]) {
      for (const move of JSON.parse(run.outputs.moves!) as MoveReport[]) {
        expect(await held(move.reference)).toBe(move.now)
        expectTruthful(move)
      }
      for (const reference of run.outputs.tags?.split('\n').filter(Boolean) ?? []) expect(await held(reference)).not.toBe('')
    }
    expect((older.outputs.tags ?? '').split('\n')).not.toContain(`${repositories[0]}:${SHARED}`)
  }, 15 * MINUTES)

  describe.each(Array.from({ length: MOVES }, (_, i) => i + 1))('the tag move number %i fails persistently', n => {
    // The first repository held an earlier publish (its tags are put back); the second is new (its tags stay).
    const names = [fresh(`n${n}-held`), fresh(`n${n}-new`)]
    let repositories: string[]
    let before: Record<string, string>
    let failed: ActionRun
    let failedTag: string
    let writes: string[]
    /** What every reference held right after the failed run (the last test publishes again). */
    let after: Record<string, string>

    beforeAll(async () => {
      repositories = behindProxy(names)
      expectSucceeded(await publish(repositories.slice(0, 1), '1'))
      const references = repositories.flatMap(r => [TAG, ...ARCHES.map(a => `${TAG}-${a}`)].map(t => `${r}:${t}`))
      before = Object.fromEntries(await Promise.all(references.map(async r => [r, await held(r)] as const)))
      const rule = failNthTagMove(n, { status: 400 })
      const logged = proxy.log.length
      failed = await proxy.during([rule], () => publish(repositories, '2'))
      after = Object.fromEntries(await Promise.all(references.map(async r => [r, await held(r)] as const)))
      failedTag = rule.written[n - 1]!
      // every tag the proxy let through during the run (restores write the same tags again)
      writes = [
        ...new Set(
          proxy.log
            .slice(logged)
            .filter(l => l.status === 201)
            .map(l => tagWritten(l.method, l.path))
            .filter((t): t is string => t !== undefined)
        )
      ]
    }, 10 * MINUTES)

    it('fails, naming how many tags had moved', () => {
      expect(failed.post?.exitCode).toBe(0)
      expect(theError(failed)).toMatch(new RegExp(`\\d of ${MOVES} tag\\(s\\) had moved`))
    })

    it('reports exactly the references that moved, and where every one ended', async () => {
      const moves = JSON.parse(failed.outputs.moves!) as MoveReport[]
      expect(moves).toHaveLength(MOVES)
      const moved = moves.filter(m => m.outcome !== 'not-moved').map(m => m.reference.replace(/^localhost:\d+\//, ''))
      expect(moved.sort()).toEqual(writes.sort())
      expect(moves.find(m => m.reference === `${proxy.host}/${failedTag}`)?.outcome).toBe('not-moved')
      for (const move of moves) {
        expect(move.previous).toBe(before[move.reference])
        // the registry held what the report says, and the outcome says what that is
        expect(after[move.reference]).toBe(move.now)
        expectTruthful(move)
        // what held something before is put back; what this run created stays
        expect({ reference: move.reference, outcome: move.outcome }).toEqual({
          reference: move.reference,
          outcome: expect.stringMatching(move.previous ? /^(restored|not-moved)$/ : /^(moved|not-moved)$/)
        })
      }
      expect(failed.outputs.tags?.split('\n').filter(Boolean).sort()).toEqual(moves.filter(m => m.outcome === 'moved').map(m => m.reference).sort())
      expect(failed.summary).toContain('The run failed while moving tags')
      for (const move of moves.filter(m => m.outcome !== 'not-moved')) expect(failed.summary).toContain(move.reference)
    })

    it('the next run completes the publish', async () => {
      const run = await publish(repositories, '2')
      expectSucceeded(run)
      await expectComplete(repositories, run.outputs.digest!)
    }, 10 * MINUTES)
  })
})
