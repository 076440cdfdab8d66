import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { adviseEmulation, contextFileReader, expandVariables, readEmulationMode, simpleCommands, type EmulationRequest } from '../../src/setup/emulation.js'
import { parsePlatform } from '../../src/core/platform.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '__fixtures__', 'dockerfiles')
const dockerfile = (name: string): string => readFileSync(path.join(dir, name), 'utf8')
const FOUR = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'].map(parsePlatform)
const FOREIGN = ['linux/arm64', 'linux/ppc64le', 'linux/s390x']

/** The context files the corpus copies in. */
const CONTEXT: Record<string, string> = {
  'scripts/build.sh': '#!/bin/sh\nset -e\ncd build\n# configure first\nmake -j"$(nproc)" all\n',
  'build-release.sh': '#!/bin/sh\nset -eu\nif [ -n "${STRIP:-}" ]; then echo stripping; fi\nmake release\n'
}

function advise(name: string, options: Partial<EmulationRequest> = {}): Array<Record<string, unknown>> {
  return adviseEmulation({
    dockerfile: dockerfile(name),
    file: `docker/${name}`,
    buildArgs: [],
    platforms: FOUR,
    hostArchitecture: 'amd64',
    readContextFile: relative => CONTEXT[relative],
    ...options
  }).map(({ line, stage, platforms, tools, otherLines }) => ({ line, stage, platforms, tools, otherLines }))
}

