export interface ActionManifest {
  inputs?: Record<string, unknown>
  outputs?: Record<string, unknown>
}
export const GROUPS: Array<{ title: string; inputs: Record<string, string | { choices: string[]; text: string }> }>
export const OUTPUT_FORMATS: Record<string, string>
export function renderTables(action: ActionManifest): { inputs: string; outputs: string }
export function updatedReadme(readme: string, action: ActionManifest): string
export function updatedTagsPage(page: string): string
