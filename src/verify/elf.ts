/**
 * ELF headers: which machine an executable was built for, read from its first bytes, and whether that machine
 * runs a platform's binaries. Used by the architecture check (architecture.ts), which reads only file heads.
 */
import { formatPlatform, type Platform } from '../core/platform.js'

/** How many bytes of a file {@link readElfHeader} needs to also see the program headers of common binaries. */
export const ELF_HEAD_BYTES = 4096

export interface ElfHeader {
  /** 32 or 64 (`EI_CLASS`). */
  bits: 32 | 64
  /** Byte order (`EI_DATA`). */
  endian: 'little' | 'big'
  /** `e_type`: executable, shared object/PIE, relocatable object, core dump. */
  type: 'executable' | 'shared' | 'relocatable' | 'core' | 'other'
  /** `e_machine`. */
  machine: number
  /** Whether a `PT_INTERP` program header names a dynamic loader; undefined when the head is too short to tell. */
  dynamic?: boolean
}

const EM = {
  I386: 3,
  MIPS: 8,
  PPC: 20,
  PPC64: 21,
  S390: 22,
  ARM: 40,
  X86_64: 62,
  AARCH64: 183,
  RISCV: 243,
  LOONGARCH: 258
} as const

/** What the ELF header of each OCI architecture's binaries says. */
const ARCHITECTURE_MACHINES: Readonly<Record<string, { machine: number; bits: 32 | 64; endian: 'little' | 'big' }>> = {
  amd64: { machine: EM.X86_64, bits: 64, endian: 'little' },
  '386': { machine: EM.I386, bits: 32, endian: 'little' },
  arm64: { machine: EM.AARCH64, bits: 64, endian: 'little' },
  arm: { machine: EM.ARM, bits: 32, endian: 'little' },
  ppc64le: { machine: EM.PPC64, bits: 64, endian: 'little' },
  s390x: { machine: EM.S390, bits: 64, endian: 'big' },
  riscv64: { machine: EM.RISCV, bits: 64, endian: 'little' },
  mips64le: { machine: EM.MIPS, bits: 64, endian: 'little' },
  mips64: { machine: EM.MIPS, bits: 64, endian: 'big' },
  loong64: { machine: EM.LOONGARCH, bits: 64, endian: 'little' }
}

/** Reads the ELF header from a file's first bytes; undefined when they are not an ELF file (or too short). */
export function readElfHeader(head: Uint8Array): ElfHeader | undefined {
  if (head.length < 20 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined
  const bits = head[4] === 1 ? 32 : head[4] === 2 ? 64 : undefined
  const endian = head[5] === 1 ? 'little' : head[5] === 2 ? 'big' : undefined
  if (!bits || !endian) return undefined
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const little = endian === 'little'
  const types: Record<number, ElfHeader['type']> = { 1: 'relocatable', 2: 'executable', 3: 'shared', 4: 'core' }
  const header: ElfHeader = {
    bits,
    endian,
    type: types[view.getUint16(16, little)] ?? 'other',
    machine: view.getUint16(18, little)
  }
  const dynamic = hasInterpreter(view, bits, little)
  return dynamic === undefined ? header : { ...header, dynamic }
}

/** Whether a `PT_INTERP` program header is present; undefined when the program headers are not in `view`. */
function hasInterpreter(view: DataView, bits: 32 | 64, little: boolean): boolean | undefined {
  const headerSize = bits === 64 ? 64 : 52
  if (view.byteLength < headerSize) return undefined
  const phoff = bits === 64 ? Number(view.getBigUint64(32, little)) : view.getUint32(28, little)
  const entrySize = view.getUint16(bits === 64 ? 54 : 42, little)
  const count = view.getUint16(bits === 64 ? 56 : 44, little)
  if (entrySize < 4 || phoff + entrySize * count > view.byteLength) return undefined
  const PT_INTERP = 3
  for (let i = 0; i < count; i++) {
    if (view.getUint32(phoff + i * entrySize, little) === PT_INTERP) return true
  }
  return false
}

/** The machine as people name it (`file` and `uname -m` spellings): x86-64, aarch64, ppc64le, s390x, … */
export function describeMachine(header: ElfHeader): string {
  switch (header.machine) {
    case EM.X86_64:
      return 'x86-64'
    case EM.I386:
      return 'i386'
    case EM.AARCH64:
      return 'aarch64'
    case EM.ARM:
      return 'arm (32-bit)'
    case EM.PPC64:
      return header.endian === 'little' ? 'ppc64le' : 'ppc64 (big-endian)'
    case EM.PPC:
      return 'ppc (32-bit)'
    case EM.S390:
      return header.bits === 64 ? 's390x' : 's390 (31-bit)'
    case EM.RISCV:
      return `riscv${header.bits}`
    case EM.MIPS:
      return `mips${header.bits === 64 ? '64' : ''}${header.endian === 'little' ? 'el' : ''}`
    case EM.LOONGARCH:
      return 'loongarch64'
    default:
      return `ELF machine ${header.machine}`
  }
}

/** The OCI architecture an ELF header's binary is for (amd64, arm64, …), or undefined for one this action does not know. */
export function elfArchitecture(header: ElfHeader): string | undefined {
  return Object.entries(ARCHITECTURE_MACHINES).find(
    ([, m]) => m.machine === header.machine && m.bits === header.bits && m.endian === header.endian
  )?.[0]
}

/**
 * Whether a platform runs this binary: the machine, word size and byte order must be the platform's. An amd64
 * image may also hold i386 binaries (x86-64 CPUs run them, as qemu.ts's native architectures say).
 */
export function runsOn(header: ElfHeader, platform: Platform): boolean {
  const arch = elfArchitecture(header)
  if (arch === platform.architecture) return true
  return platform.architecture === 'amd64' && arch === '386'
}

/** `linux/arm64: /hello is an x86-64 executable (statically linked)`. */
export function describeElf(header: ElfHeader): string {
  const kind = header.type === 'shared' ? 'executable (PIE or shared object)' : header.type === 'executable' ? 'executable' : `${header.type} file`
  const linking = header.dynamic === undefined ? '' : header.dynamic ? ', dynamically linked' : ', statically linked'
  return `${/^[aeisx]/.test(describeMachine(header)) ? 'an' : 'a'} ${describeMachine(header)} ${kind}${linking}`
}

/** The machine a platform's binaries must be built for, in words: `aarch64` for linux/arm64. */
export function expectedMachine(platform: Platform): string {
  const m = ARCHITECTURE_MACHINES[platform.architecture]
  if (!m) return formatPlatform(platform)
  return describeMachine({ bits: m.bits, endian: m.endian, machine: m.machine, type: 'executable' })
}
