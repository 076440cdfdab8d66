// Which tags each event publishes: the contract of src/tags/tags.ts (planTags), as data.
//
// EVENTS holds one entry per event and ref kind, with what a run does there: whether it publishes and why, the
// git tag it carries, and whether `latest: true` / `always` move `latest`. ROWS crosses each entry with the image
// (a Go program, a versioned toolchain image), `latest` (false, true, always), `if-tag-exists` (suffix, overwrite,
// fail) and what the registry holds (nothing, or the main tag holding another build): every row states the main
// tag, the per-platform tags, the event tags, `latest`, and whether the run pushes, builds or fails.
//
// __tests__/unit/event-table.test.ts walks every row against planTags; scripts/readme-tables.mjs renders the rows
// with default inputs into README.md and every row into docs/tags.md; __tests__/e2e/events.e2e.test.ts runs a
// sample of rows for real on both runner paths.

/** The commit, branches and repository every row runs with. */
export const SHA = '0123456789abcdef0123456789abcdef01234567'
export const DEFAULT_BRANCH = 'main'
export const IMAGE = 'ghcr.io/owner/image'
/** The main tag of the versioned image (versions go 1.25.4, llvm 18.1.8, k8s 1.34.1). */
export const VERSIONED_TAG = '1.25.4-llvm18.1.8-k8s1.34.1'
export const VERSIONS = { go: '1.25.4', llvm: '18.1.8', k8s: '1.34.1' }
/** The platforms of every row: per-platform tags end in these. */
export const ARCHES = ['amd64', 'arm64']

export const IMAGES = {
  program: 'a Go program (no toolchain versions, no tag-template)',
  versioned: `a versioned image (${VERSIONED_TAG})`
}
export const LATEST_MODES = ['false', 'true', 'always']
export const IF_TAG_EXISTS = ['suffix', 'overwrite', 'fail']
/** What the registry holds before the run: nothing of this image, or the main tag holding another build. */
export const REGISTRY_STATES = ['empty', 'tag exists']

/** `latest` moves (in the `latest` field of an event). */
export const MOVES = true

const NOT_OUT = action => `release v1.2.3 is not going out ("${action}"); only "published", "released", "prereleased" publish`
const NOT_TRUSTED = event => `event "${event}" is not one trusted for publishing (a pull request's code, a comment, …)`
const repository = { default_branch: DEFAULT_BRANCH }
const release = (action, tag, prerelease = false) => ({ action, release: { tag_name: tag, prerelease }, repository })
const pullRequest = fork => ({ action: 'synchronize', pull_request: { number: 7, head: { repo: { fork } } }, repository })

/**
 * One per event and ref kind. `pushes`: true, false (builds, pushes nothing) or 'nothing built'; `why`: the reason
 * planTags gives; `gitTag`: the run's git tag (a Go program's main tag, a versioned image's event tag); `latest`:
 * for `latest: true` and `always` on a pushing run, MOVES or why it does not (a run that does not push never moves it).
 */
