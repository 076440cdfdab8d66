import { describe, expect, it } from '@jest/globals'
import { parseCommand, parseLegacyCommand, processedData, readAsRunner, runnerLines } from '../e2e/support/runner-commands.js'

// The cases are the runner's own (actions/runner src/Test/L0/Worker/ActionCommandL0.cs, ActionCommandManagerL0.cs),
// with a registered command "do-something" as there, plus the line ends and white space of .NET.
const REGISTERED = new Set(['do-something', 'stop-commands'])

describe('runnerLines (StreamReader.ReadLine)', () => {
  it('ends a line at \\r\\n, at \\n and at a lone \\r; a terminator at the end starts no empty line', () => {
    expect(runnerLines('a\rb\r\nc\nd')).toEqual(['a', 'b', 'c', 'd'])
    expect(runnerLines('a\r')).toEqual(['a'])
    expect(runnerLines('a\n\n')).toEqual(['a', ''])
    expect(runnerLines('')).toEqual([])
  })

  it('does not end a line at U+0085, U+2028 or a form feed (ReadLine knows only \\r and \\n)', () => {
    expect(runnerLines('a\u0085b\u2028c\fd')).toEqual(['a\u0085b\u2028c\fd'])
  })
})

describe('parseCommand (TryParseV2) and parseLegacyCommand (TryParse)', () => {
  it('reads the runner\'s own examples', () => {
    expect(parseLegacyCommand('##[do-something k1=v1;]msg', REGISTERED)).toMatchObject({ name: 'do-something', properties: { k1: 'v1' }, data: 'msg' })
    expect(parseLegacyCommand('##[do-something]', REGISTERED)).toMatchObject({ name: 'do-something', properties: {}, data: '' })
    expect(parseLegacyCommand('##[do-something k1=%3B=%0D=%0A=%5D;]%3B-%0D-%0A-%5D', REGISTERED)).toMatchObject({
      properties: { k1: ';=\r=\n=]' },
      data: ';-\r-\n-]'
    })
    expect(parseLegacyCommand('>>>   ##[do-something k1=v1;]msg', REGISTERED)).toMatchObject({ data: 'msg', properties: { k1: 'v1' } })
    expect(parseCommand('::do-something k1=v1,::msg', REGISTERED)).toMatchObject({ name: 'do-something', properties: { k1: 'v1' }, data: 'msg' })
    expect(parseCommand('::do-something::', REGISTERED)).toMatchObject({ data: '' })
    expect(parseCommand('::do-something k1=;=%2C=%0D=%0A=]=%3A,::;-%0D-%0A-]-:-,', REGISTERED)).toMatchObject({
      properties: { k1: ';=,=\r=\n=]=:' },
      data: ';-\r-\n-]-:-,'
    })
    expect(parseCommand('   ::do-something k1=v1,::msg', REGISTERED)).toMatchObject({ data: 'msg' })
    expect(parseCommand('   >>>   ::do-something k1=v1,::msg', REGISTERED)).toBeUndefined()
  })

  it('trims .NET white space before "::" (U+0085, U+00A0, U+2028, U+3000), not U+FEFF, which JavaScript\'s \\s trims', () => {
    for (const space of ['\u0085', '\u00a0', '\u2028', '\u3000', '\t \u200a']) expect(parseCommand(`${space}::do-something::x`, REGISTERED)).toMatchObject({ data: 'x' })
    expect(parseCommand('\ufeff::do-something::x', REGISTERED)).toBeUndefined()
  })

  it('knows only registered commands, ignoring case', () => {
    expect(parseCommand('::DO-SOMETHING::x', REGISTERED)).toMatchObject({ name: 'DO-SOMETHING' })
    expect(parseCommand('::other::x', REGISTERED)).toBeUndefined()
    expect(parseLegacyCommand('##[other]x', REGISTERED)).toBeUndefined()
  })
})

describe('readAsRunner', () => {
  it('acts on a command after a lone \\r, and after U+0085', () => {
    const reading = readAsRunner('#7 0.2 x\r::save-state name=dockerConfig::/tmp/evil\n\u0085::add-mask::hidden\nplain hidden\n')
    expect(reading.processed.map(c => [c.name, c.data])).toEqual([
      ['save-state', '/tmp/evil'],
      ['add-mask', 'hidden']
    ])
    expect(reading.log).toEqual(['#7 0.2 x', 'plain ***'])
  })

  it('tries the legacy form on a line whose "::" form is not a command', () => {
    expect(readAsRunner('::not-a-command::a ##[set-output name=x]1\n').processed.map(c => c.name)).toEqual(['set-output'])
    // a "::" command that parses is not looked at again for "##["
    expect(readAsRunner('::warning::a ##[set-output name=x]1\n').processed.map(c => [c.name, c.data])).toEqual([['warning', 'a ##[set-output name=x]1']])
  })

  it('ignores every command between stop-commands and its token (either form), then acts again', () => {
    const reading = readAsRunner(
      [
        '##[stop-commands]stopToken',
        '##[set-env name=foo]bar',
        '::add-mask::not-masked',
        '##[stopToken]',
        '##[set-env name=foo]bar',
        '::stop-commands::validToken1234',
        '::stop-commands::other',
        '::group::ignored',
        '::VALIDTOKEN1234::',
        '::group::acted on',
        ''
      ].join('\n')
    )
    expect(reading.processed.map(c => c.name)).toEqual(['stop-commands', 'stopToken', 'set-env', 'stop-commands', 'VALIDTOKEN1234', 'group'])
    expect(reading.ignored.map(c => c.name)).toEqual(['set-env', 'add-mask', 'stop-commands', 'group'])
    expect(reading.masks).toEqual(['stopToken', 'validToken1234'])
    expect(reading.log).toContain('::stop-commands::***')
    expect(reading.stoppedWith).toBeUndefined()
  })

  it('says when commands are still stopped at the end', () => {
    expect(readAsRunner('::stop-commands::abcdefgh\n::group::x\n').stoppedWith).toBe('abcdefgh')
  })

  it('refuses a stop token that names a command, as the runner does', () => {
    expect(() => readAsRunner('::stop-commands::group\n')).toThrow(/refuses/)
  })

  it('masks add-mask\'s value and each of its lines in later lines', () => {
    const reading = readAsRunner('::add-mask::abc%0Ddef%0Aghi\nabc def ghi x\n')
    expect(reading.masks).toEqual(['abc\rdef\nghi', 'abc', 'def', 'ghi'])
    expect(reading.log).toEqual(['*** *** *** x'])
    expect(processedData(reading, 'add-mask')).toEqual(['abc\rdef\nghi'])
  })
})
