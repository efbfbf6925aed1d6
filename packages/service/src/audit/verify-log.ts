/**
 * `keyledger audit verify`: recomputes the transparency log from the ledger and checks every
 * stored piece of it, naming each thing that does not hold.
 *
 *  1. Every leaf is recomputed from its event (with the stored salt) and compared with the stored
 *     leaf hash: an edited payload or metadata shows here.
 *  2. Leaves and events are matched by event id: an event the log holds but the ledger lost is
 *     named by stream and revision, and classified (the log's tail, a stream's tail, one event in
 *     the middle); an event the ledger holds between logged ones, but the log does not, is named;
 *     events whose global order differs from their leaf order are named (a reordered ledger).
 *     Each stream's revisions must run 0, 1, 2, ... without a gap.
 *  3. Every stored tree node is recomputed from the stored leaf hashes (and none may be missing).
 *  4. Every stored checkpoint's signature is checked with the trusted log key, its row with its
 *     note, its root with the stored tree of its size, and each with the next by a consistency
 *     proof. A checkpoint larger than the tree means the log lost its tail.
 *  5. The trusted key must be the key this log records as its signer.
 *
 * Checkpoints are read first, then leaves, then events: a service appending meanwhile only adds
 * events the log has not integrated yet (reported as pending, not as broken).
 */
import {
  bytesEqual,
  CheckpointError,
  keyIdHex,
  MemoryMerkleTree,
  NoteError,
  parseCheckpoint,
  parseNote,
  verifyCheckpoint,
  verifyConsistency,
  type NoteVerifier,
} from '@keyledger/schemas';
import type { EventStore } from '../store/port.js';
import { leafOf } from './integrator.js';
import { LOWEST_STORED_LEVEL, META_VERIFIER_KEY, type AuditLogStore, type LeafRecord, type StoredCheckpoint } from './log-store.js';

export type ProblemKind =
  | 'payload-changed'
  | 'event-missing'
  | 'stream-tail-dropped'
  | 'log-tail-dropped'
  | 'reordered'
  | 'event-not-logged'
  | 'revision-gap'
  | 'leaf-missing'
  | 'node-mismatch'
  | 'node-missing'
  | 'checkpoint-signature'
  | 'checkpoint-row-mismatch'
  | 'checkpoint-root'
  | 'checkpoint-beyond-tree'
  | 'checkpoints-inconsistent'
  | 'signing-key-replaced';

export interface Problem {
  kind: ProblemKind;
  /** One sentence naming what is broken. */
  detail: string;
  stream?: string;
  revision?: number;
  eventId?: string;
  leafIndex?: number;
  treeSize?: number;
}

export interface VerifyReport {
  ok: boolean;
  treeSize: number;
  events: number;
  checkpoints: number;
  /** Events after the last leaf: written, not integrated yet (not a fault). */
  pendingEvents: number;
  problems: Problem[];
}

export interface VerifyOptions {
  store: EventStore;
  log: AuditLogStore;
  /** The log key the auditor trusts. */
  trusted: NoteVerifier;
  trustedVerifierKey: string;
  /** Page size of every read; default 5000. */
  pageSize?: number;
  onProgress?: (phase: string, done: number) => void;
}

const describeEvent = (stream: string, revision: number) => `stream ${stream} revision ${revision}`;

