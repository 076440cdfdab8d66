export const SHOWN_REPOSITORY: string
export function readmeSummary(summary: string, repository: string): string
export function withSummary(readme: string, block: string): string
