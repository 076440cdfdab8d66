import { describe, expect, it } from '@jest/globals'
import { failureLines } from '../../scripts/test-summary.mjs'

describe("the test suite's closing lines (scripts/test-summary.mjs)", () => {
  const failure = (n: number) => ({
    file: `/repo/__tests__/unit/f${n}.test.ts`,
    title: `suite test ${n}`,
    messages: [
      `\u001b[2mexpect(\u001b[22m\u001b[31mreceived\u001b[39m\u001b[2m).\u001b[22mtoEqual\n\n- Expected  - 1\n+ Received  + 3\n\n    at Object.<anonymous> (/repo/__tests__/unit/f${n}.test.ts:12:5)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`
    ]
  })

  it('name each failed test by file and title, with its message free of colour codes and stack frames', () => {
    expect(failureLines([failure(1)], '/repo')).toEqual([
      'FAILED __tests__/unit/f1.test.ts › suite test 1',
      '    expect(received).toEqual',
      '    - Expected  - 1',
      '    + Received  + 3'
    ])
  })

  it('show at most the given number of tests and lines of each, and count the rest', () => {
    const lines = failureLines([failure(1), failure(2), failure(3)], '/repo', { tests: 2, lines: 1 })
    expect(lines).toEqual([
      'FAILED __tests__/unit/f1.test.ts › suite test 1',
      '    expect(received).toEqual',
      'FAILED __tests__/unit/f2.test.ts › suite test 2',
      '    expect(received).toEqual',
      '… and 1 more failed tests'
    ])
  })
})
