import { describe, expect, it } from '@jest/globals'
import { inputVariable, parseCommandFile } from '../../scripts/run-action.mjs'

describe('the local runner harness', () => {
  it('names input variables as the runner does', () => {
    expect(inputVariable('build-args')).toBe('INPUT_BUILD-ARGS')
    expect(inputVariable('my input')).toBe('INPUT_MY_INPUT')
  })

  it('parses the command files @actions/core writes', () => {
    const text = 'a=1\nmanifest<<ghadelimiter_x\n{\n  "k": 1\n}\nghadelimiter_x\nempty<<d\n\nd\n'
    expect(parseCommandFile(text)).toEqual({ a: '1', manifest: '{\n  "k": 1\n}', empty: '' })
  })

  it('refuses an unterminated value', () => {
    expect(() => parseCommandFile('a<<d\nno end')).toThrow(/unterminated/)
  })
})
