import { describe, expect, it } from '@jest/globals'
import * as core from '@actions/core'
import { readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { createDocker } from '../../src/core/docker.js'
import { CommandFence, fenceStdout, info, lineEcho, mayHoldCommand, randomToken } from '../../src/core/log.js'
import { readAsRunner, runnerLines, type RunnerReading } from '../e2e/support/runner-commands.js'

/** A fence over a string, with predictable tokens (secret-1-…, secret-2-…; the hostile text below forges token-9-…). */
function fenceOverString(): { fence: CommandFence; out: () => string; tokens: string[] } {
  let text = ''
  const tokens: string[] = []
  const fence = new CommandFence(
    chunk => {
      text += chunk
    },
    () => {
      tokens.push(`secret-${tokens.length + 1}-0123456789`)
      return tokens.at(-1)!
    }
  )
  return { fence, out: () => text, tokens }
}

/** What a build, a registry or a release source may print: commands in every form the runner reads. */
const HOSTILE = [
  '#7 0.2 x\r::save-state name=dockerConfig::/tmp/evil\n',
  '\u0085::add-mask::injected-mask\n',
  '\u2028\u3000::set-output name=digest::injected\n',
  'step ##[save-state name=builder]injected\n',
  '::stop-commands::injected-stop\n',
  '::token-9-0123456789::\n',
  '::error::injected-annotation\n'
].join('')

/** The commands the runner acted on, as `name:data`, fences shown as `stop`/`resume`. */
function acted(reading: RunnerReading): string[] {
  const tokens = new Set<string>()
  return reading.processed.map(c => {
    if (c.name === 'stop-commands') {
      tokens.add(c.data)
      return 'stop'
    }
    return tokens.has(c.name) ? 'resume' : `${c.name}:${c.data}`
  })
}

describe('mayHoldCommand', () => {
  it('is the runner\'s own test for looking at a line: "::" or "##[" anywhere', () => {
    expect(['a ::b', '::', 'x##[y', '\r::'].every(mayHoldCommand)).toBe(true)
    expect(['a : b', '## [x', 'http://x', '#7 0.2 RUN echo hi'].some(mayHoldCommand)).toBe(false)
  })
})

describe('randomToken', () => {
  it('is 128 random bits in hex: never a command name, long enough for the runner to mask, fresh each time', () => {
    const tokens = new Set(Array.from({ length: 100 }, randomToken))
    expect(tokens.size).toBe(100)
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}$/)
  })
})

