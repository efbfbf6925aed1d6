/**
 * `keyledger migrate --from <sqlite> --to <postgres>`: copies every event, in the log's order,
 * through the store port (importEvents keeps ids, streams, revisions, metadata and recordedAt),
 * then proves the copy: both logs re-read give the same count, tree size, root hash and
 * whole-record digest; every signed checkpoint still verifies and matches the target's tree at its
 * size; and the projections built from each side agree (same digest, and the same verify answer
 * for a sample of keys).
 */
import { bytesEqual, checkAccess, encodeBase64, noteVerifierFromKey, parseCheckpoint, parseNote, verifyCheckpoint } from '@keyledger/schemas';
import { isVerifiableByGateways } from '../domain/keys/index.js';
import type { KeyProjection } from '../projections/key-projection.js';
import { appliedProjections, createProjectionSet } from '../projections/projection-set.js';
import { KeyPolicies } from '../verify/key-policy.js';
import { projectionsDigest } from '../projections/digest.js';
import { ProjectionRunner } from '../projections/runner.js';
import type { EventStore, ImportedEvent } from '../store/port.js';
import { forEachPage } from './export.js';
import { StoreNotEmptyError } from './import.js';
import type { AuditLogAccess } from './log-access.js';
import { freshSalt, LedgerDigest, leafHash, needsSalt, recordOf, RunningRoot } from './ledger-hash.js';

export interface MigrateOptions {
  source: EventStore;
  target: EventStore;
  sourceLog: AuditLogAccess;
  targetLog: AuditLogAccess;
  onProgress?: (phase: 'copy' | 'verify', done: number, total: number) => void;
  pageSize?: number;
  /** How many keys' verify answers to compare (spread over the ledger); default 1000. */
  sampleKeys?: number;
  now?: () => number;
}

export interface MigrationCheck {
  name: string;
  ok: boolean;
  source: string;
  target: string;
}

export interface MigrateSummary {
  events: number;
  checks: MigrationCheck[];
  ok: boolean;
}

interface LogFacts {
  count: number;
  root: string;
  digest: string;
  /** Root at each requested size. */
  rootsAt: Map<number, Uint8Array>;
}

export async function migrateLedger(options: MigrateOptions): Promise<MigrateSummary> {
  const { source, target } = options;
  // Big pages: one importEvents transaction per page, and the gap-free PostgreSQL read pays per page.
  const pageSize = options.pageSize ?? 5000;
  const existing = await target.countEvents();
  if (existing > 0) throw new StoreNotEmptyError(`the target store already holds ${existing} events; migrate only moves into an empty store`);
  const total = await source.countEvents();
  const checkpoints = await options.sourceLog.checkpoints();
  const logKey = await options.sourceLog.verifierKey();
  const sizes = new Set(checkpoints.map((note) => parseCheckpoint(parseNote(note).text).treeSize));

  // Copy, keeping each leaf's salt so the target's tree is the source's.
  const salts = new Map<string, Uint8Array>();
  let copied = 0;
  await forEachPage(source, pageSize, async (events) => {
    const stored = options.sourceLog.present ? await options.sourceLog.leafSalts(events.map((event) => event.id)) : new Map<string, Uint8Array>();
    const batch: ImportedEvent[] = events.map((event) => {
      const salt = stored.get(event.id) ?? (needsSalt(event) ? freshSalt() : undefined);
      if (salt) salts.set(event.id, salt);
      return { id: event.id, stream: event.stream, revision: event.revision, type: event.type, data: event.data as object, metadata: event.metadata as object, recordedAt: event.recordedAt };
    });
    await target.importEvents(batch);
    copied += batch.length;
    options.onProgress?.('copy', copied, total);
  });
  await options.targetLog.adoptLeafSalts(salts);
  await options.targetLog.adoptCheckpoints(checkpoints, logKey);

  // Verify: both sides re-read from their stores.
  let verified = 0;
  const progress = () => options.onProgress?.('verify', verified, 2 * copied);
  const sourceFacts = await logFacts(source, salts, sizes, pageSize, (n) => ((verified = n), progress()));
  const targetFacts = await logFacts(target, salts, sizes, pageSize, (n) => ((verified = sourceFacts.count + n), progress()));
  const checks: MigrationCheck[] = [
    check('event count', String(sourceFacts.count), String(targetFacts.count)),
    check('tree size', String(sourceFacts.count), String(targetFacts.count)),
    check('root hash', sourceFacts.root, targetFacts.root),
    check('ledger digest (every field, recordedAt included)', sourceFacts.digest, targetFacts.digest),
  ];
  checkpoints.forEach((note, i) => {
    let detail: string;
    let ok = false;
    try {
      const checkpoint = logKey ? verifyCheckpoint(note, { log: noteVerifierFromKey(logKey) }).checkpoint : parseCheckpoint(parseNote(note).text);
      const root = targetFacts.rootsAt.get(checkpoint.treeSize);
      ok = root !== undefined && bytesEqual(root, checkpoint.rootHash) && logKey !== undefined;
      detail = `size ${checkpoint.treeSize}${logKey ? ', signature verifies' : ', no log key to verify it'}${ok ? ', root matches' : ', root does not match'}`;
    } catch (error) {
      detail = (error as Error).message;
    }
    checks.push({ name: `signed checkpoint ${i + 1}`, ok, source: 'signed by the log', target: detail });
  });

  const sourceState = await projectionState(source);
  const targetState = await projectionState(target);
  checks.push(check('projections digest', sourceState.digest, targetState.digest));
  const now = (options.now ?? Date.now)();
  const sample = sampleOf(sourceState.keys, options.sampleKeys ?? 1000);
  const sourceAnswers = sample.map((digest) => verifyAnswerOf(sourceState.keys, digest, now, sourceState.policies)).join(',');
  const targetAnswers = sample.map((digest) => verifyAnswerOf(targetState.keys, digest, now, targetState.policies)).join(',');
  const answers = check(`verify answers for ${sample.length} sample keys`, summarize(sourceAnswers), summarize(targetAnswers));
  answers.ok = sourceAnswers === targetAnswers;
  checks.push(answers);
  return { events: copied, checks, ok: checks.every((c) => c.ok) };
}

