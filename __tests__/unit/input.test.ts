import { describe, expect, it } from '@jest/globals'
import { readNumber, splitCommand, splitLines } from '../../src/core/input.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''

describe('splitCommand', () => {
  it.each([
    ['go version', ['go', 'version']],
    ['  sh -c "go version && go env GOARCH"  ', ['sh', '-c', 'go version && go env GOARCH']],
    ["echo 'a b' c\\ d", ['echo', 'a b', 'c d']],
    ['echo "say \\"hi\\""', ['echo', 'say "hi"']],
    ['echo ""', ['echo', '']],
    ['', []]
  ])('%j → %j', (command, words) => {
    expect(splitCommand(command)).toEqual(words)
  })

  it('refuses an unterminated quote', () => {
    expect(() => splitCommand('sh -c "go version')).toThrow('unterminated " quote')
  })
})

describe('splitLines', () => {
  it('keeps commas inside items', () => {
    expect(splitLines('type=registry,ref=r/cache\n# note\n\n type=inline ')).toEqual(['type=registry,ref=r/cache', 'type=inline'])
  })
})

describe('readNumber', () => {
  it('reads a number within bounds, or the fallback', () => {
    expect(readNumber(reader({ n: '2.5' }), 'n', 1, 0, 10)).toBe(2.5)
    expect(readNumber(reader({}), 'n', 1, 0, 10)).toBe(1)
  })

  it.each(['x', '11', '-1', 'Infinity'])('names the input for %s', value => {
    expect(() => readNumber(reader({ n: value }), 'n', 1, 0, 10)).toThrow(`input "n": "${value}" is not a number from 0 to 10`)
  })
})
