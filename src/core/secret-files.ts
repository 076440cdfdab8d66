/**
 * Secrets as files (build secrets, the signing key), for a command that reads them from a file: written only while
 * that command runs, in a directory of their own (0700, files 0600) in the work directory, and removed as soon as
 * it ends, on every way out: its end, success or failure (`finally`); a cancel (cancel.ts removes them first,
 * before the report); and the process's exit. Later steps of the job run as the same user, so file modes alone
 * would not keep a secret from them.
 */
import { rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import * as path from 'node:path'

/** Directories of secret files that exist now. */
const live = new Set<string>()
let exitHook = false

/**
 * Writes `files` (name → content) in a new directory in `parent`, runs `body` with their paths (in order), and
 * removes them when it ends.
 */
export async function withSecretFiles<T>(parent: string, files: ReadonlyArray<{ name: string; content: string }>, body: (paths: string[]) => Promise<T>): Promise<T> {
  if (files.length === 0) return body([])
  if (!exitHook) {
    process.once('exit', removeSecretFiles)
    exitHook = true
  }
  const dir = await mkdtemp(path.join(parent, 'secrets-'))
  live.add(dir)
  try {
    const paths: string[] = []
    for (const { name, content } of files) {
      const file = path.join(dir, name)
      await writeFile(file, content, { mode: 0o600 })
      paths.push(file)
    }
    return await body(paths)
  } finally {
    await rm(dir, { recursive: true, force: true })
    live.delete(dir)
  }
}

/** Removes every secret file that exists now, at once (a cancel, the process's exit). */
export function removeSecretFiles(): void {
  for (const dir of live) {
    rmSync(dir, { recursive: true, force: true })
    live.delete(dir)
  }
}