function check(name: string, source: string, target: string): MigrationCheck {
  return { name, ok: source === target, source, target };
}

export async function logFacts(store: EventStore, salts: ReadonlyMap<string, Uint8Array>, sizes: ReadonlySet<number>, pageSize: number, onProgress: (done: number) => void): Promise<LogFacts> {
  const root = new RunningRoot();
  const digest = new LedgerDigest();
  const rootsAt = new Map<number, Uint8Array>();
  if (sizes.has(0)) rootsAt.set(0, root.root());
  await forEachPage(store, pageSize, (events) => {
    for (const recorded of events) {
      const event = recordOf(recorded);
      root.push(leafHash(event, salts.get(event.id)));
      digest.push(event);
      if (sizes.has(root.size)) rootsAt.set(root.size, root.root());
    }
    onProgress(root.size);
  });
  return { count: root.size, root: encodeBase64(root.root()), digest: digest.hex(), rootsAt };
}

/** Every read model the service holds (the same set it builds), from the whole log. */
async function projectionState(store: EventStore) {
  const set = createProjectionSet();
  const runner = new ProjectionRunner(store, appliedProjections(set), { parked: set.parked });
  await runner.start();
  await runner.stop();
  const policies = new KeyPolicies({ consumer: (id) => set.consumers.get(id), plan: (id) => set.plans.get(id) });
  return { keys: set.keys, policies, digest: projectionsDigest(set) };
}

/** Up to `count` key digests spread evenly over the keys in issue order. */
function sampleOf(keys: KeyProjection, count: number): string[] {
  const all = keys.list({ limit: Number.MAX_SAFE_INTEGER }, new Date()).items;
  const step = Math.max(1, Math.floor(all.length / Math.max(1, count)));
  const picked: string[] = [];
  for (let i = 0; i < all.length && picked.length < count; i += step) picked.push((all[i] as { digest: string }).digest);
  return picked;
}

/**
 * The verify code a key's holder would get now, by the digest of their key: the same lookup and
 * access checks /v1/verify makes, its consumer's status and its plan's terms included when
 * `policies` are given (rate limits, quotas and credits are counted by the limiter, not the ledger).
 */
export function verifyAnswerOf(keys: KeyProjection, digest: string, nowMs: number, policies?: KeyPolicies): string {
  const state = keys.getByDigest(digest);
  if (!state || !isVerifiableByGateways(state)) return `NOT_FOUND`;
  return `${state.id}:${checkAccess(policies?.of(state)?.facts ?? state, {}, nowMs) ?? 'VALID'}`;
}

function summarize(answers: string): string {
  const counts = new Map<string, number>();
  for (const answer of answers.split(',')) {
    if (answer === '') continue;
    const code = answer.slice(answer.lastIndexOf(':') + 1);
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  return [...counts].sort().map(([code, n]) => `${code} ${n}`).join(', ') || 'no keys';
}
