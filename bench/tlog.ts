/**
 * Transparency log core, in process, on one core: a Merkle tree of 1M leaves in memory, then
 * inclusion and consistency proofs generated (from the in-memory tree directly, and through the
 * async node-store path a database-backed tree will use) and verified; leaf hashing of canonical
 * events (baseline: SHA-256 over JSON.stringify of the same event, no canonical form, no seal);
 * checkpoint signing and verification (Ed25519 signed notes) and witness cosignatures.
 *
 * Results: bench/results/tlog.{json,md}. Nothing is asserted; figures are printed and written.
 * KEYLEDGER_BENCH_TLOG_LEAVES (default 1,000,000) and KEYLEDGER_BENCH_DURATION_MS (default 2,000)
 * size the run; a run with other than the default leaf count only prints.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  cosignatureLines,
  cosignatureVerifierFromKey,
  cosignerFromKey,
  generateCosignerKeyPair,
  generateNoteKeyPair,
  hashLeaf,
  leafHashOfEvent,
  MemoryMerkleTree,
  newSealSalt,
  noteSignerFromKey,
  noteVerifierFromKey,
  parseNote,
  proveConsistency,
  proveInclusion,
  signCheckpoint,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  type LoggableEvent,
} from '@keyledger/schemas';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const DEFAULT_LEAVES = 1_000_000;
const LEAVES = Number(process.env.KEYLEDGER_BENCH_TLOG_LEAVES ?? DEFAULT_LEAVES);
const DURATION_MS = Number(process.env.KEYLEDGER_BENCH_DURATION_MS ?? 2_000);

interface Row {
  name: string;
  /** Per wall-clock second: what a caller sees on this (shared) machine. */
  opsPerSecond: number;
  /** Per second of this process's own CPU time: less sensitive to other work on the machine. */
  opsPerCpuSecond: number;
  note?: string;
}

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Deterministic pseudo-random indexes (xorshift), so runs ask for comparable proofs. */
function randomIndexes(count: number, below: number, seed = 0x9e3779b9): number[] {
  let x = seed >>> 0;
  return Array.from({ length: count }, () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % below;
  });
}

/** Counts calls of step(i) over DURATION_MS after a warm-up, reading the clock every 256 calls. */
async function measure(name: string, step: (i: number) => unknown, options: { awaitEach?: boolean; note?: string } = {}): Promise<Row> {
  const run = async (from: number, n: number) => {
    if (options.awaitEach) for (let i = from; i < from + n; i++) await step(i);
    else for (let i = from; i < from + n; i++) step(i);
  };
  await run(0, 2_000);
  let ops = 0;
  const started = performance.now();
  const cpuStarted = cpuSeconds();
  let elapsed = 0;
  while (elapsed < DURATION_MS) {
    await run(ops, 256);
    ops += 256;
    elapsed = performance.now() - started;
  }
  const row: Row = { name, opsPerSecond: Math.round((ops / elapsed) * 1000), opsPerCpuSecond: Math.round(ops / (cpuSeconds() - cpuStarted)) };
  if (options.note) row.note = options.note;
  console.error(`${name}: ${row.opsPerSecond.toLocaleString('en-US')} ops/s`);
  return row;
}

const rows: Row[] = [];

// 1. Build the tree: leaf hashes of 32-byte synthetic leaves, appended one by one.
const tree = new MemoryMerkleTree();
const leaf = new Uint8Array(32);
const buildStarted = performance.now();
const buildCpuStarted = cpuSeconds();
for (let i = 0; i < LEAVES; i++) {
  new DataView(leaf.buffer).setUint32(0, i);
  tree.appendLeafHash(hashLeaf(leaf));
}
const buildMs = performance.now() - buildStarted;
rows.push({
  name: `build: append ${LEAVES.toLocaleString('en-US')} leaves (leaf hash + completed nodes)`,
  opsPerSecond: Math.round((LEAVES / buildMs) * 1000),
  opsPerCpuSecond: Math.round(LEAVES / (cpuSeconds() - buildCpuStarted)),
  note: `${(buildMs / 1000).toFixed(1)} s`,
});
console.error(`${rows[0]?.name}: ${rows[0]?.opsPerSecond} leaves/s`);
const size = tree.size;
const rootHash = tree.rootHash();

