/** Fault trials print their figures (they are measured, never asserted as timings). */

export function summarise(samplesMs: readonly number[]): string {
  if (samplesMs.length === 0) return 'n/a';
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5).toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms`;
}

export function printFigures(trial: string, figures: Record<string, string | number>): void {
  console.log(`[fault] ${trial}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(', ')}`);
}

/** Unique problems, each with the trial it was first seen in (a broken invariant stays broken in later trials). */
export class Problems {
  readonly #first = new Map<string, number>();
  add(trial: number, kind: string, items: readonly string[]): void {
    for (const item of items) if (!this.#first.has(`${kind}: ${item}`)) this.#first.set(`${kind}: ${item}`, trial);
  }
  of(kind: string): string[] {
    return [...this.#first].filter(([k]) => k.startsWith(`${kind}: `)).map(([k, trial]) => `${k} (first seen after trial ${trial})`);
  }
}
