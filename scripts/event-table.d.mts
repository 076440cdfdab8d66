export interface EventCase {
  id: string
  family: string
  event: string
  kind: string
  ref: string
  payload: Record<string, unknown>
  pushes: boolean | 'nothing built'
  why: string
  gitTag?: string
  latest?: { true: true | string; always: true | string }
}
export type Expectation =
  | { fails: string }
  | {
      push: boolean
      build: boolean
      why: string
      tag: string
      platformTags: Record<string, string>
      eventTags: string[]
      latest: boolean
      latestWhy?: string
    }
export interface EventRow {
  id: string
  event: EventCase
  image: 'program' | 'versioned'
  inputs: { latest: 'false' | 'true' | 'always'; 'if-tag-exists': 'suffix' | 'overwrite' | 'fail' }
  registry: { holds: string[]; latest?: Record<string, string> }
  expect: Expectation
}
export const SHA: string
export const DEFAULT_BRANCH: string
export const IMAGE: string
export const VERSIONED_TAG: string
export const VERSIONS: Record<string, string>
export const ARCHES: string[]
export const IMAGES: Record<'program' | 'versioned', string>
export const EVENTS: EventCase[]
export const ROWS: EventRow[]
export const LATEST_ROWS: EventRow[]
export const MOVES: true
export function platformTagsOf(tag: string): Record<string, string>
export function renderReadmeTable(): string
export function renderDocsTables(): string
