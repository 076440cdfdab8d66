/**
 * The binfmt handlers the QEMU e2e tests may touch. Other tests on this machine use qemu-aarch64, -ppc64le and
 * -s390x concurrently; only qemu-arm and qemu-riscv64 are ever unregistered here, and put back as they were found
 * (`saveHandlers` / `restoreHandlers`).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

export const BINFMT = '/proc/sys/fs/binfmt_misc'
const OURS = ['qemu-arm', 'qemu-riscv64'] as const
export type OurHandler = (typeof OURS)[number]

export const ARM_BUSYBOX = 'localhost:5000/test/busybox-arm'
export const TEST_BINFMT_IMAGE = 'localhost:5000/test/binfmt'

export function unregister(name: OurHandler): void {
  if (!OURS.includes(name)) throw new Error(`the QEMU tests never unregister ${name as string}`)
  const file = path.join(BINFMT, name)
  if (existsSync(file)) writeFileSync(file, '-1')
}

/** The handler's file as the kernel reports it, or undefined. */
export function handler(name: string): { enabled: boolean; interpreter: string; flags: string; text: string } | undefined {
  const file = path.join(BINFMT, name)
  if (!existsSync(file)) return undefined
  const text = readFileSync(file, 'utf8')
  return {
    text,
    enabled: text.startsWith('enabled'),
    interpreter: /^interpreter (.*)$/m.exec(text)?.[1] ?? '',
    flags: /^flags: (.*)$/m.exec(text)?.[1] ?? ''
  }
}

/**
 * Whether any binfmt handler runs `qemuArch` binaries (`mips64el`, as QEMU names it): a handler named
 * `qemu-ARCH`, or whose interpreter is QEMU's for it (`…/ARCH-binfmt-P`, `…/qemu-ARCH-static`).
 */
export function anyHandlerFor(qemuArch: string): boolean {
  const names = existsSync(BINFMT) ? readdirSync(BINFMT).filter(n => n !== 'register' && n !== 'status') : []
  const runs = new RegExp(`(^|qemu-|/)${qemuArch}(-|$)`)
  return names.some(name => runs.test(name) || runs.test(handler(name)?.interpreter ?? ''))
}

/** What a handler was when the tests found it: its registration line (to write to `register`) and whether it was enabled. */
export interface SavedHandler {
  name: OurHandler
  registration?: string
  enabled: boolean
}

/** The registration line that makes the kernel's `NAME` file read as `text` (a magic-number handler: offset, magic, mask). */
export function registrationOf(name: string, text: string): string {
  const field = (key: string): string => {
    const value = new RegExp(`^${key} (.*)$`, 'm').exec(text)?.[1]
    if (value === undefined) throw new Error(`binfmt handler ${name}: no "${key}" in ${JSON.stringify(text)}`)
    return value
  }
  const bytes = (hex: string): string => hex.replace(/../g, pair => `\\x${pair}`)
  const flags = /^flags: ?(.*)$/m.exec(text)?.[1] ?? ''
  return `:${name}:M:${field('offset')}:${bytes(field('magic'))}:${bytes(field('mask'))}:${field('interpreter')}:${flags}`
}

/** The QEMU tests' handlers as they are now, for {@link restoreHandlers}. */
export function saveHandlers(): SavedHandler[] {
  return OURS.map(name => {
    const found = handler(name)
    return found ? { name, registration: registrationOf(name, found.text), enabled: found.enabled } : { name, enabled: false }
  })
}

/** Puts the handlers back as {@link saveHandlers} found them: registered the same way (enabled or not), or absent. */
export function restoreHandlers(saved: readonly SavedHandler[]): void {
  for (const { name, registration, enabled } of saved) {
    const now = handler(name)
    if (registration === undefined) {
      unregister(name)
      continue
    }
    if (!now || registrationOf(name, now.text) !== registration) {
      unregister(name)
      writeFileSync(path.join(BINFMT, 'register'), registration)
    }
    if ((handler(name)?.enabled ?? false) !== enabled) writeFileSync(path.join(BINFMT, name), enabled ? '1' : '0')
  }
}