export const EVENTS = [
  ...['published', 'released'].map(action => ({
    id: `release-${action}`,
    family: 'release',
    event: 'release',
    kind: `\`${action}\``,
    ref: 'refs/tags/v1.2.3',
    payload: release(action, 'v1.2.3'),
    pushes: true,
    why: `release v1.2.3 is out ("${action}")`,
    gitTag: 'v1.2.3',
    latest: { true: MOVES, always: MOVES }
  })),
  ...['prereleased', 'published'].map(action => ({
    id: `release-${action}-prerelease`,
    family: 'release',
    event: 'release',
    kind: `\`${action}\`, a prerelease`,
    ref: 'refs/tags/v1.3.0-rc.1',
    payload: release(action, 'v1.3.0-rc.1', true),
    pushes: true,
    why: `release v1.3.0-rc.1 is out ("${action}")`,
    gitTag: 'v1.3.0-rc.1',
    latest: { true: 'release v1.3.0-rc.1 is marked a prerelease', always: 'release v1.3.0-rc.1 is marked a prerelease' }
  })),
  ...['created', 'edited', 'deleted', 'unpublished'].map(action => ({
    id: `release-${action}`,
    family: 'release',
    event: 'release',
    kind: `\`${action}\``,
    ref: 'refs/tags/v1.2.3',
    payload: release(action, 'v1.2.3'),
    pushes: 'nothing built',
    why: NOT_OUT(action),
    gitTag: 'v1.2.3'
  })),
  {
    id: 'tag-push',
    family: 'tag push',
    event: 'push',
    kind: 'tag `v1.2.3`',
    ref: 'refs/tags/v1.2.3',
    payload: { ref: 'refs/tags/v1.2.3', repository },
    pushes: true,
    why: 'a push of tag v1.2.3 publishes',
    gitTag: 'v1.2.3',
    latest: { true: MOVES, always: MOVES }
  },
  {
    id: 'tag-push-prerelease',
    family: 'tag push',
    event: 'push',
    kind: 'tag `v1.3.0-rc.1` (a SemVer prerelease)',
    ref: 'refs/tags/v1.3.0-rc.1',
    payload: { ref: 'refs/tags/v1.3.0-rc.1', repository },
    pushes: true,
    why: 'a push of tag v1.3.0-rc.1 publishes',
    gitTag: 'v1.3.0-rc.1',
    latest: { true: 'v1.3.0-rc.1 is a SemVer prerelease', always: 'v1.3.0-rc.1 is a SemVer prerelease' }
  },
  {
    id: 'push-default-branch',
    family: 'branch push',
    event: 'push',
    kind: 'the default branch `main`',
    ref: 'refs/heads/main',
    payload: { ref: 'refs/heads/main', repository },
    pushes: true,
    why: 'a push to the default branch main publishes',
    latest: { true: MOVES, always: MOVES }
  },
  {
    id: 'push-branch',
    family: 'branch push',
    event: 'push',
    kind: 'another branch `feature`',
    ref: 'refs/heads/feature',
    payload: { ref: 'refs/heads/feature', repository },
    pushes: false,
    why: 'a push to branch "feature", not the default branch "main", is work not yet reviewed'
  },
  {
    id: 'dispatch-default-branch',
    family: 'dispatch',
    event: 'workflow_dispatch',
    kind: 'the default branch `main`',
    ref: 'refs/heads/main',
    payload: { ref: 'refs/heads/main', repository },
    pushes: true,
    why: 'a workflow_dispatch run publishes',
    latest: { true: MOVES, always: MOVES }
  },
  {
    id: 'dispatch-branch',
    family: 'dispatch',
    event: 'workflow_dispatch',
    kind: 'another branch `feature`',
    ref: 'refs/heads/feature',
    payload: { ref: 'refs/heads/feature', repository },
    pushes: true,
    why: 'a workflow_dispatch run publishes',
    latest: { true: 'this workflow_dispatch run is on branch "feature", not the default branch "main"', always: MOVES }
  },
  {
    id: 'dispatch-tag',
    family: 'dispatch',
    event: 'workflow_dispatch',
    kind: 'tag `v1.2.3` (a rebuild of a release)',
    ref: 'refs/tags/v1.2.3',
    payload: { ref: 'refs/tags/v1.2.3', repository },
    pushes: true,
    why: 'a workflow_dispatch run publishes',
    gitTag: 'v1.2.3',
    latest: { true: MOVES, always: MOVES }
  },
  {
    id: 'schedule',
    family: 'schedule',
    event: 'schedule',
    kind: 'the default branch `main`',
    ref: 'refs/heads/main',
    payload: { schedule: '17 5 * * *', repository },
    pushes: true,
    why: 'a schedule run publishes',
    latest: { true: MOVES, always: MOVES }
  },
  {
    id: 'repository-dispatch',
    family: 'dispatch',
    event: 'repository_dispatch',
    kind: 'the default branch `main`',
    ref: 'refs/heads/main',
    payload: { action: 'rebuild', repository },
    pushes: true,
    why: 'a repository_dispatch run publishes',
    latest: { true: MOVES, always: MOVES }
  },
  {
    id: 'pull-request',
    family: 'pull request',
    event: 'pull_request',
    kind: 'from a branch of the repository',
    ref: 'refs/pull/7/merge',
    payload: pullRequest(false),
    pushes: false,
    why: NOT_TRUSTED('pull_request')
  },
  {
    id: 'pull-request-fork',
    family: 'pull request',
    event: 'pull_request',
    kind: 'from a fork',
    ref: 'refs/pull/7/merge',
    payload: pullRequest(true),
    pushes: false,
    why: NOT_TRUSTED('pull_request')
  },
  {
    id: 'pull-request-target',
    family: 'pull request',
    event: 'pull_request_target',
    kind: 'from a fork (runs on the base branch)',
    ref: 'refs/heads/main',
    payload: pullRequest(true),
    pushes: false,
    why: NOT_TRUSTED('pull_request_target')
  },
  {
    id: 'merge-group',
    family: 'merge queue',
    event: 'merge_group',
    kind: 'the queue\'s branch',
    ref: 'refs/heads/gh-readonly-queue/main/pr-7-0123456789abcdef0123456789abcdef01234567',
    payload: { action: 'checks_requested', merge_group: { base_ref: 'refs/heads/main' }, repository },
    pushes: false,
    why: 'a merge_group run builds a commit that may never land'
  }
]