// 2. Inclusion proofs at the full size, for random leaves.
const indexes = randomIndexes(65_536, size);
const at = (i: number) => indexes[i % indexes.length] as number;
rows.push(await measure(`inclusion proof: generate (in-memory tree, size ${size})`, (i) => tree.inclusionProof(at(i), size)));
rows.push(await measure('inclusion proof: generate (async node-store path)', (i) => proveInclusion(tree, at(i), size), { awaitEach: true }));
const inclusionProofs = indexes.slice(0, 4_096).map((index) => ({ index, leafHash: tree.getNodes([{ level: 0, index }])[0] as Uint8Array, proof: tree.inclusionProof(index, size) }));
rows.push(
  await measure('inclusion proof: verify', (i) => {
    const p = inclusionProofs[i % inclusionProofs.length] as (typeof inclusionProofs)[number];
    if (!verifyInclusion({ leafHash: p.leafHash, index: p.index, treeSize: size, proof: p.proof, rootHash })) throw new Error('a valid inclusion proof failed');
  }),
);

// 3. Consistency proofs from a random older size to the full size.
const oldSizes = randomIndexes(65_536, size - 1, 0x1234567).map((n) => n + 1);
const oldAt = (i: number) => oldSizes[i % oldSizes.length] as number;
rows.push(await measure(`consistency proof: generate (in-memory tree, random m -> ${size})`, (i) => tree.consistencyProof(oldAt(i), size)));
rows.push(await measure('consistency proof: generate (async node-store path)', (i) => proveConsistency(tree, oldAt(i), size), { awaitEach: true }));
const consistencyProofs = oldSizes.slice(0, 1_024).map((m) => ({ m, oldRoot: tree.rootHash(m), proof: tree.consistencyProof(m, size) }));
rows.push(
  await measure('consistency proof: verify', (i) => {
    const p = consistencyProofs[i % consistencyProofs.length] as (typeof consistencyProofs)[number];
    if (!verifyConsistency({ oldSize: p.m, newSize: size, oldRoot: p.oldRoot, newRoot: rootHash, proof: p.proof })) throw new Error('a valid consistency proof failed');
  }),
);
rows.push(await measure(`root hash of the tree at a random size (<= ${size})`, (i) => tree.rootHash(oldAt(i))));

// 4. Leaf hashing of whole events, shaped like keyledger's (about 300 bytes data, 300 metadata).
const issued = (i: number): LoggableEvent => ({
  id: `7d7c1c4e-5b1a-4d0e-9c6f-${String(i).padStart(12, '0')}`,
  stream: `key-key_${String(i).padStart(20, '0')}`,
  revision: 0,
  type: 'KeyIssued',
  data: {
    keyId: `key_${String(i).padStart(20, '0')}`,
    kind: 'consumer',
    consumerId: 'acme-corp',
    planId: 'pro',
    name: 'checkout service',
    environment: 'live',
    digest: createHash('sha256').update(String(i)).digest('hex'),
    hint: 'kl_live_4Gx...9bLp',
    scopes: ['orders:read', 'orders:write'],
    endpoints: ['GET /orders/*'],
    permissions: [],
    expiresAt: null,
    meta: { team: 'payments' },
    rateLimit: null,
    quota: null,
    rotatedFrom: null,
  },
  metadata: {
    schemaVersion: 2,
    actor: { kind: 'key', id: 'key_admin000000000000001' },
    requestId: `req-${i}`,
    sourceAddress: '10.0.0.7',
    occurredAt: '2026-12-01T10:00:00.000Z',
    correlationId: `corr-${i}`,
    causationId: null,
    idempotencyKey: `idem-${i}`,
    requestHash: createHash('sha256').update(`body-${i}`).digest('hex'),
  },
});
const sampleEvents = Array.from({ length: 1_024 }, (_, i) => issued(i));
const salt = newSealSalt();
const eventAt = (i: number) => sampleEvents[i % sampleEvents.length] as LoggableEvent;
const baseline = await measure('baseline: SHA-256(0x00 || JSON.stringify(event)), no canonical form', (i) => hashLeaf(new TextEncoder().encode(JSON.stringify(eventAt(i)))));
rows.push(baseline);
const sealed = await measure('leafHashOfEvent: KeyIssued, canonical JSON + sealed private fields', (i) => leafHashOfEvent(eventAt(i), { salt }));
sealed.note = `${(sealed.opsPerCpuSecond / baseline.opsPerCpuSecond).toFixed(2)}x baseline (per CPU-s)`;
rows.push(sealed);
const plainEvents = sampleEvents.map((e) => ({ ...e, type: 'KeyRevoked', data: { keyId: (e.data as { keyId: string }).keyId, reason: 'rotated out' }, metadata: { ...(e.metadata as object), idempotencyKey: undefined, requestHash: undefined } }));
const plain = await measure('leafHashOfEvent: KeyRevoked, canonical JSON, nothing to seal', (i) => leafHashOfEvent(plainEvents[i % plainEvents.length] as LoggableEvent));
rows.push(plain);

