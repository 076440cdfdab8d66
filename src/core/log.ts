/**
 * The step's log: the one writer of the action's standard output, so that nothing untrusted (a build's progress, a
 * command's output, a registry's answer, a release source, a verify command's output) can issue a workflow command.
 *
 * The runner reads stdout and stderr apart, each with .NET's `StreamReader.ReadLine` (a line ends at `\r\n`, `\n`
 * or a lone `\r`), and looks for a command only in a line holding `::` or `##[` (actions/runner OutputManager);
 * then `::name …::` after `String.TrimStart()` (which also trims U+0085 and the rest of .NET's white space), or
 * `##[name …]` anywhere in the line. Rather than guess its idea of a line, text that holds `::` or `##[` is written
 * inside the runner's own fence: `::stop-commands::TOKEN` … `::TOKEN::`, with a fresh random token each time,
 * known to this process alone (never in a child's environment, argv or files; the runner masks it in the log).
 * While a fence is open the runner ignores the action's own commands too, so every command @actions/core writes
 * (`::add-mask::`, `::group::`, `::warning::`…) closes it first, at a line end the runner agrees is one.
 *
 * Everything goes to stdout: stderr is read in no fixed order with stdout, so a fence there could not be kept.
 * Plain text goes through {@link info} (never `core.info`, which writes it raw); @actions/core's commands escape
 * `%`, `\r` and `\n` in their data and so stay one line each.
 */
import { randomBytes } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'

/** Whether the runner would look for a command in a line of this text (OutputManager.OnDataReceived). */
export function mayHoldCommand(text: string): boolean {
  return text.includes('::') || text.includes('##[')
}

/** A stop token: 128 random bits, hex (never a command's name; longer than 6 characters, so the runner masks it). */
export function randomToken(): string {
  return randomBytes(16).toString('hex')
}

/**
 * Writes a stream the runner reads as the action's log: text from anywhere is fenced when it could hold a command;
 * the action's own commands are written outside any fence, each at the start of a line.
 */
export class CommandFence {
  private token: string | undefined
  /** The last character written ('\n' before anything: the stream starts at a line start). */
  private last = '\n'
  /** The end of the line being written (its last two characters), for text that continues it. */
  private tail = ''

  constructor(
    private readonly out: (text: string) => void,
    private readonly newToken: () => string = randomToken
  ) {}

  /** Whether a fence is open now. */
  get fenced(): boolean {
    return this.token !== undefined
  }

  /** Text that may come from anywhere, whole lines or not: the runner reads no command in it. */
  text(text: string): void {
    if (text === '') return
    if (this.token === undefined && mayHoldCommand(this.tail + text)) this.open()
    this.emit(text)
  }

  /** One workflow command of the action's own (a whole line): outside any fence, at the start of a line. */
  command(line: string): void {
    this.close()
    this.endLine()
    this.emit(line)
  }

  /** Closes an open fence (at a line end): commands take effect again. */
  close(): void {
    const token = this.token
    if (token === undefined) return
    this.endLine()
    this.token = undefined
    this.emit(`::${token}::\n`)
  }

  private open(): void {
    this.endLine()
    this.token = this.newToken()
    this.emit(`::stop-commands::${this.token}\n`)
  }

  /** Ends the line being written, unless it has ended ('\r' then '\n' is one line end, never an empty line). */
  private endLine(): void {
    if (this.last !== '\n') this.emit('\n')
  }

  private emit(text: string): void {
    this.out(text)
    this.last = text.at(-1) ?? this.last
    const end = Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r'))
    this.tail = (end >= 0 ? text.slice(end + 1) : this.tail + text).slice(-2)
  }
}

/** One line of a workflow command as @actions/core writes it (`::name props::data` and a line end, nothing else). */
const CORE_COMMAND = /^::[A-Za-z][\w-]*(?: [^\r\n]*)?::[^\r\n]*\n$/

type Write = typeof process.stdout.write

let fence: CommandFence | undefined

/** The fence of this process's stdout ({@link fenceStdout}), or one over stdout as it is (unit tests). */
function current(): CommandFence {
  fence ??= new CommandFence(text => process.stdout.write(text))
  return fence
}

/**
 * Makes this process's stdout the fenced log, once, at the start of a step: a workflow command @actions/core
 * writes closes an open fence first; any other write (a library's log line, a child's echo) and anything written
 * to stderr is text, fenced on stdout; the fence is closed when the process exits.
 */
export function fenceStdout(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): CommandFence {
  const raw = stdout.write.bind(stdout) as (text: string) => boolean
  const own = new CommandFence(text => raw(text))
  fence = own
  const writer = (commands: boolean): Write => {
    const decoder = new StringDecoder('utf8')
    return ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void) => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk))
      if (commands && CORE_COMMAND.test(text)) own.command(text)
      else own.text(text)
      const done = typeof encoding === 'function' ? encoding : callback
      done?.(null)
      return true
    }) as Write
  }
  stdout.write = writer(true)
  stderr.write = writer(false)
  process.on('exit', () => own.close())
  return own
}

/** A line of the log (`core.info`'s place): text from anywhere, fenced when it could hold a command. */
export function info(message: string): void {
  current().text(`${message}\n`)
}

/**
 * Echoes one stream of a child's output into the log a line at a time (so lines of commands running at once, or
 * of a child's stdout and stderr, are never spliced), fenced like any text; `flush` ends a last partial line.
 * `prefix` starts every line (which of the commands running side by side printed it: `[arm64-1] `).
 */
export function lineEcho(prefix = ''): { push(chunk: string): void; flush(): void } {
  let pending = ''
  const prefixed = (lines: string): string => (prefix ? lines.replace(/^(?=.)/gm, prefix) : lines)
  return {
    push(chunk) {
      pending += chunk
      const end = pending.lastIndexOf('\n')
      if (end < 0) return
      current().text(prefixed(pending.slice(0, end + 1)))
      pending = pending.slice(end + 1)
    },
    flush() {
      if (pending !== '') current().text(prefixed(`${pending}\n`))
      pending = ''
    }
  }
}
