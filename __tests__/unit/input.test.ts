import { describe, expect, it } from '@jest/globals'
import { isLoopbackHost, readNumber, readUrlTemplate, splitCommand, splitLines } from '../../src/core/input.js'

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

describe('readUrlTemplate: where a tool the action runs is downloaded from', () => {
  const read = (value: string) => readUrlTemplate(reader({ 'cosign-download-url': value }), 'cosign-download-url', 'https://github.com/x/v{version}/x')

  it.each(['https://mirror.example/v{version}/cosign-{os}-{arch}', 'http://127.0.0.1:8080/v{version}/cosign', 'http://localhost/v{version}/c', 'http://[::1]:9/v{version}/c'])(
    'accepts %s (https, or http on the loopback)',
    template => {
      expect(read(template)).toBe(template)
    }
  )

  it.each(['http://mirror.example/v{version}/cosign-{os}-{arch}', 'http://10.0.0.5/v{version}/c', 'ftp://mirror.example/v{version}/c', 'file:///srv/v{version}/c'])(
    'refuses %s, naming the input and the fix',
    template => {
      expect(() => read(template)).toThrow(`input "cosign-download-url": "${template}" is not an https:// URL`)
      expect(() => read(template)).toThrow(/Write an https:\/\/ URL \(http:\/\/ is accepted only for a mirror on the runner's own loopback/)
    }
  )

  it('knows the loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', 'LOCALHOST', '[::1]', '::1'].map(isLoopbackHost)).toEqual([true, true, true, true, true])
    expect(['128.0.0.1', 'localhost.example', '127.0.0.1.nip.io', '0.0.0.0', '[::2]'].map(isLoopbackHost)).toEqual([false, false, false, false, false])
  })
})
