/** Line coverage per file of src/, by path relative to the repository. */
export function lineCoverage(summary: Record<string, { lines: { pct: number } }>, base?: string): Record<string, number>
/** Each file's line coverage, rounded down to a whole percent. */
export function floorsOf(coverage: Record<string, number>): Record<string, number>
/** The files below their floor (or with a floor and no coverage), and the files without a floor. */
export function checkFloors(coverage: Record<string, number>, floors: Record<string, number>): { failures: string[]; unfloored: string[] }
