#!/usr/bin/env node
// Stress run of concurrent publishes (not part of npm test or CI): many pairs of runs that publish one main tag at
// once with if-tag-exists: overwrite and no concurrency group, on both runner paths (__tests__/stress/), then a
// tally per path. Needs the local environment (bash scripts/e2e-env.sh up) and a fresh dist/ (npm run build).
//
//   npm run stress [-- --pairs 20] [--paths hosted,engine]
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { repoRoot } from './run-action.mjs'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const pairs = Number(option('pairs', '20'))
const paths = option('paths', 'hosted,engine').split(',')
const out = path.join(await mkdtemp(path.join(tmpdir(), 'go-build-action-stress-')), 'tally.json')
const titles = { hosted: '\\[hosted path', engine: '\\[engine path' }

const started = Date.now()
const status = await new Promise(resolve => {
  const jest = spawn(
    process.execPath,
    [
      '--experimental-vm-modules',
      '--no-warnings=ExperimentalWarning',
      path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js'),
      '--config',
      path.join(repoRoot, 'jest.stress.config.js'),
      '-t',
      `^(${paths.map(p => titles[p]).join('|')})`
    ],
    { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, STRESS_PAIRS: String(pairs), STRESS_OUT: out } }
  )
  jest.on('close', code => resolve(code ?? 1))
})

if (!existsSync(out)) {
  console.log(`stress: no tally (jest exited ${status})`)
  process.exit(status || 1)
}
const tally = JSON.parse(readFileSync(out, 'utf8'))
console.log(`\nconcurrent publishes of one tag, ${pairs} pairs per path (${Math.round((Date.now() - started) / 60000)} min):`)
for (const [name, verdicts] of Object.entries(tally)) {
  const count = f => verdicts.filter(f).length
  const forced = verdicts.filter(v => v.forced)
  console.log(
    `  ${name}: ${verdicts.length} pairs (${forced.length} made to meet): ${count(v => !v.consistent)} left a mix; ` +
      `${count(v => v.exitCodes.every(c => c === 0))} both succeeded, ${count(v => v.exitCodes.filter(c => c !== 0).length === 1)} one failed, ` +
      `${count(v => v.exitCodes.every(c => c !== 0))} both failed; TAG on a run's index in ${count(v => v.heldBy >= 0)}; ` +
      `failed runs reporting a tag wrong: ${verdicts.flatMap(v => v.untruthful.filter(u => u.failed)).length}; ` +
      `runs that succeeded although TAG holds the other's index: ${verdicts.reduce((n, v) => n + v.succeededButLost.length, 0)}; ` +
      `median pair ${verdicts.map(v => v.seconds).sort((a, b) => a - b)[Math.floor(verdicts.length / 2)] ?? 0} s`
  )
  for (const v of verdicts.filter(v => !v.consistent)) console.log(`    mix: ${v.mix.join('; ')}`)
  for (const error of new Set(verdicts.flatMap(v => v.errors).map(e => e.replace(/sha256:[0-9a-f]{64}/g, 'sha256:…').replace(/localhost:\d+\/e2e\/stress-[^:]+/g, 'REPO')))) console.log(`    error: ${error.slice(0, 300)}`)
}
process.exit(status)