/** `TAG-amd64`, `TAG-arm64`. */
export const platformTagsOf = tag => Object.fromEntries(ARCHES.map(arch => [`linux/${arch}`, `${tag}-${arch}`]))

/**
 * What a run does, by the contract: the main tag is the versioned tag, or a Go program's git tag, else its commit;
 * when that tag holds another build, `suffix` publishes `TAG-1` (a Go program's git tag too: it is the main tag, and
 * stays with the build its per-platform tags name), `overwrite` moves it, `fail` stops; a run that does not push
 * never asks the registry. The git tag is an event tag of a versioned image. `latest` as the event says.
 */
function expected(event, image, latest, ifExists, registry) {
  const base = image === 'versioned' ? VERSIONED_TAG : (event.gitTag ?? `sha-${SHA.slice(0, 7)}`)
  const push = event.pushes === true
  const exists = push && registry === 'tag exists'
  if (exists && ifExists === 'fail') return { fails: `${IMAGE}:${base} already exists and if-tag-exists is "fail"` }
  const tag = exists && ifExists === 'suffix' ? `${base}-1` : base
  const eventTags = image === 'versioned' && event.gitTag !== undefined ? [event.gitTag] : []
  const decision = latest === 'false' ? undefined : !push ? 'this run does not push' : event.latest[latest]
  return {
    push,
    build: event.pushes !== 'nothing built',
    why: event.why,
    tag,
    platformTags: platformTagsOf(tag),
    eventTags,
    latest: decision === MOVES,
    ...(typeof decision === 'string' ? { latestWhy: decision } : {})
  }
}

/** Every event × image × `latest` × `if-tag-exists` × what the registry holds. */
export const ROWS = EVENTS.flatMap(event =>
  Object.keys(IMAGES).flatMap(image =>
    LATEST_MODES.flatMap(latest =>
      IF_TAG_EXISTS.flatMap(ifExists =>
        REGISTRY_STATES.map(registry => ({
          id: `${event.id}/${image}/latest-${latest}/${ifExists}/${registry.replace(' ', '-')}`,
          event,
          image,
          inputs: { latest, 'if-tag-exists': ifExists },
          registry: registry === 'tag exists' ? { holds: [image === 'versioned' ? VERSIONED_TAG : (event.gitTag ?? `sha-${SHA.slice(0, 7)}`)] } : { holds: [] },
          expect: expected(event, image, latest, ifExists, registry)
        }))
      )
    )
  )
)

/**
 * `latest` when it already holds a newer release: `true` never moves it backwards, `always` does. `registry.latest`
 * is what the index under `latest` carries (its version annotations).
 */
export const LATEST_ROWS = [
  ...[
    ['true', 'ghcr.io/owner/image:latest holds v1.3.0, newer than this build\'s v1.2.3: latest never moves backwards'],
    ['always', MOVES]
  ].map(([latest, decision]) => ({
    id: `latest-newer/program/latest-${latest}`,
    event: EVENTS[0],
    image: 'program',
    inputs: { latest, 'if-tag-exists': 'suffix' },
    registry: { holds: [], latest: { 'org.opencontainers.image.version': 'v1.3.0' } },
    expect: { ...expected(EVENTS[0], 'program', 'false', 'suffix', 'empty'), latest: decision === MOVES, ...(decision === MOVES ? {} : { latestWhy: decision }) }
  })),
  ...[
    ['true', 'ghcr.io/owner/image:latest holds go 1.26.0, newer than this build\'s 1.25.4: latest never moves backwards'],
    ['always', MOVES]
  ].map(([latest, decision]) => ({
    id: `latest-newer/versioned/latest-${latest}`,
    event: EVENTS[0],
    image: 'versioned',
    inputs: { latest, 'if-tag-exists': 'suffix' },
    registry: { holds: [], latest: { 'io.go-build.golang.version': '1.26.0', 'org.opencontainers.image.version': '1.26.0-llvm18.1.8-k8s1.34.1' } },
    expect: { ...expected(EVENTS[0], 'versioned', 'false', 'suffix', 'empty'), latest: decision === MOVES, ...(decision === MOVES ? {} : { latestWhy: decision }) }
  }))
]

// ---------------------------------------------------------------------------------------------------------------
// Rendering