// 5. Checkpoints: Ed25519 signed notes, and witness cosignatures.
const log = generateNoteKeyPair('ledger.example/keyledger');
const witness = generateCosignerKeyPair('witness.example/w1');
const signer = noteSignerFromKey(log.signerKey);
const logVerifier = noteVerifierFromKey(log.verifierKey);
const cosigner = cosignerFromKey(witness.signerKey);
const witnessVerifier = cosignatureVerifierFromKey(witness.verifierKey);
rows.push(await measure('checkpoint: sign (format + Ed25519 note)', (i) => signCheckpoint({ origin: 'ledger.example/keyledger', treeSize: size + i, rootHash }, signer)));
const note = signCheckpoint({ origin: 'ledger.example/keyledger', treeSize: size, rootHash }, signer);
rows.push(await measure('checkpoint: verify (parse note + Ed25519 + parse body)', () => verifyCheckpoint(note, { log: logVerifier })));
const text = parseNote(note).text;
rows.push(await measure('cosignature/v1: sign', () => cosignatureLines(text, [cosigner])));
const cosigned = note + cosignatureLines(text, [cosigner]);
rows.push(await measure('checkpoint + 1 witness cosignature: verify with quorum 1', () => verifyCheckpoint(cosigned, { log: logVerifier, witnesses: [witnessVerifier], witnessQuorum: 1 })));

const result = {
  benchmark: 'tlog',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cpus: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  loadAverage1m: Number(loadavg()[0]?.toFixed(1)),
  leaves: LEAVES,
  durationMs: DURATION_MS,
  heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  rows,
};
const table = rows.map((r) => `| ${r.name} | ${r.opsPerSecond.toLocaleString('en-US')} | ${r.opsPerCpuSecond.toLocaleString('en-US')} | ${r.note ?? ''} |`).join('\n');
const md =
  `# Transparency log core, in process, one core\n\n${result.date}, Node ${result.node}, ${result.cpu} (${result.cpus} CPUs shared with other work), ` +
  `${LEAVES.toLocaleString('en-US')} leaves in memory (RSS ${result.rssMiB} MiB), load average ${result.loadAverage1m} at the end. ` +
  'One run on a shared, noisy machine: compare rows of this run, not runs. ops/s is per wall-clock second; ops/CPU-s per second of this process\'s own CPU time, ' +
  'which other work on the machine disturbs less.\n\n' +
  `| case | ops/s | ops/CPU-s | note |\n|---|---:|---:|---|\n${table}\n`;
console.log(md);
if (LEAVES === DEFAULT_LEAVES) {
  writeFileSync(`${RESULTS_DIR}tlog.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${RESULTS_DIR}tlog.md`, md);
}