export async function verifyAuditLog(options: VerifyOptions): Promise<VerifyReport> {
  const { store, log, trusted } = options;
  const pageSize = options.pageSize ?? 5000;
  const problems: Problem[] = [];

  // 5. The key.
  const recordedKey = await log.meta(META_VERIFIER_KEY);
  if (recordedKey !== undefined && recordedKey !== options.trustedVerifierKey) {
    problems.push({
      kind: 'signing-key-replaced',
      detail: `signing key: this log records ${recordedKey} as its key, but the trusted key is ${options.trustedVerifierKey} (the key was replaced, or this is another log)`,
    });
  }

  // Checkpoints first (see above).
  const checkpoints: StoredCheckpoint[] = [];
  for (let after = -1; ; ) {
    const page = await log.checkpoints(after, pageSize);
    if (page.length === 0) break;
    checkpoints.push(...page);
    after = (page[page.length - 1] as StoredCheckpoint).treeSize;
  }

  // Leaves.
  const leaves: LeafRecord[] = [];
  for (let from = 0; ; ) {
    const page = await log.leaves(from, pageSize);
    if (page.length === 0) break;
    for (const leaf of page) {
      while (leaves.length < leaf.index) {
        problems.push({ kind: 'leaf-missing', leafIndex: leaves.length, detail: `leaf ${leaves.length}: its row is missing from the log` });
        leaves.push(undefined as unknown as LeafRecord);
      }
      leaves.push(leaf);
    }
    from = (page[page.length - 1] as LeafRecord).index + 1;
    options.onProgress?.('leaves', leaves.length);
  }
  const treeSize = leaves.length;
  const byId = new Map<string, number>();
  leaves.forEach((leaf, i) => leaf && byId.set(leaf.eventId, i));

  // 1 and 2: events, in global order.
  const orderOfLeaf = new Array<number>(treeSize).fill(-1);
  const notLogged: { order: number; id: string; stream: string; revision: number }[] = [];
  const lastRevision = new Map<string, number>();
  let order = 0;
  let lastLoggedOrder = -1;
  for (let after: string | undefined; ; ) {
    const page = await store.readAll({ ...(after !== undefined ? { after } : {}), maxCount: Math.min(pageSize, 10_000) });
    if (page.events.length === 0) break;
    for (const event of page.events) {
      const previous = lastRevision.get(event.stream) ?? -1;
      if (event.revision !== previous + 1) {
        problems.push({
          kind: 'revision-gap',
          stream: event.stream,
          revision: event.revision,
          detail:
            event.revision > previous + 1
              ? `stream ${event.stream}: revision ${event.revision} follows revision ${previous} (revisions ${previous + 1}..${event.revision - 1} are missing)`
              : `stream ${event.stream}: revision ${event.revision} comes after revision ${previous} in the global log`,
        });
      }
      lastRevision.set(event.stream, Math.max(previous, event.revision));
      const index = byId.get(event.id);
      if (index === undefined) {
        notLogged.push({ order, id: event.id, stream: event.stream, revision: event.revision });
      } else {
        const leaf = leaves[index] as LeafRecord;
        orderOfLeaf[index] = order;
        lastLoggedOrder = order;
        const { hash } = leafOf(event, leaf.salt ?? undefined);
        if (!bytesEqual(hash, leaf.leafHash)) {
          problems.push({
            kind: 'payload-changed',
            stream: event.stream,
            revision: event.revision,
            eventId: event.id,
            leafIndex: index,
            detail: `${describeEvent(event.stream, event.revision)} (event ${event.id}, leaf ${index}): the event's content no longer matches its leaf (payload, metadata or type changed)`,
          });
        }
        if (leaf.stream !== event.stream || leaf.revision !== event.revision) {
          problems.push({
            kind: 'payload-changed',
            stream: event.stream,
            revision: event.revision,
            eventId: event.id,
            leafIndex: index,
            detail: `event ${event.id} (leaf ${index}) was logged as ${describeEvent(leaf.stream, leaf.revision)} but is now ${describeEvent(event.stream, event.revision)}`,
          });
        }
      }
      order++;
    }
    after = page.checkpoint ?? page.events[page.events.length - 1]?.checkpoint;
    options.onProgress?.('events', order);
  }
  let pendingEvents = 0;
  for (const event of notLogged) {
    if (event.order > lastLoggedOrder) {
      pendingEvents++;
      continue;
    }
    problems.push({
      kind: 'event-not-logged',
      stream: event.stream,
      revision: event.revision,
      eventId: event.id,
      detail: `${describeEvent(event.stream, event.revision)} (event ${event.id}): in the ledger between logged events but not in the log (inserted afterwards)`,
    });
  }

  // Leaves whose event is gone: the log's tail, a stream's tail, or one in the middle.
  const missing = leaves.map((leaf, i) => (leaf && orderOfLeaf[i] === -1 ? leaf : undefined)).filter((leaf): leaf is LeafRecord => leaf !== undefined);
  let tailStart = treeSize;
  while (tailStart > 0 && leaves[tailStart - 1] && orderOfLeaf[tailStart - 1] === -1) tailStart--;
  if (tailStart < treeSize) {
    const streams = [...new Set(leaves.slice(tailStart).map((leaf) => leaf.stream))];
    problems.push({
      kind: 'log-tail-dropped',
      leafIndex: tailStart,
      detail: `the log's tail is gone from the ledger: leaves ${tailStart}..${treeSize - 1} (${treeSize - tailStart} events, streams ${streams.slice(0, 5).join(', ')}${streams.length > 5 ? ', ...' : ''}) are logged but missing`,
    });
  }
  const byStream = new Map<string, LeafRecord[]>();
  for (const leaf of missing) {
    if (leaf.index >= tailStart) continue;
    byStream.set(leaf.stream, [...(byStream.get(leaf.stream) ?? []), leaf]);
  }
  for (const [stream, gone] of byStream) {
    const present = lastRevision.get(stream) ?? -1;
    const tail = gone.filter((leaf) => leaf.revision > present);
    if (tail.length > 0) {
      const revisions = tail.map((leaf) => leaf.revision);
      problems.push({
        kind: 'stream-tail-dropped',
        stream,
        revision: Math.min(...revisions),
        detail: `stream ${stream}: its tail is gone, revisions ${Math.min(...revisions)}..${Math.max(...revisions)} are logged (leaves ${tail.map((l) => l.index).join(', ')}) but missing from the ledger`,
      });
    }
    for (const leaf of gone.filter((l) => l.revision <= present)) {
      problems.push({
        kind: 'event-missing',
        stream,
        revision: leaf.revision,
        eventId: leaf.eventId,
        leafIndex: leaf.index,
        detail: `${describeEvent(stream, leaf.revision)} (event ${leaf.eventId}, leaf ${leaf.index}): deleted from the ledger`,
      });
    }
  }

  // Order: the leaves in the longest run that keeps the ledger's order stayed put; the others moved.
  const placed = [...orderOfLeaf.keys()].filter((i) => (orderOfLeaf[i] as number) >= 0);
  const kept = longestIncreasingRun(placed.map((i) => orderOfLeaf[i] as number));
  for (const [k, i] of placed.entries()) {
    if (kept.has(k)) continue;
    const leaf = leaves[i] as LeafRecord;
    const now = orderOfLeaf[i] as number;
    problems.push({
      kind: 'reordered',
      stream: leaf.stream,
      revision: leaf.revision,
      eventId: leaf.eventId,
      leafIndex: i,
      detail: `${describeEvent(leaf.stream, leaf.revision)} (event ${leaf.eventId}) was logged as leaf ${i} but is now event ${now} of the ledger's global order: the order was changed`,
    });
  }

  // 3. Nodes, from the stored leaf hashes (a missing leaf row counts as a zero hash: already named).
  const tree = new MemoryMerkleTree();
  const zero = new Uint8Array(32);
  for (let i = 0; i < treeSize; i++) tree.appendLeafHash(leaves[i]?.leafHash ?? zero);
  const maxLevel = Math.max(await log.maxLevel(), Math.floor(Math.log2(Math.max(treeSize, 1))));
  for (let level = LOWEST_STORED_LEVEL; level <= maxLevel; level++) {
    const expected = Math.floor(treeSize / 2 ** level);
    let seen = 0;
    for (let from = 0; ; ) {
      const page = await log.nodesAtLevel(level, from, pageSize);
      if (page.length === 0) break;
      for (const node of page) {
        if (node.index >= expected) {
          problems.push({ kind: 'node-mismatch', detail: `tree node (level ${level}, index ${node.index}) covers leaves beyond the tree (${treeSize} leaves)` });
          continue;
        }
        seen++;
        const [hash] = tree.getNodes([{ level, index: node.index }]);
        if (!bytesEqual(hash as Uint8Array, node.hash)) {
          problems.push({ kind: 'node-mismatch', detail: `tree node (level ${level}, index ${node.index}) does not match the hash of its children` });
        }
      }
      from = (page[page.length - 1] as { index: number }).index + 1;
    }
    if (seen < expected) problems.push({ kind: 'node-missing', detail: `tree level ${level}: ${expected - seen} of ${expected} nodes are missing` });
  }

  // 4. Checkpoints.
  let previous: StoredCheckpoint | undefined;
  for (const stored of checkpoints) {
    const where = `checkpoint of size ${stored.treeSize}`;
    let signedOk = true;
    try {
      const verified = verifyCheckpoint(stored.note, { log: trusted });
      const body = verified.checkpoint;
      if (body.treeSize !== stored.treeSize || !bytesEqual(body.rootHash, stored.rootHash)) {
        problems.push({ kind: 'checkpoint-row-mismatch', treeSize: stored.treeSize, detail: `${where}: its row (size, root) differs from the signed note (size ${body.treeSize})` });
        signedOk = false;
      }
    } catch (error) {
      if (!(error instanceof NoteError) && !(error instanceof CheckpointError)) throw error;
      signedOk = false;
      problems.push({ kind: 'checkpoint-signature', treeSize: stored.treeSize, detail: `${where}: ${signatureProblem(stored.note, trusted, error)}` });
    }
    if (stored.treeSize > treeSize) {
      problems.push({
        kind: 'checkpoint-beyond-tree',
        treeSize: stored.treeSize,
        detail: `${where}: signed for ${stored.treeSize} leaves but the log holds ${treeSize}: the log lost its tail (leaves ${treeSize}..${stored.treeSize - 1})`,
      });
      continue;
    }
    if (!bytesEqual(tree.rootHash(stored.treeSize), stored.rootHash)) {
      problems.push({ kind: 'checkpoint-root', treeSize: stored.treeSize, detail: `${where}: its root is not the root of the stored tree of that size (the checkpoint or the tree was rewritten)` });
      continue;
    }
    if (signedOk && previous) {
      const proof = tree.consistencyProof(previous.treeSize, stored.treeSize);
      if (!verifyConsistency({ oldSize: previous.treeSize, newSize: stored.treeSize, oldRoot: previous.rootHash, newRoot: stored.rootHash, proof })) {
        problems.push({ kind: 'checkpoints-inconsistent', treeSize: stored.treeSize, detail: `checkpoints of sizes ${previous.treeSize} and ${stored.treeSize} are not consistent` });
      }
    }
    if (signedOk) previous = stored;
  }

  return { ok: problems.length === 0, treeSize, events: order, checkpoints: checkpoints.length, pendingEvents, problems };
}

