/**
 * Turns measurements into the printed table, the Markdown file and the JSON file, with the
 * ratio ours / Emmett on every PostgreSQL row (above 1 means keyledger is faster).
 */

import type { Measurement } from './workload.js';
import type { BackendName } from './worker.js';

export interface Environment {
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  postgres: string | null;
  emmettPostgresql: string | null;
  payload: { dataBytes: number; metadataBytes: number };
  scale: number;
  rounds: number;
}

export interface ResultRow extends Measurement {
  backend: BackendName;
  /** events/s of every round, in round order; the row's figures are the median round's. */
  roundsEventsPerSecond?: number[];
  /** postgres rows only: our events/s divided by Emmett's on the same workload. */
  ratioVsEmmett?: number;
}

export interface Results {
  environment: Environment;
  rows: ResultRow[];
}

type RoundedMeasurement = Measurement & { roundsEventsPerSecond?: number[] };

/** Per workload, the round with the median events/s (its latencies and notes come along). */
export function medianRows(rounds: readonly Measurement[][]): RoundedMeasurement[] {
  const first = rounds[0] ?? [];
  return first.map((m, i) => {
    const same = rounds.map((r) => r[i]!).filter((x) => x.workload === m.workload);
    const sorted = [...same].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const notes = [...new Set(same.map((x) => x.note).filter((n): n is string => n !== undefined))];
    const row: RoundedMeasurement = { ...median, roundsEventsPerSecond: same.map((x) => x.eventsPerSecond) };
    if (notes.length > 0) row.note = notes.join(' | ');
    else delete row.note;
    return row;
  });
}

export function withRatios(byBackend: Map<BackendName, RoundedMeasurement[]>): ResultRow[] {
  const emmett = new Map((byBackend.get('emmett-postgres') ?? []).map((m) => [m.workload, m]));
  const rows: ResultRow[] = [];
  for (const [backend, measurements] of byBackend) {
    for (const m of measurements) {
      const peer = backend === 'postgres' ? emmett.get(m.workload) : undefined;
      const row: ResultRow = { backend, ...m };
      if (peer && peer.eventsPerSecond > 0) row.ratioVsEmmett = Math.round((m.eventsPerSecond / peer.eventsPerSecond) * 100) / 100;
      rows.push(row);
    }
  }
  return rows;
}

const HEADERS = ['backend', 'workload', 'ops/s', 'events/s', 'events/s range', 'p50 ms', 'p99 ms', 'ours/Emmett'];

function cells(row: ResultRow): string[] {
  return [
    row.backend,
    row.workload,
    String(row.opsPerSecond),
    String(row.eventsPerSecond),
    row.roundsEventsPerSecond && row.roundsEventsPerSecond.length > 1
      ? `${Math.min(...row.roundsEventsPerSecond)}-${Math.max(...row.roundsEventsPerSecond)}`
      : '',
    row.p50Ms === null ? '-' : row.p50Ms.toFixed(2),
    row.p99Ms === null ? '-' : row.p99Ms.toFixed(2),
    row.ratioVsEmmett === undefined ? '' : `${row.ratioVsEmmett.toFixed(2)}x`,
  ];
}

export function textTable(rows: readonly ResultRow[]): string {
  const body = rows.map(cells);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7]);
  const line = (r: readonly string[]) =>
    r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const notes = rows.filter((r) => r.note).map((r) => `note: ${r.backend}, ${r.workload}: ${r.note}`);
  return [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ...notes].join('\n');
}

export function markdown(results: Results): string {
  const env = results.environment;
  const table = [
    `| ${HEADERS.join(' | ')} |`,
    `| ${HEADERS.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
    ...results.rows.map((row) => `| ${cells(row).join(' | ')} |`),
  ];
  const notes = results.rows.filter((r) => r.note).map((r) => `- ${r.backend}, ${r.workload}: ${r.note}`);
  return [
    '# Event store benchmark results',
    '',
    `Run ${env.date} with \`pnpm bench event-store\` (see [README](../README.md) for what each figure means).`,
    '',
    `- Machine: ${env.cpus} CPU(s) (${env.cpuModel}), ${env.memoryGiB} GiB RAM, ${env.platform}`,
    `- Node ${env.node}; PostgreSQL ${env.postgres ?? 'n/a'}; @event-driven-io/emmett-postgresql ${env.emmettPostgresql ?? 'n/a'}`,
    `- Payload: ${env.payload.dataBytes} B of JSON data and ${env.payload.metadataBytes} B of JSON metadata per event`,
    `- Each row: the median of ${env.rounds} round(s) by events/s (range: slowest-fastest round); each round ran every backend once, on a fresh database`,
    env.scale === 1 ? '' : `- Scale ${env.scale} (a reduced run)`,
    '',
    ...table,
    '',
    ...(notes.length > 0 ? ['Notes:', '', ...notes, ''] : []),
    'ours/Emmett: keyledger PostgreSQL events/s divided by Emmett PostgreSQL events/s on the same row (above 1: ours is faster).',
    '',
    ...(notes.some((n) => n.startsWith('- emmett'))
      ? [
          "The emmett-postgres read note comes from `readMessagesBatch`, the exported reader this benchmark calls. Checked separately with Emmett's own documented consumer API (`eventStore.consumer()` + `reactor({ eachMessage })`): under 8 concurrent writers it never delivers some events (it skips them for good) and delivered none twice; see [emmett-consumer-check.md](emmett-consumer-check.md). Emmett's main branch pages by (transaction id, position) since commit 580d0a3e (2026-05-06, on the 0.43 betas); no 0.42.x release has it.",
          '',
        ]
      : []),
  ]
    .filter((l, i, all) => !(l === '' && all[i - 1] === ''))
    .join('\n');
}
