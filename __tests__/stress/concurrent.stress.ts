/**
 * Stress (not part of `npm test` or CI; `npm run stress`): many pairs of runs that publish one main tag at once with
 * `if-tag-exists: overwrite` and no `concurrency:` group, on both runner paths. Every other pair has its first
 * TAG-ARCH writes made to meet (the moves interleave); the others race as the builds finish. After each pair, the
 * registry must hold no mix (TAG the same index in both repositories, every TAG-ARCH its entry), and every run
 * that failed must report every reference as the registry holds it. STRESS_PAIRS pairs per path (default 20);
 * STRESS_OUT names a JSON file for the tally (scripts/stress-concurrent.mjs prints it).
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { meetAtFirstWrite, publishPair, type PairVerdict } from '../e2e/support/concurrent.js'
import { copyOnlyContext, requireEnvironment } from '../e2e/support/environment.js'
import { FaultProxy } from '../e2e/support/fault-proxy.js'
import { describeEachPath, type BuilderPath } from '../e2e/support/paths.js'

const PAIRS = Number(process.env.STRESS_PAIRS ?? 20)
const TAG = 'stress'
const ARCHES = ['amd64', 'arm64']
const tally: Record<string, Array<PairVerdict & { forced: boolean; seconds: number }>> = {}

beforeAll(requireEnvironment, 60_000)
afterAll(() => {
  if (process.env.STRESS_OUT) writeFileSync(process.env.STRESS_OUT, JSON.stringify(tally, null, 2))
})

describeEachPath('concurrent publishes of one tag', (builderPath: BuilderPath) => {
  const proxy = new FaultProxy(5000)
  let context: string
  beforeAll(async () => {
    context = await copyOnlyContext()
    await proxy.start()
  })
  afterAll(() => proxy.stop())

  it(`${PAIRS} pairs, every other one made to meet at its first TAG-ARCH write: no pair leaves a mix, and every failed run reports the registry as it is`, async () => {
    const verdicts = (tally[builderPath.name] = [] as Array<PairVerdict & { forced: boolean; seconds: number }>)
    for (let pair = 0; pair < PAIRS; pair++) {
      const names = ['a', 'b'].map(x => `e2e/stress-${pair}${x}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`)
      const repositories = names.map(name => `${proxy.host}/${name}`)
      const forced = pair % 2 === 0
      proxy.rules = []
      if (forced) meetAtFirstWrite(proxy, repositories[0]!, `${TAG}-amd64`)
      const started = Date.now()
      const { verdict } = await publishPair(builderPath, context, repositories, TAG, ARCHES, { 'retry-attempts': '2', 'retry-delay': '0.5' })
      proxy.rules = []
      verdicts.push({ ...verdict, forced, seconds: (Date.now() - started) / 1000 })
    }
    expect(verdicts.filter(v => !v.consistent).map(v => v.mix)).toEqual([])
    expect(verdicts.flatMap(v => v.untruthful.filter(u => u.failed))).toEqual([])
  }, PAIRS * 10 * 60_000)
})