/** Why a stored note does not verify, in words an auditor can act on. */
function signatureProblem(note: string, trusted: NoteVerifier, error: unknown): string {
  try {
    const parsed = parseNote(note);
    parseCheckpoint(parsed.text);
    const byTrusted = parsed.signatures.some((sig) => sig.name === trusted.name && sig.keyId === trusted.keyId);
    if (!byTrusted) {
      const others = parsed.signatures.map((sig) => `${sig.name} (key ${keyIdHex(sig.keyId)})`).join(', ');
      return `not signed by the trusted log key ${trusted.name} (key ${keyIdHex(trusted.keyId)}); signed by ${others || 'nobody'}`;
    }
    return `the log key's signature does not verify (the note was altered): ${(error as Error).message}`;
  } catch {
    return `not a well-formed signed checkpoint: ${(error as Error).message}`;
  }
}

/** Positions (in `values`) of one longest strictly increasing subsequence: O(n log n) patience sorting. */
function longestIncreasingRun(values: readonly number[]): Set<number> {
  const tails: number[] = []; // tails[k]: index of the smallest tail of a run of length k + 1
  const previous = new Array<number>(values.length).fill(-1);
  for (let i = 0; i < values.length; i++) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((values[tails[mid] as number] as number) < (values[i] as number)) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) previous[i] = tails[lo - 1] as number;
    tails[lo] = i;
  }
  const run = new Set<number>();
  for (let i = tails.length > 0 ? (tails[tails.length - 1] as number) : -1; i >= 0; i = previous[i] as number) run.add(i);
  return run;
}