describe('CommandFence', () => {
  it('writes text that cannot hold a command as it is, with no fence', () => {
    const { fence, out } = fenceOverString()
    fence.text('#5 [linux/amd64 2/3] RUN go build\r\n#5 DONE 0.3s\n')
    expect(out()).toBe('#5 [linux/amd64 2/3] RUN go build\r\n#5 DONE 0.3s\n')
    expect(fence.fenced).toBe(false)
  })

  it('fences text that holds "::" or "##[": the runner, reading its way, acts on no command in it and shows it all', () => {
    const { fence, out } = fenceOverString()
    fence.text(HOSTILE)
    fence.close()
    const reading = readAsRunner(out())
    expect(acted(reading)).toEqual(['stop', 'resume'])
    expect(reading.ignored.map(c => c.name)).toEqual(['save-state', 'add-mask', 'set-output', 'save-state', 'stop-commands', 'error'])
    expect(reading.log).toEqual(expect.arrayContaining(['::save-state name=dockerConfig::/tmp/evil', '::token-9-0123456789::', '::error::injected-annotation']))
    expect(reading.stoppedWith).toBeUndefined()
  })

  it("closes the fence before each of the action's own commands, at a line end, and opens a fresh one for the next text", () => {
    const { fence, out, tokens } = fenceOverString()
    fence.text('partial \r::add-mask::no')
    fence.command('::add-mask::secret-value\n')
    fence.text('echoed secret-value ::x\r')
    fence.command('::group::Verify\n')
    fence.text('last ##[endgroup]\n')
    fence.command('::endgroup::\n')
    const reading = readAsRunner(out())
    expect(acted(reading)).toEqual(['stop', 'resume', 'add-mask:secret-value', 'stop', 'resume', 'group:Verify', 'stop', 'resume', 'endgroup:'])
    expect(new Set(tokens).size).toBe(3)
    expect(reading.log).toContain('echoed *** ::x')
    // a partial line is ended once ('\r' then '\n' is one line end: no empty line)
    expect(runnerLines(out())).toEqual([
      '::stop-commands::secret-1-0123456789',
      'partial ',
      '::add-mask::no',
      '::secret-1-0123456789::',
      '::add-mask::secret-value',
      '::stop-commands::secret-2-0123456789',
      'echoed secret-value ::x',
      '::secret-2-0123456789::',
      '::group::Verify',
      '::stop-commands::secret-3-0123456789',
      'last ##[endgroup]',
      '::secret-3-0123456789::',
      '::endgroup::'
    ])
  })

  it('sees a command split across chunks that hold no "::" or "##[" on their own', () => {
    for (const chunks of [
      [':', ':add-mask', ':', ':split\n'],
      ['#', '#', '[add-mask]split\n'],
      ['x\r', ':', ':save-state name=a:', ':b\n']
    ]) {
      const { fence, out } = fenceOverString()
      for (const chunk of chunks) fence.text(chunk)
      fence.close()
      expect(acted(readAsRunner(out()))).toEqual(['stop', 'resume'])
    }
  })

  it('keeps every command from random splits of hostile text out of the runner\'s hands, and lets every own command through', () => {
    let seed = 7
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    for (let round = 0; round < 200; round++) {
      const { fence, out } = fenceOverString()
      const own: string[] = []
      let rest = HOSTILE.repeat(2)
      while (rest !== '') {
        const size = 1 + random(12)
        fence.text(rest.slice(0, size))
        rest = rest.slice(size)
        if (random(5) === 0) {
          const command = random(2) === 0 ? `add-mask:s${own.length}` : `warning:w${own.length}`
          own.push(command)
          fence.command(`::${command.replace(':', '::')}\n`)
        }
      }
      fence.close()
      const reading = readAsRunner(out())
      expect(acted(reading).filter(c => c !== 'stop' && c !== 'resume')).toEqual(own)
      expect(reading.stoppedWith).toBeUndefined()
    }
  })
})

describe('fenceStdout', () => {
  function fakeStream(): { stream: NodeJS.WriteStream; text: () => string } {
    let text = ''
    const stream = {
      write: (chunk: string | Uint8Array, ...rest: unknown[]) => {
        text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
        const done = rest.find(r => typeof r === 'function') as (() => void) | undefined
        done?.()
        return true
      }
    } as unknown as NodeJS.WriteStream
    return { stream, text: () => text }
  }

  it("makes @actions/core's commands close the fence, and everything else (core.info's raw text, stderr) fenced text on stdout", () => {
    const original = process.stdout.write
    const out = fakeStream()
    const err = fakeStream()
    process.stdout.write = out.stream.write
    try {
      const fence = fenceStdout(process.stdout, err.stream)
      err.stream.write('#3 0.1 x\r::save-state name=a::b\n')
      core.setSecret('s3cr3t-value')
      core.info('a library line \u0085::add-mask::nope')
      core.startGroup('Verify')
      info('registry said: x\r::set-output name=digest::evil')
      core.warning('a warning\r\n::error::still one line')
      core.endGroup()
      // U+0085 split across two writes of bytes is decoded whole
      err.stream.write(Buffer.from([0xc2]))
      err.stream.write(Buffer.concat([Buffer.from([0x85]), Buffer.from('::add-mask::split\n')]))
      fence.close() // as at the process's exit
    } finally {
      process.stdout.write = original
    }
    expect(err.text()).toBe('')
    const reading = readAsRunner(out.text())
    expect(acted(reading)).toEqual(['stop', 'resume', 'add-mask:s3cr3t-value', 'stop', 'resume', 'group:Verify', 'stop', 'resume', 'warning:a warning\r\n::error::still one line', 'endgroup:', 'stop', 'resume'])
    expect(reading.ignored.map(c => c.line)).toContain('\u0085::add-mask::split')
  })

  it("echoes a child's stdout and stderr fenced on stdout, a line at a time; the token is in no child's environment or argv", async () => {
    const out = fakeStream()
    const err = fakeStream()
    const fence = fenceStdout(out.stream, err.stream)
    const script = 'printf "x\\r::save-state name=a::b\\n"; printf "\\302\\205::add-mask::m\\n" >&2; env; printf "no newline ##[set-output name=x]y"'
    const result = await createDocker('sh').run(['-c', script])
    fence.close()
    const reading = readAsRunner(out.text())
    expect(acted(reading).filter(c => c !== 'stop' && c !== 'resume')).toEqual([])
    expect(reading.log).toEqual(expect.arrayContaining(['::save-state name=a::b', '\u0085::add-mask::m', 'no newline ##[set-output name=x]y']))
    expect(err.text()).toBe('')
    const tokens = reading.processed.filter(c => c.name === 'stop-commands').map(c => c.data)
    expect(tokens.length).toBeGreaterThan(0)
    for (const token of tokens) expect(result.stdout).not.toContain(token)
  })
})

