/**
 * The README and docs/ link to each other: every relative link names a file that exists and, with a `#anchor`, a
 * heading of that file (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens); every docs page is
 * linked from the README or from another page; the README stays what a workflow author reads in a few minutes.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'

const root = path.resolve(import.meta.dirname, '..', '..')
const pages = ['README.md', 'CONTRIBUTING.md', ...readdirSync(path.join(root, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]
const text = (file: string): string => readFileSync(path.join(root, file), 'utf8')

/** The anchors GitHub makes of a markdown file's headings (outside code blocks). */
function anchors(file: string): Set<string> {
  const found = new Set<string>()
  let fenced = false
  for (const line of text(file).split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced
    const heading = !fenced && /^#{1,6} (.*)$/.exec(line)
    if (heading) found.add(heading[1]!.toLowerCase().replace(/`/g, '').replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-'))
  }
  return found
}

/** `[text](target)` links outside code blocks and inline code. */
function links(file: string): string[] {
  const prose = text(file)
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '')
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map(m => m[1]!).filter(target => !/^[a-z]+:/.test(target))
}

describe('README and docs/', () => {
  it.each(pages)('%s: every relative link leads to a file and heading that exist', file => {
    const broken = links(file).filter(target => {
      const [where, anchor] = target.split('#') as [string, string | undefined]
      const resolved = where === '' ? file : path.normalize(path.join(path.dirname(file), where))
      if (!existsSync(path.join(root, resolved))) return true
      return anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)
    })
    expect(broken).toEqual([])
  })

  it('every docs page is linked from the README or another page', () => {
    const linked = new Set(pages.flatMap(file => links(file).map(target => path.normalize(path.join(path.dirname(file), target.split('#')[0]!)))))
    expect(pages.filter(page => page.startsWith('docs/') && !linked.has(page))).toEqual([])
  })

  it('the README is under about 500 lines, "How it works" being in docs/', () => {
    expect(text('README.md').split('\n').length).toBeLessThanOrEqual(560)
    expect(text('README.md')).not.toContain('#### ')
  })
})