const code = text => `\`${text}\``
const cell = text => String(text).replace(/\|/g, '\\|')
const rowOf = (id, rows = ROWS) => {
  const row = rows.find(r => r.id === id)
  if (!row) throw new Error(`event-table: no row ${id}`)
  return row
}
const pushed = e => (e.fails ? 'fails, nothing built' : e.push ? 'yes' : e.build ? 'no (builds and verifies)' : 'no, nothing built')
const tagsText = tags => (tags.length ? tags.map(code).join(', ') : '–')
const platformText = e => `${code(e.platformTags['linux/amd64'])}, …`
const latestText = e => (e.latest ? 'moves' : e.latestWhy ? `stays: ${e.latestWhy}` : '–')

/** The README's table: one row per event and ref kind, default inputs, nothing published yet. */
export function renderReadmeTable() {
  const lines = [
    '| Event | Ref or type | Pushes | Main tag: a Go program | Main tag: a versioned image | Event tag | Why |',
    '| --- | --- | --- | --- | --- | --- | --- |'
  ]
  for (const event of EVENTS) {
    const program = rowOf(`${event.id}/program/latest-false/suffix/empty`).expect
    const versioned = rowOf(`${event.id}/versioned/latest-false/suffix/empty`).expect
    lines.push(
      program.build
        ? `| ${code(event.event)} | ${cell(event.kind)} | ${pushed(program)} | ${code(program.tag)} | ${code(versioned.tag)} | ${tagsText(versioned.eventTags)} | ${cell(event.why)} |`
        : `| ${code(event.event)} | ${cell(event.kind)} | ${pushed(program)} | – | – | – | ${cell(event.why)} |`
    )
  }
  return lines.join('\n')
}

/**
 * docs/tags.md's tables: per event, each image and registry situation (rows that differ only in `if-tag-exists`
 * are one line where their outcomes agree, and must agree), with `latest: true` and `always` side by side.
 */
export function renderDocsTables() {
  const sections = []
  for (const event of EVENTS) {
    const lines = [
      `### ${code(event.event)}: ${event.kind}`,
      '',
      `${event.pushes === true ? 'Pushes' : event.pushes === false ? 'Builds and verifies, pushes nothing' : 'Builds and pushes nothing'}: ${cell(event.why)}. Ref \`${event.ref}\`.`,
      '',
      '| Image | Registry holds | `if-tag-exists` | Pushes | Main tag | Per-platform tags | Event tags | `latest: true` | `latest: always` |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for (const image of Object.keys(IMAGES)) {
      for (const registry of REGISTRY_STATES) {
        const outcomes = IF_TAG_EXISTS.map(ifExists => {
          const id = `${event.id}/${image}/latest-%/${ifExists}/${registry.replace(' ', '-')}`
          const [off, on, always] = LATEST_MODES.map(latest => rowOf(id.replace('%', latest)).expect)
          if (off.latest || off.latestWhy) throw new Error(`event-table: ${id.replace('%', 'false')} moves latest`)
          return { ifExists, off, on, always, text: JSON.stringify([off, on, always]) }
        })
        const groups = outcomes.every(o => o.text === outcomes[0].text) ? [{ ...outcomes[0], ifExists: 'any' }] : outcomes
        for (const { ifExists, off, on, always } of groups) {
          const holds = registry === 'empty' ? 'nothing' : `${code(image === 'versioned' ? VERSIONED_TAG : (event.gitTag ?? `sha-${SHA.slice(0, 7)}`))} (another build)`
          lines.push(
            off.fails
              ? `| ${image} | ${holds} | ${code(ifExists)} | fails before building: ${cell(off.fails)} | – | – | – | – | – |`
              : !off.build
                ? `| ${image} | ${holds} | ${ifExists === 'any' ? 'any' : code(ifExists)} | ${pushed(off)} | – | – | – | – | – |`
                : `| ${image} | ${holds} | ${ifExists === 'any' ? 'any' : code(ifExists)} | ${pushed(off)} | ${code(off.tag)} | ${platformText(off)} | ${tagsText(off.eventTags)} | ${cell(latestText(on))} | ${cell(latestText(always))} |`
          )
        }
      }
    }
    sections.push(lines.join('\n'))
  }
  const latestLines = [
    '| Image | `latest` holds | `latest` | Main tag | `latest` after the run |',
    '| --- | --- | --- | --- | --- |',
    ...LATEST_ROWS.map(row => {
      const holds = Object.entries(row.registry.latest).map(([k, v]) => `${code(k)}: ${code(v)}`).join(', ')
      return `| ${row.image} | ${holds} | ${code(row.inputs.latest)} | ${code(row.expect.tag)} | ${cell(latestText(row.expect))} |`
    })
  ]
  return `${sections.join('\n\n')}\n\n### \`latest\` already holds a newer release (a release \`v1.2.3\`)\n\n${latestLines.join('\n')}`
}
