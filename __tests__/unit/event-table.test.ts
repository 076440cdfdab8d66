/**
 * The event table (scripts/event-table.mjs) against the one function that computes the tag plan: every row's
 * event, ref and payload go through githubContextOf as the runner's environment and event file would give them,
 * its inputs through readTagSettings, what the registry holds is a registry that serves exactly those tags, and
 * planTags must say what the row says: pushes or not (and why), builds or not, the main tag, the per-platform
 * tags, the event tags, `latest` (and why not), or the failure.
 */
import { describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'
import { parsePlatform } from '../../src/core/platform.js'
import { InputError } from '../../src/core/input.js'
import { githubContextOf, planTags, readTagSettings, type TagPlan } from '../../src/tags/tags.js'
import type { Versions } from '../../src/tags/versions.js'
import { ARCHES, EVENTS, IMAGE, LATEST_ROWS, ROWS, SHA, VERSIONS, type EventRow } from '../../scripts/event-table.mjs'

const NOW = new Date('2025-11-23T07:21:00.000Z')
const ARGS: Record<string, string> = { go: 'GO_VERSION', llvm: 'LLVM_VERSION', k8s: 'K8S_VERSION' }

function versionsOf(values: Record<string, string>): Versions {
  return {
    args: ARGS,
    resolved: Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { value, source: 'versions.yaml' }])),
    searched: Object.fromEntries(Object.keys(ARGS).map(k => [k, ['versions.yaml']]))
  }
}

/** A registry serving the row's tags (another build) and its `latest`; every other tag is "not found". */
function registryOf(row: EventRow): FakeDocker {
  const index = JSON.parse(fixture('index-with-attestations.json')) as Record<string, unknown>
  return new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
    const reference = args[4] ?? ''
    if (row.registry.holds.some(tag => reference === `${IMAGE}:${tag}`)) return { stdout: JSON.stringify(index) }
    if (row.registry.latest && reference === `${IMAGE}:latest`) return { stdout: JSON.stringify({ ...index, annotations: row.registry.latest }) }
    return { exitCode: 1, stderr: `ERROR: ${reference}: not found\n` }
  })
}

/** The plan for a row, as a run with that event, payload, inputs and registry makes it. */
function planOf(row: EventRow, docker = registryOf(row)): Promise<TagPlan> {
  const env = {
    GITHUB_EVENT_NAME: row.event.event,
    GITHUB_REF: row.event.ref,
    GITHUB_SHA: SHA,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'owner/image',
    GITHUB_EVENT_PATH: '/event.json'
  }
  const github = githubContextOf(env, row.event.payload)
  const inputs: Record<string, string> = { ...row.inputs }
  const tagging = readTagSettings(name => inputs[name] ?? '')
  const platforms = ARCHES.map(arch => parsePlatform(`linux/${arch}`))
  const versions = versionsOf(row.image === 'versioned' ? VERSIONS : {})
  return planTags(docker, { images: [IMAGE], platforms, tagging }, versions, github, NOW)
}

/** What the table says of a plan. */
function outcome(plan: TagPlan): Record<string, unknown> {
  return {
    push: plan.push,
    build: plan.build,
    why: plan.why,
    tag: plan.tag,
    platformTags: plan.platformTags,
    eventTags: plan.indexTags.filter(t => t !== plan.tag && t !== 'latest'),
    latest: plan.indexTags.includes('latest'),
    ...(plan.latestWhy !== undefined ? { latestWhy: plan.latestWhy } : {})
  }
}

describe('the event table', () => {
  it('crosses every event with both images, every latest and if-tag-exists, and both registry states', () => {
    expect(ROWS).toHaveLength(EVENTS.length * 2 * 3 * 3 * 2)
    expect(new Set(ROWS.map(r => r.id)).size).toBe(ROWS.length)
    // the events the contract names
    expect(EVENTS.map(e => e.id)).toEqual(
      expect.arrayContaining([
        ...['published', 'released', 'prereleased-prerelease', 'created', 'edited'].map(a => `release-${a}`),
        'tag-push',
        'tag-push-prerelease',
        'push-default-branch',
        'push-branch',
        'dispatch-default-branch',
        'dispatch-branch',
        'schedule',
        'pull-request',
        'pull-request-fork',
        'pull-request-target',
        'merge-group'
      ])
    )
  })

  const check = async (row: EventRow): Promise<void> => {
    const docker = registryOf(row)
    const planned = planOf(row, docker)
    if ('fails' in row.expect) {
      await expect(planned).rejects.toThrow(InputError)
      await expect(planOf(row)).rejects.toThrow(row.expect.fails)
      return
    }
    expect(outcome(await planned)).toEqual(row.expect)
    // a run that does not push never asks the registry anything
    if (!row.expect.push) expect(docker.calls).toEqual([])
  }

  it.each([...ROWS, ...LATEST_ROWS].map(row => [row.id, row] as const))('%s', (_id, row) => check(row))
})
