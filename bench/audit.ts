/**
 * The transparency log in the service (audit/): what integrating every event into the Merkle tree
 * costs the append path, how long an append waits to be covered by a signed checkpoint, and how
 * fast proofs come out of the database-backed tree at a million leaves.
 *
 *   npx tsx bench/audit.ts [--backends sqlite,postgres] [--seconds 3] [--rounds 6] [--leaves 1000000]
 *
 *  1. Append throughput, with the integrator running as the service runs it (PostgreSQL: in its
 *     worker thread; SQLite: in the appending thread; default cadence 500 ms) and without, in
 *     alternating rounds of the same run on the same store: KeyIssued events (the ones with a
 *     sealed digest, the costliest leaves), 8 concurrent appenders, one stream each append.
 *  2. Append -> inclusion in a signed checkpoint: every 20th append of the "with" rounds is timed
 *     from its acknowledgement to the signing time of the first stored checkpoint whose size
 *     covers its leaf; and the same for appends at a light, steady rate (20/s).
 *  3. Proofs at `--leaves` leaves from the stored tree (nodes written directly from an in-memory
 *     tree of random leaf hashes): inclusion and consistency proof generation through the log
 *     store (one indexed query per proof), and verification.
 *
 * Env: KEYLEDGER_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres), an admin
 * connection the run creates and drops its own database from. Results: bench/results/audit.{json,md}
 * (a full run: both backends, default sizes). Nothing is asserted; figures are printed and written.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CURRENT_SCHEMA_VERSION,
  generateNoteKeyPair,
  MemoryMerkleTree,
  proveConsistency,
  proveInclusion,
  verifyConsistency,
  verifyInclusion,
} from '@keyledger/schemas';
import { AuditIntegrator } from '../packages/service/src/audit/integrator.js';
// The service runs the integrator in a worker thread, from the built code (pnpm bench builds first).
import { WorkerIntegration } from '../packages/service/dist/audit/worker-integration.js';
import type { AuditLogStore } from '../packages/service/src/audit/log-store.js';
import { openPostgresAuditLogStore } from '../packages/service/src/audit/postgres-log-store.js';
import { auditKeyFromSignerKey } from '../packages/service/src/audit/signing-key.js';
import { openSqliteAuditLogStore } from '../packages/service/src/audit/sqlite-log-store.js';
import type { EventStore, NewEvent } from '../packages/service/src/store/port.js';
import { openPostgresEventStore } from '../packages/service/src/store/postgres/index.js';
import { openSqliteEventStore } from '../packages/service/src/store/sqlite/index.js';
import { createScratchDatabase, type ScratchDatabase } from './lib/pg-database.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const { values } = parseArgs({
  options: { backends: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, leaves: { type: 'string' } },
  strict: true,
});
const BACKENDS = (values.backends ?? 'sqlite,postgres').split(',') as ('sqlite' | 'postgres')[];
const SECONDS = Number(values.seconds ?? 3);
const ROUNDS = Number(values.rounds ?? 6);
const LEAVES = Number(values.leaves ?? 1_000_000);
const CONCURRENCY = 8;
const FULL_RUN = values.backends === undefined && values.seconds === undefined && values.rounds === undefined && values.leaves === undefined;
const PG_ADMIN = process.env.KEYLEDGER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const key = auditKeyFromSignerKey(generateNoteKeyPair('bench.keyledger/audit').signerKey, 'bench key');

interface Opened {
  store: EventStore;
  file?: string;
  url?: string;
  openLog(): Promise<AuditLogStore>;
  close(): Promise<void>;
}

async function open(backend: 'sqlite' | 'postgres'): Promise<Opened> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kl-bench-audit-'));
    const file = join(dir, 'keyledger.db');
    const store = await openSqliteEventStore({ file });
    return { store, file, openLog: async () => openSqliteAuditLogStore({ file }), close: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const db: ScratchDatabase = await createScratchDatabase(PG_ADMIN, 'kl_bench_audit');
  const store = await openPostgresEventStore({ connectionString: db.connectionString, schema: 'public', poolSize: CONCURRENCY + 2 });
  return {
    store,
    url: db.connectionString,
    openLog: () => openPostgresAuditLogStore({ connectionString: db.connectionString, schema: 'public' }),
    close: async () => {
      await store.close();
      await db.drop();
    },
  };
}

let counter = 0;
function keyIssued(): { stream: string; event: NewEvent } {
  const i = counter++;
  const keyId = `key_${randomBytes(10).toString('hex')}`;
  return {
    stream: `key-${keyId}`,
    event: {
      id: randomUUID(),
      type: 'KeyIssued',
      data: {
        keyId,
        consumerId: `consumer-${i % 100}`,
        planId: null,
        name: `bench key ${i}`,
        environment: 'live',
        kind: 'consumer',
        digest: randomBytes(32).toString('hex'),
        hint: 'kl_live_…abcd',
        scopes: ['orders:read'],
        endpoints: [],
        permissions: [],
        expiresAt: null,
        meta: { tier: i % 3 },
        rateLimit: { limit: 100, windowSeconds: 60 },
        quota: null,
        rotatedFrom: null,
      },
      metadata: {
        schemaVersion: CURRENT_SCHEMA_VERSION.KeyIssued,
        actor: { kind: 'key', id: 'key_bench' },
        requestId: randomUUID(),
        sourceAddress: '127.0.0.1',
        occurredAt: new Date().toISOString(),
        correlationId: null,
        causationId: null,
        idempotencyKey: randomUUID(),
      },
    },
  };
}

interface Sample {
  id: string;
  ackedAt: number;
}

/** Appends for `ms` with CONCURRENCY writers; returns appends/s and every 20th append's ack time. */
async function appendFor(store: EventStore, ms: number): Promise<{ perSecond: number; samples: Sample[] }> {
  const samples: Sample[] = [];
  let done = 0;
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const { stream, event } = keyIssued();
        await store.appendToStream(stream, [event], { expectedRevision: 'no_stream' });
        if (done++ % 20 === 0) samples.push({ id: event.id as string, ackedAt: Date.now() });
        // SQLite appends complete synchronously: without a turn of the event loop between them the
        // writers would starve every timer (the integrator's among them), which requests arriving
        // over HTTP never do.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  return { perSecond: done / ((performance.now() - started) / 1000), samples };
}

