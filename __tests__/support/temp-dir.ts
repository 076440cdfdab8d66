/**
 * Runs before each test file of both projects (jest's `setupFilesAfterEnv`, first): the file gets a temporary
 * directory of its own as `TMPDIR`, so that everything it and the processes it starts make with `os.tmpdir()` or
 * `mktemp` (work directories, runner files, DOCKER_CONFIGs, the action's own temporary files) is under it, and it
 * is removed with all that is in it when the file ends, passed or failed. No test file leaves anything in the
 * machine's /tmp, and none sees another's.
 */
import { afterAll } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

const before = process.env.TMPDIR
const root = mkdtempSync(path.join(tmpdir(), 'go-build-action-test-'))
process.env.TMPDIR = root

afterAll(() => {
  if (before === undefined) delete process.env.TMPDIR
  else process.env.TMPDIR = before
  rmSync(root, { recursive: true, force: true, maxRetries: 3 })
})
