/** Fixtures captured from the real tools (buildx 0.13, docker-registry), read by the unit tests. */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = path.dirname(fileURLToPath(import.meta.url))

export function fixture(name: string): string {
  return readFileSync(path.join(dir, name), 'utf8')
}