/** Milliseconds from each sample's ack to the signing of the first checkpoint covering its leaf. */
async function coverageLatencies(log: AuditLogStore, samples: readonly Sample[]): Promise<number[]> {
  const checkpoints = await log.checkpoints(-1, 1_000_000);
  const latencies: number[] = [];
  for (const sample of samples) {
    const leaf = await log.leafByEventId(sample.id);
    if (!leaf) continue;
    const covering = checkpoints.find((c) => c.treeSize > leaf.index);
    if (covering) latencies.push(Math.max(0, covering.signedAt.getTime() - sample.ackedAt));
  }
  return latencies;
}

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
};
const median = (values: number[]) => percentile(values, 50);

interface BackendResult {
  backend: string;
  appendsPerSecondWithout: number[];
  appendsPerSecondWith: number[];
  ratio: number;
  underLoad: { samples: number; p50: number; p99: number; max: number };
  lightRate: { samples: number; p50: number; p99: number; max: number };
  proofs: { leaves: number; buildSeconds: number; rows: { name: string; perSecond: number }[] };
}

async function appendBench(backend: 'sqlite' | 'postgres'): Promise<Omit<BackendResult, 'proofs'>> {
  const opened = await open(backend);
  const log = await opened.openLog();
  const without: number[] = [];
  const withLog: number[] = [];
  const loadSamples: Sample[] = [];
  try {
    await appendFor(opened.store, 1000); // warm-up, before the log exists
    // The log catches up with the warm-up before the first measured round.
    await new AuditIntegrator({ store: opened.store, log, key }).integrate();
    const database =
      backend === 'sqlite'
        ? { kind: 'sqlite' as const, file: opened.file as string, synchronous: 'FULL' as const }
        : { kind: 'postgres' as const, url: opened.url as string, schema: 'public' };
    // As the service runs it: PostgreSQL in a worker thread, SQLite in this one (audit/index.ts says why).
    const newIntegrator = () =>
      backend === 'postgres'
        ? new WorkerIntegration({ data: { database, signerKey: key.signerKey, checkpointIntervalMs: 500, signing: true }, log, logger: console as never })
        : new AuditIntegrator({ store: opened.store, log, key, checkpointIntervalMs: 500 });
    let integrator: { start(): void; stop(): Promise<void>; signNow(): Promise<unknown> } = newIntegrator();
    const measureWithout = async () => without.push((await appendFor(opened.store, SECONDS * 1000)).perSecond);
    const measureWith = async () => {
      integrator = newIntegrator();
      integrator.start();
      // The worker is up (its connections open) before the clock starts: the service starts it once.
      await integrator.signNow();
      const run = await appendFor(opened.store, SECONDS * 1000);
      withLog.push(run.perSecond);
      loadSamples.push(...run.samples);
      // Let it cover the round before it stops, so the next "without" round pays for nothing.
      await integrator.signNow();
      await integrator.stop();
    };
    for (let round = 0; round < ROUNDS; round++) {
      // ABBA order: the disk's and the machine's drift during the run falls on both configurations alike.
      if (round % 2 === 0) {
        await measureWithout();
        await measureWith();
      } else {
        await measureWith();
        await measureWithout();
      }
      console.error(`${backend} round ${round + 1}: ${Math.round(without[round]!)} appends/s without the log, ${Math.round(withLog[round]!)} with`);
    }
    // Light, steady traffic at the default cadence.
    integrator = newIntegrator();
    integrator.start();
    await integrator.signNow();
    const light: Sample[] = [];
    for (let i = 0; i < 100; i++) {
      const { stream, event } = keyIssued();
      await opened.store.appendToStream(stream, [event]);
      light.push({ id: event.id as string, ackedAt: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await integrator.signNow();
    await integrator.stop();
    const under = await coverageLatencies(log, loadSamples);
    const lightLatencies = await coverageLatencies(log, light);
    const stats = (l: number[]) => ({ samples: l.length, p50: median(l), p99: percentile(l, 99), max: Math.max(...l) });
    return {
      backend,
      appendsPerSecondWithout: without,
      appendsPerSecondWith: withLog,
      ratio: median(withLog) / median(without),
      underLoad: stats(under),
      lightRate: stats(lightLatencies),
    };
  } finally {
    await log.close();
    await opened.close();
  }
}

async function rate(name: string, ms: number, step: (i: number) => Promise<unknown> | unknown): Promise<{ name: string; perSecond: number }> {
  let i = 0;
  const started = performance.now();
  while (performance.now() - started < ms) await step(i++);
  return { name, perSecond: i / ((performance.now() - started) / 1000) };
}

async function proofBench(backend: 'sqlite' | 'postgres'): Promise<BackendResult['proofs']> {
  const opened = await open(backend);
  const log = await opened.openLog();
  try {
    const buildStarted = performance.now();
    const tree = new MemoryMerkleTree();
    const batch = 20_000;
    for (let from = 0; from < LEAVES; from += batch) {
      const count = Math.min(batch, LEAVES - from);
      const hashes = Array.from({ length: count }, () => new Uint8Array(randomBytes(32)));
      const nodesBefore = tree.size;
      tree.appendLeafHashes(hashes);
      // The same rows the integrator writes: leaves and the stored subtrees they complete.
      const { extendTree } = await import('@keyledger/schemas');
      const nodes = await extendTree(log, nodesBefore, hashes);
      const leaves = hashes.map((leafHash, i) => ({ eventId: randomUUID(), stream: `s-${from + i}`, revision: 0, eventCheckpoint: `bench-${from + i}`, salt: null, leafHash }));
      if (!(await log.appendLeaves(nodesBefore, leaves, nodes))) throw new Error('append lost');
    }
    const buildSeconds = (performance.now() - buildStarted) / 1000;
    console.error(`${backend}: stored a tree of ${LEAVES} leaves in ${buildSeconds.toFixed(1)} s`);
    const n = LEAVES;
    const root = tree.rootHash();
    const random = (below: number) => Math.floor(Math.random() * below);
    const ms = 3000;
    const rows = [];
    rows.push(await rate(`inclusion proof: generate from the ${backend} tree (size ${n})`, ms, (i) => proveInclusion(log, (i * 7919) % n, n)));
    const inclusion = await Promise.all(Array.from({ length: 256 }, async (_, i) => ({ index: (i * 104729) % n, proof: await proveInclusion(log, (i * 104729) % n, n) })));
    rows.push(
      await rate('inclusion proof: verify', ms, (i) => {
        const { index, proof } = inclusion[i % inclusion.length]!;
        if (!verifyInclusion({ leafHash: tree.getNodes([{ level: 0, index }])[0]!, index, treeSize: n, proof, rootHash: root })) throw new Error('bad proof');
      }),
    );
    rows.push(await rate(`consistency proof: generate from the ${backend} tree (random m -> ${n})`, ms, () => proveConsistency(log, 1 + random(n - 1), n)));
    const consistency = await Promise.all(Array.from({ length: 256 }, async () => {
      const m = 1 + random(n - 1);
      return { m, oldRoot: tree.rootHash(m), proof: await proveConsistency(log, m, n) };
    }));
    rows.push(
      await rate('consistency proof: verify', ms, (i) => {
        const { m, oldRoot, proof } = consistency[i % consistency.length]!;
        if (!verifyConsistency({ oldSize: m, newSize: n, oldRoot, newRoot: root, proof })) throw new Error('bad proof');
      }),
    );
    rows.push(await rate(`root hash at a random size from the ${backend} tree`, ms, () => log.rootAt(1 + random(n))));
    return { leaves: n, buildSeconds, rows };
  } finally {
    await log.close();
    await opened.close();
  }
}

async function main(): Promise<void> {
  const results: BackendResult[] = [];
  for (const backend of BACKENDS) {
    const appends = await appendBench(backend);
    const proofs = await proofBench(backend);
    results.push({ ...appends, proofs });
  }
  const when = new Date().toISOString();
  const header =
    `${when}, Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} CPUs shared with other work), load average ${loadavg()[0]?.toFixed(1)} at the end. ` +
    `${ROUNDS} alternating rounds of ${SECONDS} s per configuration, ${CONCURRENCY} concurrent appenders, KeyIssued events (sealed digest); medians. One run on a shared, noisy machine: compare rows of this run, not runs.`;
  const lines = ['# Transparency log in the service', '', header, '', '## Append throughput and time to a signed checkpoint (default cadence 500 ms)', ''];
  lines.push('| backend | appends/s without the log | appends/s with the log integrating | ratio (goal >= 0.9) | append -> signed checkpoint p50 / p99 / max, under load | same, light steady traffic (20/s) |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    lines.push(
      `| ${r.backend} | ${Math.round(median(r.appendsPerSecondWithout))} | ${Math.round(median(r.appendsPerSecondWith))} | ${r.ratio.toFixed(2)}x | ${r.underLoad.p50} / ${r.underLoad.p99} / ${r.underLoad.max} ms (${r.underLoad.samples} samples) | ${r.lightRate.p50} / ${r.lightRate.p99} / ${r.lightRate.max} ms (${r.lightRate.samples} samples) |`,
    );
  }
  for (const r of results) {
    lines.push('', `## Proofs from the ${r.backend} tree at ${r.proofs.leaves.toLocaleString('en')} leaves (stored in ${r.proofs.buildSeconds.toFixed(1)} s)`, '', '| case | per second |', '|---|---:|');
    for (const row of r.proofs.rows) lines.push(`| ${row.name} | ${Math.round(row.perSecond).toLocaleString('en')} |`);
  }
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);
  if (FULL_RUN) {
    writeFileSync(join(RESULTS_DIR, 'audit.md'), text);
    writeFileSync(join(RESULTS_DIR, 'audit.json'), `${JSON.stringify({ when, node: process.version, rounds: ROUNDS, seconds: SECONDS, concurrency: CONCURRENCY, results }, null, 2)}\n`);
  } else {
    console.error('(not a full run: results printed, not written)');
  }
}

await main();
