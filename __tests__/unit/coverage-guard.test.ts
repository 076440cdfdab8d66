import { describe, expect, it } from '@jest/globals'
import { checkFloors, floorsOf, lineCoverage } from '../../scripts/coverage-guard.mjs'

/** jest's json-summary: absolute paths, and a total. */
const SUMMARY = {
  total: { lines: { pct: 90 } },
  '/repo/src/main.ts': { lines: { pct: 78.57 } },
  '/repo/src/core/limit.ts': { lines: { pct: 100 } }
}

describe('the coverage guard (scripts/coverage-guard.mjs)', () => {
  it('reads each src file\'s line coverage by its path in the repository, and writes floors rounded down to a whole percent', () => {
    const coverage = lineCoverage(SUMMARY, '/repo')
    expect(coverage).toEqual({ 'src/core/limit.ts': 100, 'src/main.ts': 78.57 })
    expect(floorsOf(coverage)).toEqual({ 'src/core/limit.ts': 100, 'src/main.ts': 78 })
  })

  it('fails naming each file below its floor and each floored file with no coverage; a file without a floor only is listed', () => {
    const coverage = { 'src/main.ts': 77.9, 'src/core/limit.ts': 100, 'src/new.ts': 12 }
    const { failures, unfloored } = checkFloors(coverage, { 'src/main.ts': 78, 'src/core/limit.ts': 100, 'src/gone.ts': 50 })
    expect(failures).toEqual([
      'src/main.ts: 77.9% of its lines covered, below its floor of 78%',
      'src/gone.ts: has a floor of 50% but no coverage was measured (removed or renamed?)'
    ])
    expect(unfloored).toEqual(['src/new.ts'])
    expect(checkFloors({ 'src/main.ts': 78 }, { 'src/main.ts': 78 })).toEqual({ failures: [], unfloored: [] })
  })
})
