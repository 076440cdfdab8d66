/**
 * A step's output read the way the GitHub runner reads it (actions/runner: ProcessInvoker, OutputManager,
 * ActionCommandManager, ActionCommand), so a test sees exactly which workflow commands the runner would act on:
 *
 * - each stream is read with .NET's `StreamReader.ReadLine`: a line ends at `\r\n`, `\r` or `\n`;
 * - a line is looked at only when it holds `::` or `##[`; it is a command when, after `String.TrimStart()` (the
 *   .NET white-space set, U+0085 included, U+FEFF not), it starts `::name …::data` with a registered name, or,
 *   failing that, when it holds `##[name …]data` anywhere (the legacy form);
 * - `stop-commands` turns command processing off until a line whose command is its token (`::TOKEN::` or
 *   `##[TOKEN]`); meanwhile every other command is ignored and shown as text; a token longer than 6 characters is
 *   masked;
 * - `add-mask` masks its value, and each of its lines, in every later line of the log.
 */

/** The commands the runner registers (ExtensionManager: IActionCommandExtension, less the plugins' internal one). */
export const RUNNER_COMMANDS: readonly string[] = [
  'set-env',
  'set-output',
  'save-state',
  'add-path',
  'add-mask',
  'add-matcher',
  'remove-matcher',
  'warning',
  'error',
  'notice',
  'debug',
  'group',
  'endgroup',
  'echo'
]

const STOP_COMMANDS = 'stop-commands'

/** .NET's white space (`Char.IsWhiteSpace`), which `String.TrimStart()` removes. */
const DOTNET_LEADING_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/

/** The lines `StreamReader.ReadLine` returns for a stream's text: split at `\r\n`, `\r` or `\n`. */
export function runnerLines(text: string): string[] {
  const lines = text.split(/\r\n|\r|\n/)
  // a terminator at the very end ends the last line; it starts no empty one
  if (lines.at(-1) === '') lines.pop()
  return lines
}

export interface RunnerCommand {
  /** The command's name as written (the runner compares names ignoring case). */
  name: string
  properties: Record<string, string>
  data: string
  /** The line it was read from. */
  line: string
}

function unescape(text: string, mappings: ReadonlyArray<[string, string]>): string {
  return mappings.reduce((value, [escaped, plain]) => value.replaceAll(escaped, plain), text)
}

// the runner's ActionCommand escape tables, applied in its order
const DATA: ReadonlyArray<[string, string]> = [['%0D', '\r'], ['%0A', '\n'], ['%25', '%']]
const PROPERTY: ReadonlyArray<[string, string]> = [['%0D', '\r'], ['%0A', '\n'], ['%3A', ':'], ['%2C', ','], ['%25', '%']]
const LEGACY: ReadonlyArray<[string, string]> = [['%3B', ';'], ['%0D', '\r'], ['%0A', '\n'], ['%5D', ']'], ['%25', '%']]

function properties(text: string, separator: string, mappings: ReadonlyArray<[string, string]>): Record<string, string> {
  const found: Record<string, string> = {}
  for (const pair of text.split(separator)) {
    const eq = pair.indexOf('=')
    if (eq > 0 && eq < pair.length - 1) found[pair.slice(0, eq)] = unescape(pair.slice(eq + 1), mappings)
  }
  return found
}

/** `ActionCommand.TryParseV2`: `::name props::data` at the start of the line, after .NET's TrimStart. */
export function parseCommand(line: string, registered: ReadonlySet<string>): RunnerCommand | undefined {
  const message = line.replace(DOTNET_LEADING_SPACE, '')
  if (!message.startsWith('::')) return undefined
  const end = message.indexOf('::', 2)
  if (end < 0) return undefined
  const info = message.slice(2, end)
  const space = info.indexOf(' ')
  const name = space < 0 ? info : info.slice(0, space)
  if (!registered.has(name.toLowerCase())) return undefined
  return {
    name,
    properties: space > 0 ? properties(info.slice(space + 1).trim(), ',', PROPERTY) : {},
    data: unescape(message.slice(end + 2), DATA),
    line
  }
}

