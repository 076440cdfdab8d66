import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { removeSecretFiles, withSecretFiles } from '../../src/core/secret-files.js'

describe('secret files exist only while their command runs', () => {
  it('are 0600 files in a 0700 directory of their own while the body runs, and gone when it ends', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'secret-files-'))
    const seen = await withSecretFiles(parent, [{ name: 'secret-0', content: 'value-0' }, { name: 'cosign.key', content: 'PEM' }], async files => {
      expect(files.map(f => path.basename(f))).toEqual(['secret-0', 'cosign.key'])
      expect(statSync(path.dirname(files[0]!)).mode & 0o777).toBe(0o700)
      return files.map(f => [readFileSync(f, 'utf8'), statSync(f).mode & 0o777])
    })
    expect(seen).toEqual([['value-0', 0o600], ['PEM', 0o600]])
    expect(await readdir(parent)).toEqual([])
  })

  it('are gone when the body fails', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'secret-files-'))
    await expect(withSecretFiles(parent, [{ name: 'secret-0', content: 'v' }], () => Promise.reject(new Error('the build failed')))).rejects.toThrow('the build failed')
    expect(await readdir(parent)).toEqual([])
  })

  it('are removed at once, while the body still runs, by removeSecretFiles (a cancel, the process\'s exit)', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'secret-files-'))
    let release: () => void = () => undefined
    let file = ''
    const running = withSecretFiles(parent, [{ name: 'secret-0', content: 'v' }], ([f]) => {
      file = f ?? ''
      return new Promise<void>(resolve => (release = resolve))
    })
    while (!file) await new Promise(resolve => setImmediate(resolve))
    expect(existsSync(file)).toBe(true)
    removeSecretFiles()
    expect(existsSync(file)).toBe(false)
    expect(await readdir(parent)).toEqual([])
    release()
    await running
  })

  it('writes nothing when there is no secret', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'secret-files-'))
    expect(await withSecretFiles(parent, [], async files => files)).toEqual([])
    expect(await readdir(parent)).toEqual([])
  })
})
