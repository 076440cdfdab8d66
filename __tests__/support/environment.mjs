// The test environment of both projects: jest's node environment, with a temporary directory of each test file's
// own as TMPDIR. Everything the file and the processes it starts make with `os.tmpdir()` or `mktemp` (work
// directories, runner files, DOCKER_CONFIGs, the action's own temporary files) is under it, and it is removed with
// all that is in it when the file ends, passed or failed: no test file leaves anything in the machine's /tmp, and
// none sees another's. Set here, in the worker's own process, before jest copies process.env for the file (a
// setup file's process.env is that copy, which neither `os.tmpdir()` nor a child process reads).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { TestEnvironment } from 'jest-environment-node'

export default class TempDirEnvironment extends TestEnvironment {
  constructor(config, context) {
    const before = process.env.TMPDIR
    const root = mkdtempSync(path.join(tmpdir(), 'go-build-action-test-'))
    process.env.TMPDIR = root
    super(config, context)
    this.tempRoot = root
    this.tmpdirBefore = before
  }

  async teardown() {
    if (this.tmpdirBefore === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = this.tmpdirBefore
    rmSync(this.tempRoot, { recursive: true, force: true, maxRetries: 3 })
    await super.teardown()
  }
}