describe('adviseEmulation over the Dockerfile corpus (__fixtures__/dockerfiles)', () => {
  it.each([
    ['qemu-go.Dockerfile', {}, [{ line: 10, stage: 'build', platforms: FOREIGN, tools: ['go build'], otherLines: [] }]],
    [
      'qemu-go.Dockerfile, two platforms',
      { platforms: ['linux/amd64', 'linux/arm64'].map(parsePlatform) },
      [{ line: 10, stage: 'build', platforms: ['linux/arm64'], tools: ['go build'], otherLines: [] }]
    ],
    ['qemu-go.Dockerfile, a native arm64 leg building linux/arm64', { hostArchitecture: 'arm64', platforms: [parsePlatform('linux/arm64')] }, []],
    [
      'qemu-go.Dockerfile, --target build',
      { target: 'build' },
      [{ line: 10, stage: 'build', platforms: FOREIGN, tools: ['go build'], otherLines: [] }]
    ],
    ['cross-go.Dockerfile', {}, []],
    ['arg-platform.Dockerfile', {}, []],
    [
      'arg-platform.Dockerfile, --target test',
      { target: 'test' },
      [{ line: 6, stage: 'test', platforms: FOREIGN, tools: ['go test'], otherLines: [] }]
    ],
    [
      'arg-platform.Dockerfile, BUILDER_PLATFORM=linux/arm64 as a build arg',
      { buildArgs: [{ name: 'BUILDER_PLATFORM', value: 'linux/arm64' }] },
      [{ line: 3, stage: 'build', platforms: ['linux/amd64', ...FOREIGN], tools: ['go build'], otherLines: [] }]
    ],
    [
      'heredoc-and-script.Dockerfile',
      {},
      [{ line: 12, stage: 'native', platforms: FOREIGN, tools: ['make (in ./scripts/build.sh)', 'cmake'], otherLines: [13] }]
    ],
    [
      'final-stage-compile.Dockerfile',
      {},
      [{ line: 4, stage: 'stage 0', platforms: FOREIGN, tools: ['go install'], otherLines: [] }]
    ],
    ['rootfs-stage.Dockerfile', {}, [{ line: 12, stage: 'ubi', platforms: FOREIGN, tools: ['make', 'go install'], otherLines: [14] }]],
    [
      'usr-stage.Dockerfile',
      {},
      [
        { line: 6, stage: 'base', platforms: FOREIGN, tools: ['make'], otherLines: [] },
        { line: 9, stage: 'toolchain', platforms: FOREIGN, tools: ['gcc'], otherLines: [] }
      ]
    ],
    [
      'copied-script-on-path.Dockerfile',
      {},
      [{ line: 7, stage: 'build', platforms: FOREIGN, tools: ['make (in build-release.sh)', 'cargo build (in compile)'], otherLines: [8] }]
    ]
  ])('%s', (name, options, expected) => {
    expect(advise(name.split(',')[0]!, options as Partial<EmulationRequest>)).toEqual(expected)
  })

  it('names the RUN line, the platforms and the FROM to pin, for a build stage', () => {
    const [finding] = adviseEmulation({
      dockerfile: dockerfile('qemu-go.Dockerfile'),
      file: 'examples/qemu/Dockerfile',
      buildArgs: [],
      platforms: FOUR,
      hostArchitecture: 'amd64'
    })
    expect(finding?.file).toBe('examples/qemu/Dockerfile')
    expect(finding?.message).toBe(
      'Stage "build" runs go build under QEMU for linux/arm64, linux/ppc64le and linux/s390x, typically 5–20× slower than on the runner\'s own CPU. ' +
        'Cross-compile on the runner instead: change line 6 to FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build, ' +
        'declare ARG TARGETOS TARGETARCH in the stage and build with GOOS=$TARGETOS GOARCH=$TARGETARCH (CGO_ENABLED=0); ' +
        'the COPY --from=build into the target stage stays as it is.'
    )
  })

  it('says to split the stage when the compile happens in the image itself', () => {
    const [finding] = adviseEmulation({
      dockerfile: dockerfile('final-stage-compile.Dockerfile'),
      file: 'Dockerfile',
      buildArgs: [],
      platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm/v7')],
      hostArchitecture: 'amd64'
    })
    expect(finding?.message).toBe(
      'The stage on line 1 runs go install under QEMU for linux/arm/v7, typically 5–20× slower than on the runner\'s own CPU. ' +
        'This stage is the image itself, so move the compile into a build stage: FROM --platform=$BUILDPLATFORM golang:1.25 AS build, ' +
        'declare ARG TARGETOS TARGETARCH TARGETVARIANT in the stage and build with GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} (CGO_ENABLED=0); ' +
        'then COPY --from=build the results into this stage.'
    )
  })

  it('never advises $BUILDPLATFORM for a stage whose whole filesystem becomes the image (calico\'s go-build shape)', () => {
    const [finding] = adviseEmulation({
      dockerfile: dockerfile('rootfs-stage.Dockerfile'),
      file: 'Dockerfile',
      buildArgs: [],
      platforms: FOUR,
      hostArchitecture: 'amd64'
    })
    expect(finding?.message).toBe(
      'Stage "ubi" runs make and go install (also on line 14) under QEMU for linux/arm64, linux/ppc64le and linux/s390x, typically 5–20× slower than on the runner\'s own CPU. ' +
        'Its filesystem becomes the image (COPY --from=ubi / / on line 17), so do not move it to FROM --platform=$BUILDPLATFORM: ' +
        'its package installs would put the runner\'s linux/amd64 packages into the linux/arm64, linux/ppc64le and linux/s390x image. ' +
        'Build those platforms natively instead: mode: leg on a native runner (ubuntu-24.04-arm for linux/arm64; a self-hosted runner for linux/ppc64le and linux/s390x) and mode: merge, or a build node of that architecture (input "nodes"); ' +
        'or move only the compiling steps into a FROM --platform=$BUILDPLATFORM stage that cross-compiles (declare ARG TARGETOS TARGETARCH in the stage and build with GOOS=$TARGETOS GOARCH=$TARGETARCH; ' +
        'with cgo also set CC to a cross compiler for the target (e.g. CC=aarch64-linux-gnu-gcc, or CC="clang --target=aarch64-linux-gnu" with a target sysroot)) and COPY --from it just the binaries into this stage.'
    )
    expect(finding?.message).not.toContain('change line')
  })

  it('gives the native-build advice for a stage whose /usr and /etc become the image, and for the stage it is built FROM', () => {
    const findings = adviseEmulation({ dockerfile: dockerfile('usr-stage.Dockerfile'), file: 'Dockerfile', buildArgs: [], platforms: [parsePlatform('linux/arm64')], hostArchitecture: 'amd64' })
    expect(findings.map(f => f.stage)).toEqual(['base', 'toolchain'])
    for (const finding of findings) {
      expect(finding.message).toContain('Its filesystem becomes the image (COPY --from=toolchain /usr/ /usr/ on line 12)')
      expect(finding.message).toContain('mode: leg on a native runner (ubuntu-24.04-arm for linux/arm64) and mode: merge')
      expect(finding.message).not.toContain('change line')
    }
  })

  it.each([
    ['a binary', 'COPY --from=build /out/tool /usr/bin/tool', false],
    ['a directory of binaries under /usr', 'COPY --from=build /usr/local/bin/ /usr/local/bin/', false],
    ['the whole filesystem', 'COPY --from=build / /', true],
    ['/* of it', 'COPY --from=build /* /', true],
    ['its /usr', 'COPY --from=build /usr /usr', true],
    ['its /etc in exec form', 'COPY --from=build ["/etc", "/etc"]', true]
  ])('a builder stage handing over %s: %s → native advice %s', (_name, copy, native) => {
    const text = `FROM debian:12 AS build\nRUN apt-get install -y gcc && gcc -o /out/tool tool.c\nFROM busybox\n${copy}\n`
    const [finding] = adviseEmulation({ dockerfile: text, file: 'Dockerfile', buildArgs: [], platforms: FOUR, hostArchitecture: 'amd64' })
    expect(finding?.message.includes('Its filesystem becomes the image')).toBe(native)
    expect(finding?.message.includes('change line 1 to FROM --platform=$BUILDPLATFORM debian:12 AS build')).toBe(!native)
  })

  it('gives the cross C compiler for cgo builds, and the cargo and C steps', () => {
    const cgo = adviseEmulation({
      dockerfile: 'FROM golang:1.25 AS build\nENV CGO_ENABLED=1\nRUN go build -o /app .\nFROM debian:12\nCOPY --from=build /app /app\n',
      file: 'Dockerfile',
      buildArgs: [],
      platforms: FOUR,
      hostArchitecture: 'amd64'
    })
    expect(cgo[0]?.message).toContain('with cgo also set CC to a cross compiler for the target (e.g. CC=aarch64-linux-gnu-gcc')
    const c = adviseEmulation({
      dockerfile: 'FROM debian:12 AS build\nRUN apt-get install -y gcc && gcc -O2 -o /tool tool.c\nFROM debian:12\nCOPY --from=build /tool /tool\n',
      file: 'Dockerfile',
      buildArgs: [],
      platforms: FOUR,
      hostArchitecture: 'amd64'
    })
    expect(c.map(f => [f.line, f.tools])).toEqual([[2, ['gcc']]])
    expect(c[0]?.message).toContain('compile with a cross toolchain for $TARGETARCH')
  })

  it.each([
    ['npm ci with a C++ toolchain in the stage', 'FROM node:22 AS deps\nRUN apt-get install -y python3 make g++\nRUN npm ci\nFROM node:22-slim\nCOPY --from=deps /node_modules /node_modules\n', [[3, ['npm ci (native modules)']]]],
    ['npm ci without one', 'FROM node:22 AS deps\nRUN npm ci\nFROM node:22-slim\nCOPY --from=deps /node_modules /node_modules\n', []],
    ['package installs, mkdir, ln', 'FROM debian:12\nRUN apt-get update && apt-get install -y make gcc golang && mkdir /x && ln -s /x /y\n', []],
    ['go mod download and go version', 'FROM golang:1.25\nRUN go mod download && go version && command -v gcc\n', []],
    ['COPY and ADD only', 'FROM golang:1.25 AS build\nFROM busybox\nCOPY --from=build /usr/local/go/bin/go /go\nADD app.tar.gz /\n', []],
    ['a stage nothing uses', 'FROM golang:1.25 AS unused\nRUN go build ./...\nFROM busybox\nCOPY hello /\n', []],
    ['sh -c in exec form', 'FROM golang:1.25 AS b\nRUN ["/bin/sh", "-c", "cd /src && go build ./..."]\nFROM busybox\nCOPY --from=b /x /x\n', [[2, ['go build']]]],
    ['a compile behind if/then', 'FROM debian:12 AS b\nRUN if [ -f Makefile ]; then make; fi\nFROM busybox\nCOPY --from=b /x /x\n', [[2, ['make']]]],
    ['a literal native --platform', 'FROM --platform=linux/amd64 golang:1.25 AS b\nRUN go build ./...\nFROM busybox\nCOPY --from=b /x /x\n', []],
    ['COPY --from by index', 'FROM golang:1.25\nRUN go build -o /x .\nFROM busybox\nCOPY --from=0 /x /x\n', [[2, ['go build']]]],
    ['RUN --mount from a stage', 'FROM debian:12 AS src\nRUN make\nFROM busybox\nRUN --mount=type=bind,from=src,target=/s cp /s/x /x\n', [[2, ['make']]]]
  ])('%s', (_name, text, expected) => {
    const findings = adviseEmulation({ dockerfile: text, file: 'Dockerfile', buildArgs: [], platforms: FOUR, hostArchitecture: 'amd64' })
    expect(findings.map(f => [f.line, f.tools])).toEqual(expected)
  })
})

