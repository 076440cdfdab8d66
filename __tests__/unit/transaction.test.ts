import { describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { sha256Digest } from '../../src/registry.js'
import { NO_RETRY } from '../../src/retry.js'
import { describeOutcome, executeMoves, MoveError, MoveJournal, orderedMoves, planMoves, type MoveRecord } from '../../src/transaction.js'

const RAW = {
  index: '{"manifests":[]}',
  oldIndex: '{"manifests":[1]}',
  amd64: '{"amd64":1}',
  s390x: '{"s390x":1}',
  oldAmd64: '{"amd64":0}',
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
  })
})

describe('describeOutcome', () => {
  it('says what moved, what was put back and what another run holds', () => {
    const record = (reference: string, outcome: MoveRecord['outcome']): MoveRecord => ({
      reference, repository: 'r', kind: 'index', target: D.index, previous: '', outcome, now: ''
    })
    expect(describeOutcome([record('r:a', 'not-moved'), record('r:b', 'other'), record('r:c', 'unknown')])).toBe(
      '0 of 3 tag(s) had moved; r:b now hold another run\'s content; r:c could not be read back'
    )
  })
})
