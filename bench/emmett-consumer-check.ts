/**
 * Checks one claim of bench/results/event-store.md with Emmett's own documented consumer API
 * (`eventStore.consumer()` + `consumer.reactor({ processorId, eachMessage })`, as in Emmett's
 * docs, "PostgreSQL consumer"), not an internal function: while 8 writers append concurrently,
 * does Emmett's PostgreSQL consumer deliver every event exactly once?
 *
 *   npx tsx bench/emmett-consumer-check.ts [--writers 8] [--appends 250] [--rounds 3]
 *
 * Env: KEYLEDGER_BENCH_PG_URL (admin connection; default postgres://postgres@127.0.0.1:5432/postgres).
 * A correctness check, not a speed benchmark (not in `pnpm bench`). Writes
 * bench/results/emmett-consumer-check.{json,md}.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import { createScratchDatabase } from './lib/pg-database.js';

const { values } = parseArgs({ options: { writers: { type: 'string' }, appends: { type: 'string' }, rounds: { type: 'string' }, 'one-round': { type: 'string' } }, strict: true });
const WRITERS = Number(values.writers ?? 8);
const APPENDS = Number(values.appends ?? 250);
const ROUNDS = Number(values.rounds ?? 3);
const PG_ADMIN = process.env.KEYLEDGER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

interface Round {
  appended: number;
  delivered: number;
  unique: number;
  duplicates: number;
  missing: number;
}

/** One round in a child process of its own (`--one-round <url>`): dropping the database afterwards
 * kills connections Emmett's pool still holds, which would crash the process that owns them. */
async function roundIn(connectionString: string): Promise<Round> {
  const store = getPostgreSQLEventStore(connectionString);
  // Create the schema before the consumer starts polling.
  await store.appendToStream('warmup-0', [{ type: 'Warmup', data: { n: -1 } }]);
  const delivered: string[] = [];
  const consumer = store.consumer({ pulling: { batchSize: 100, pullingFrequencyInMs: 10 } });
  consumer.reactor({
    processorId: 'keyledger-check',
    eachMessage: async (message: { type: string; data: unknown }) => {
      if (message.type === 'Checked') delivered.push((message.data as { id: string }).id);
    },
  });
  const running = consumer.start();
  const writer = async (w: number) => {
    for (let n = 0; n < APPENDS; n++) {
      await store.appendToStream(`check-${w}-${Math.floor(n / 10)}`, [{ type: 'Checked', data: { id: `${w}:${n}` } }]);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  const appended = WRITERS * APPENDS;
  // Let the consumer catch up: until it has everything, or nothing new arrived for 5 s.
  let last = -1;
  let quietSince = Date.now();
  while (new Set(delivered).size < appended && Date.now() - quietSince < 5_000) {
    if (delivered.length !== last) {
      last = delivered.length;
      quietSince = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await consumer.close();
  await running.catch(() => undefined);
  await store.close();
  const unique = new Set(delivered).size;
  return { appended, delivered: delivered.length, unique, duplicates: delivered.length - unique, missing: appended - unique };
}

if (values['one-round']) {
  process.stdout.write(JSON.stringify(await roundIn(values['one-round'])));
  process.exit(0);
}

async function round(): Promise<Round> {
  const db = await createScratchDatabase(PG_ADMIN, 'keyledger_emmett_check');
  try {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--one-round', db.connectionString, '--writers', String(WRITERS), '--appends', String(APPENDS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (child.status !== 0) throw new Error(`round failed (exit ${child.status})`);
    return JSON.parse(child.stdout) as Round;
  } finally {
    await db.drop();
  }
}

const rounds: Round[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const result = await round();
  console.error(`round ${r + 1}: appended ${result.appended}, delivered ${result.delivered}, duplicates ${result.duplicates}, missing ${result.missing}`);
  rounds.push(result);
}
const md = [
  '# Emmett PostgreSQL consumer under concurrent writers',
  '',
  `\`npx tsx bench/emmett-consumer-check.ts --writers ${WRITERS} --appends ${APPENDS} --rounds ${ROUNDS}\`, ${new Date().toISOString()}, @event-driven-io/emmett-postgresql 0.42.0 (the version bench/package.json pins).`,
  '',
  `Emmett's documented consumer (\`eventStore.consumer({ pulling: { batchSize: 100 } })\` with one \`reactor({ processorId, eachMessage })\`) runs while ${WRITERS} writers append ${APPENDS} one-event appends each (their own streams, no expected version), then is given until it has every event or 5 s without progress.`,
  '',
  '| round | appended | delivered | duplicates | missing |',
  '|---|---:|---:|---:|---:|',
  ...rounds.map((r, i) => `| ${i + 1} | ${r.appended} | ${r.delivered} | ${r.duplicates} | ${r.missing} |`),
  '',
].join('\n');
console.log(md);
if (ROUNDS >= 3) {
  writeFileSync(`${RESULTS}emmett-consumer-check.json`, `${JSON.stringify({ date: new Date().toISOString(), writers: WRITERS, appends: APPENDS, rounds }, null, 2)}\n`);
  writeFileSync(`${RESULTS}emmett-consumer-check.md`, `${md}\n`);
}
