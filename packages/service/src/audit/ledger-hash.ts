/**
 * Hashing a ledger as it streams past: the RFC 9162 root of its events (the transparency log's
 * leaves, packages/schemas/src/tlog) in O(log n) memory, and a digest of every event's full
 * record (recordedAt included, which the leaf leaves out) to prove two stores hold the same
 * ledger byte for byte.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, EMPTY_TREE_HASH, hashChildren, leafHashOfEvent, newSealSalt, sealEvent } from '@keyledger/schemas';
import type { RecordedEvent } from '../store/port.js';

/** The roots of the complete subtrees seen so far (a "compact range"), largest first. */
export class RunningRoot {
  readonly #stack: { level: number; hash: Uint8Array }[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(leafHash: Uint8Array): void {
    let node = { level: 0, hash: leafHash };
    // Two subtrees of equal size merge into one twice as big: RFC 9162's split at the largest power of two.
    while (this.#stack.length > 0 && (this.#stack[this.#stack.length - 1] as { level: number }).level === node.level) {
      const left = this.#stack.pop() as { level: number; hash: Uint8Array };
      node = { level: node.level + 1, hash: hashChildren(left.hash, node.hash) };
    }
    this.#stack.push(node);
    this.#size += 1;
  }

  /** MTH of every leaf pushed so far. */
  root(): Uint8Array {
    if (this.#stack.length === 0) return new Uint8Array(EMPTY_TREE_HASH);
    let hash = (this.#stack[this.#stack.length - 1] as { hash: Uint8Array }).hash;
    for (let i = this.#stack.length - 2; i >= 0; i--) hash = hashChildren((this.#stack[i] as { hash: Uint8Array }).hash, hash);
    return hash;
  }
}

/** The fields a leaf and an export line carry. */
export interface LedgerEventRecord {
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: unknown;
  recordedAt: Date;
}

/** True when the event has fields the leaf seals (a KeyIssued digest, idempotency keys...): it needs a salt. */
export function needsSalt(event: LedgerEventRecord): boolean {
  return sealEvent(event, { salt: new Uint8Array(16) }).sealed !== undefined;
}

/** A salt for a leaf that needs one and has none stored. */
export function freshSalt(): Uint8Array {
  return newSealSalt();
}

export function leafHash(event: LedgerEventRecord, salt: Uint8Array | undefined): Uint8Array {
  return leafHashOfEvent(event, salt ? { salt } : {});
}

/** SHA-256 over every event's whole record, in log order. */
export class LedgerDigest {
  readonly #hash = createHash('sha256');
  #count = 0;

  get count(): number {
    return this.#count;
  }

  push(event: LedgerEventRecord): void {
    const line = canonicalJson({
      id: event.id,
      stream: event.stream,
      revision: event.revision,
      type: event.type,
      data: event.data,
      metadata: event.metadata,
      recordedAt: event.recordedAt.toISOString(),
    });
    this.#hash.update(line).update('\n');
    this.#count += 1;
  }

  hex(): string {
    return this.#hash.copy().digest('hex');
  }
}

export function recordOf(event: RecordedEvent): LedgerEventRecord {
  return { id: event.id, stream: event.stream, revision: event.revision, type: event.type, data: event.data, metadata: event.metadata, recordedAt: event.recordedAt };
}