describe('expandVariables', () => {
  it.each([
    ['$A/${B}', { A: 'x', B: 'y' }, 'x/y'],
    ['${A:-fallback}', {}, 'fallback'],
    ['${A:-fallback}', { A: '' }, 'fallback'],
    ['${A-fallback}', { A: '' }, ''],
    ['${A:+set}', { A: '1' }, 'set'],
    ['${A:+set}', {}, ''],
    ['$UNSET', {}, '']
  ])('%s with %j → %s', (text, vars, expected) => {
    expect(expandVariables(text, vars)).toBe(expected)
  })
})

describe('simpleCommands', () => {
  it('splits on separators and continuations, dropping comments', () => {
    expect(simpleCommands('a b && c \\\n  d; e | f # g\n(h) $(i j)')).toEqual([['a', 'b'], ['c', 'd'], ['e'], ['f'], ['h'], ['i', 'j']])
  })
})

describe('readEmulationMode', () => {
  it.each([
    ['', 'warn'],
    ['error', 'error'],
    ['IGNORE', 'ignore']
  ])('%j → %s', (raw, mode) => {
    expect(readEmulationMode(() => raw)).toBe(mode)
  })

  it('names the input and the choices', () => {
    expect(() => readEmulationMode(() => 'loud')).toThrow('input "qemu-compile-check": "loud" is not valid: write one of warn, error, ignore')
  })
})

describe('contextFileReader', () => {
  it('reads files inside the context only', () => {
    const read = contextFileReader(dir)
    expect(read('qemu-go.Dockerfile')).toContain('FROM ${GO_IMAGE} AS build')
    expect(read('../elf/README.md')).toBeUndefined()
    expect(read('.')).toBeUndefined()
    expect(read('missing.sh')).toBeUndefined()
  })
})