describe('lineEcho', () => {
  it('writes whole lines only, and ends a last partial line', () => {
    const out: string[] = []
    const original = process.stdout.write
    process.stdout.write = ((chunk: string) => {
      out.push(chunk)
      return true
    }) as typeof process.stdout.write
    try {
      fenceStdout(process.stdout, process.stdout)
      const a = lineEcho()
      const b = lineEcho()
      a.push('a1 par')
      b.push('b1\nb2 par')
      a.push('tial\n')
      b.flush()
      a.flush()
    } finally {
      process.stdout.write = original
    }
    expect(out).toEqual(['b1\n', 'a1 partial\n', 'b2 par\n'])
  })

  it('starts every line with the prefix of the command that printed it, and a hostile line stays fenced behind it', () => {
    let out = ''
    const original = process.stdout.write
    process.stdout.write = ((chunk: string) => {
      out += chunk
      return true
    }) as typeof process.stdout.write
    try {
      fenceStdout(process.stdout, process.stdout)
      const echo = lineEcho('[arm64-1] ')
      echo.push('#5 [2/2] RUN make\n\n::set-output name=digest::injected\npar')
      echo.push('tial')
      echo.flush()
    } finally {
      process.stdout.write = original
    }
    const reading = readAsRunner(out)
    expect(acted(reading)).toEqual(['stop'])
    expect(reading.log.filter(l => l !== '')).toEqual(['::stop-commands::***', '[arm64-1] #5 [2/2] RUN make', '[arm64-1] ::set-output name=digest::injected', '[arm64-1] partial'])
  })
})

describe('the log has one writer', () => {
  const SRC = path.resolve('src')
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap(entry =>
      entry.isDirectory() ? sources(path.join(dir, entry.name)) : entry.name.endsWith('.ts') ? [path.join(dir, entry.name)] : []
    )

  it('src/ writes plain text only through core/log.ts: no core.info, process.stdout, process.stderr or console elsewhere', () => {
    const offenders = sources(SRC)
      .filter(file => path.relative(SRC, file) !== path.join('core', 'log.ts'))
      .flatMap(file =>
        readFileSync(file, 'utf8')
          .split('\n')
          .map((line, i) => ({ line, at: `${path.relative(SRC, file)}:${i + 1}` }))
          .filter(({ line }) => /\bcore\.info\(|process\.std(out|err)\b|\bconsole\./.test(line))
          .map(({ at, line }) => `${at}: ${line.trim()}`)
      )
    expect(offenders).toEqual([])
  })

  it('runs @actions/exec only silent (it echoes output in chunks the log cannot tell from commands)', () => {
    const loud = sources(SRC).flatMap(file => {
      const text = readFileSync(file, 'utf8')
      return [...text.matchAll(/\bexec\.(?:exec|getExecOutput)\(([^)]*\{[^}]*\})/g)].filter(m => !/silent: true/.test(m[1]!)).map(m => `${path.relative(SRC, file)}: ${m[0]}`)
    })
    expect(loud).toEqual([])
  })

  it('the checks find what they look for', () => {
    expect(/\bcore\.info\(|process\.std(out|err)\b|\bconsole\./.test("core.info('x')")).toBe(true)
    expect('exec.getExecOutput(cmd, args, { ignoreReturnCode: true })'.match(/\bexec\.(?:exec|getExecOutput)\(([^)]*\{[^}]*\})/)?.[1]).not.toMatch(/silent: true/)
  })
})
