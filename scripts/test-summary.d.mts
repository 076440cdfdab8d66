interface Failure {
  file: string
  title: string
  messages: string[]
}
/** The failed tests, each with the head of its first failure message (colour codes and stack frames dropped). */
export function failureLines(failures: Failure[], root: string, limits?: { tests?: number; lines?: number }): string[]
