/**
 * The binfmt handlers the QEMU e2e tests may touch. Other tests on this machine use qemu-aarch64, -ppc64le and
 * -s390x concurrently; only qemu-arm and qemu-riscv64 are ever unregistered here.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
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
