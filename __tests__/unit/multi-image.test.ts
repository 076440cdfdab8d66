/**
 * The multi-image recipe (examples/workflows/multi-image.yml, docs/multi-image.md) on calico's own versions files
 * (__fixtures__/calico-toolchain): each matrix entry's inputs, read as the action reads them, with the image's
 * versions file beside a Dockerfile, name the image with the tag docs/multi-image.md says, on a release v1.2.3.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, mkdtempSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { parse } from 'yaml'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { parsePlatform } from '../../src/core/platform.js'
import { githubContextOf, planTags, readTagSettings } from '../../src/tags/tags.js'
import { readVersionSettings, resolveVersions } from '../../src/tags/versions.js'

const root = path.resolve(import.meta.dirname, '..', '..')
const workflow = parse(readFileSync(path.join(root, 'examples', 'workflows', 'multi-image.yml'), 'utf8')) as {
  jobs: { publish: { strategy: { matrix: { include: Array<Record<string, string>> } } } }
}
const entries = workflow.jobs.publish.strategy.matrix.include
const page = readFileSync(path.join(root, 'docs', 'multi-image.md'), 'utf8')

const TAGS: Record<string, string> = {
  'calico-go-build': '1.26.5-llvm21.1.8-k8s1.36.2',
  'calico-rust-build': 'rust1.96.0',
  'calico-tinygo': '0.34.0-go1.23.12',
  'calico-binfmt': 'qemu10.2.2',
  'calico-base': 'v1.2.3'
}

describe('several images from one repository, on calico\'s versions files', () => {
  it('the matrix holds calico\'s five images', () => {
    expect(entries.map(e => e.name)).toEqual(Object.keys(TAGS))
  })

  it.each(entries.map(e => [e.name!, e] as const))('%s: a release v1.2.3 publishes the tag docs/multi-image.md names', async (name, entry) => {
    const dir = mkdtempSync(path.join(tmpdir(), `multi-image-${name}-`))
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n')
    const versionsFile = path.join(root, '__fixtures__', 'calico-toolchain', name, 'versions.yaml')
    if (existsSync(versionsFile)) copyFileSync(versionsFile, path.join(dir, 'versions.yaml'))
    const read = (input: string): string => ({ ...entry, context: dir })[input] ?? ''
    const versions = await resolveVersions(readVersionSettings(read), path.join(dir, 'Dockerfile'))
    const github = githubContextOf(
      { GITHUB_EVENT_NAME: 'release', GITHUB_REF: 'refs/tags/v1.2.3', GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567' },
      { action: 'published', release: { tag_name: 'v1.2.3' } }
    )
    const registry = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], args => ({ exitCode: 1, stderr: `ERROR: ${args[4] ?? ''}: not found\n` }))
    const platforms = (entry.platforms ?? '').split(',').map(p => parsePlatform(p))
    const plan = await planTags(registry, { images: [`ghcr.io/owner/${name}`], platforms, tagging: readTagSettings(read) }, versions, github)
    expect(plan.tag).toBe(TAGS[name])
    expect(page).toContain(`\`${TAGS[name]}\``)
  })
})
