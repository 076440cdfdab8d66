import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'

// src/ is laid out as the pipeline: a ground floor, then one folder per stage in the order main.ts runs them, and
// at the top the entry points that compose them. A file imports from its own folder or from one before it, never
// from a later one nor from the top; and no import circle, type imports included.
const FOLDERS = ['core', 'setup', 'tags', 'build', 'verify', 'publish', 'report', 'check']
const TOP = ['index.ts', 'main.ts', 'post.ts', 'settings.ts', 'stages.ts']
const SRC = path.resolve('src')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry =>
    entry.isDirectory() ? sources(path.join(dir, entry.name)) : entry.name.endsWith('.ts') ? [path.join(dir, entry.name)] : []
  )
}

/** Every relative import of a file (static, dynamic, re-exports, `import type`), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)].map(m =>
    path.relative(SRC, path.resolve(path.dirname(file), `${m[1]}.ts`))
  )
}

type Graph = Map<string, string[]>
const rank = (file: string): number => (file.includes('/') ? FOLDERS.indexOf(file.split('/')[0] ?? '') : FOLDERS.length)

/** `a → b` for every import of a file from a later folder or from the top. */
function upwardImports(graph: Graph): string[] {
  return [...graph].flatMap(([file, targets]) => targets.filter(t => rank(t) > rank(file)).map(t => `${file} → ${t}`))
}

/** Every import circle a depth-first walk meets, as `a → b → a`. */
function circles(graph: Graph): string[] {
  const found: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'open') {
      found.push([...trail.slice(trail.indexOf(file)), file].join(' → '))
      return
    }
    state.set(file, 'open')
    for (const target of graph.get(file) ?? []) visit(target, [...trail, file])
    state.set(file, 'done')
  }
  for (const file of graph.keys()) visit(file, [])
  return found
}

const files = sources(SRC).map(f => path.relative(SRC, f))
const graph: Graph = new Map(files.map(f => [f, importsOf(path.join(SRC, f))]))

describe('src/ layout', () => {
  it('has the stage folders and, at the top, only the entry points and their composition', () => {
    expect(files.filter(f => !f.includes('/')).sort()).toEqual([...TOP].sort())
    expect(files.filter(f => f.includes('/') && rank(f) < 0)).toEqual([])
    for (const folder of FOLDERS) expect(files.some(f => f.startsWith(`${folder}/`))).toBe(true)
  })

  it('reads every import, type imports included, and each resolves to a file under src/', () => {
    expect(graph.get('main.ts')).toEqual(expect.arrayContaining(['stages.ts', 'core/docker.ts', 'check/check.ts']))
    const dangling = [...graph].flatMap(([file, targets]) => targets.filter(t => !graph.has(t)).map(t => `${file} → ${t}`))
    expect(dangling).toEqual([])
  })

  it('no folder imports a later stage or the top', () => {
    expect(upwardImports(graph)).toEqual([])
  })

  it('has no import circle', () => {
    expect(circles(graph)).toEqual([])
  })

  it('the checks find what they look for (they are not no-ops)', () => {
    const bad: Graph = new Map([
      ['core/a.ts', ['publish/b.ts']],
      ['publish/b.ts', ['publish/c.ts']],
      ['publish/c.ts', ['publish/b.ts', 'main.ts']],
      ['main.ts', []]
    ])
    expect(upwardImports(bad)).toEqual(['core/a.ts → publish/b.ts', 'publish/c.ts → main.ts'])
    expect(circles(bad)).toEqual(['publish/b.ts → publish/c.ts → publish/b.ts'])
  })
})