/** `ActionCommand.TryParse`: the legacy `##[name props]data`, anywhere in the line. */
export function parseLegacyCommand(line: string, registered: ReadonlySet<string>): RunnerCommand | undefined {
  const prefix = line.indexOf('##[')
  if (prefix < 0) return undefined
  const close = line.indexOf(']', prefix)
  if (close < 0) return undefined
  const info = line.slice(prefix + 3, close)
  const space = info.indexOf(' ')
  const name = space < 0 ? info : info.slice(0, space)
  if (!registered.has(name.toLowerCase())) return undefined
  return { name, properties: space > 0 ? properties(info.slice(space + 1), ';', LEGACY) : {}, data: unescape(line.slice(close + 1), LEGACY), line }
}

export interface RunnerReading {
  /** Every command the runner acted on, in order: `stop-commands`, and the token's own command that resumes, included. */
  processed: RunnerCommand[]
  /** Commands the runner parsed but ignored, because `stop-commands` was in force. */
  ignored: RunnerCommand[]
  /** The values `add-mask` masked. */
  masks: string[]
  /** The log as the runner writes it: each plain line (and each ignored command), masked as the runner would. */
  log: string[]
  /** The token of a `stop-commands` still in force at the end (commands stay off for the rest of the step). */
  stoppedWith?: string
}

/** Replaces every mask in a line with `***`, longest first (the runner's secret masker, less its encodings). */
export function maskLine(line: string, masks: readonly string[]): string {
  return [...masks].sort((a, b) => b.length - a.length).reduce((text, mask) => text.replaceAll(mask, '***'), line)
}

/** Reads one stream's text as the runner does, from a fresh state (a step's start). */
export function readAsRunner(text: string, commands: readonly string[] = RUNNER_COMMANDS): RunnerReading {
  const registered = new Set([...commands, STOP_COMMANDS].map(c => c.toLowerCase()))
  const reading: RunnerReading = { processed: [], ignored: [], masks: [], log: [] }
  const show = (line: string): void => {
    reading.log.push(maskLine(line, reading.masks))
  }
  for (const line of runnerLines(text)) {
    if (line === '') continue
    const command = line.includes('::') || line.includes('##[') ? (parseCommand(line, registered) ?? parseLegacyCommand(line, registered)) : undefined
    if (!command) {
      show(line)
      continue
    }
    const name = command.name.toLowerCase()
    if (reading.stoppedWith !== undefined) {
      if (name === reading.stoppedWith.toLowerCase()) {
        reading.processed.push(command)
        registered.delete(name)
        reading.stoppedWith = undefined
        show(line)
      } else {
        reading.ignored.push(command)
        show(line)
      }
      continue
    }
    reading.processed.push(command)
    if (name === STOP_COMMANDS) {
      // the runner refuses an empty token or one that names a command (unless the workflow allows it)
      if (command.data === '' || registered.has(command.data.toLowerCase()) || command.data.toLowerCase() === 'pause-logging') {
        throw new Error(`the runner refuses "${line}": its token is empty or names a command`)
      }
      reading.stoppedWith = command.data
      registered.add(command.data.toLowerCase())
      if (command.data.length > 6) reading.masks.push(command.data)
      show(line)
    } else if (name === 'add-mask') {
      if (command.data.trim() !== '') {
        reading.masks.push(command.data)
        for (const part of command.data.split(/[\r\n]/)) if (part.trim() !== '') reading.masks.push(part.trim())
      }
    } else if (name === 'group' || name === 'endgroup' || name === 'warning' || name === 'error' || name === 'notice') {
      show(`##[${name}]${name === 'endgroup' ? '' : command.data}`)
    }
  }
  return reading
}

/** The data of every command of one name the runner acted on (`error` → each `::error::` message). */
export function processedData(reading: RunnerReading, name: string): string[] {
  return reading.processed.filter(c => c.name.toLowerCase() === name).map(c => c.data)
}
