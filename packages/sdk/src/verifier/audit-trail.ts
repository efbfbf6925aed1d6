/**
 * The gateway's check on the ledger it follows: with the log's public key pinned, every event the
 * verifier applied must turn out to be in a checkpoint signed by that key, and every checkpoint
 * must be consistent (RFC 9162) with the last one this process saw. So an operator (or anyone
 * between the gateway and keyledger) cannot feed the gateway a history the log does not commit
 * to, nor later rewrite the history it was shown, without the gateway noticing.
 *
 * It checks after the fact, in the background: verification answers never wait on it. An event
 * not yet covered by a signed checkpoint stays pending until one covers it.
 */
import {
  bytesEqual,
  canonicalJson,
  cosignatureVerifierFromKey,
  decodeBase64Strict,
  leafHashOfPublicView,
  noteVerifierFromKey,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  type PublicLeafView,
} from '@keyledger/schemas';
import type { KeyledgerClient } from '../client.js';
import { KeyledgerApiError } from '../errors.js';
import type { LedgerEvent } from '../types.js';

export interface AuditTrailOptions {
  /** The log's verifier key (`<origin>+<id>+<base64>`, from GET /v1/audit/public-key), obtained out of band. */
  logKey: string;
  /** Witness cosigner keys to require, and how many of them (default 0). */
  witnesses?: readonly string[];
  witnessQuorum?: number;
  /** At most this many applied events wait for proof; older ones are dropped unproven (counted). Default 10 000. */
  maxPending?: number;
}

export interface AuditTrailStatus {
  /** The last verified checkpoint's size, undefined before the first. */
  treeSize: number | undefined;
  proven: number;
  pending: number;
  /** Pending events dropped unproven because more than maxPending waited. */
  droppedUnproven: number;
}

/** The log showed something its signed history does not hold. */
export class AuditViolationError extends Error {
  override name = 'AuditViolationError';
}

const b64 = (text: string): Uint8Array => {
  const bytes = decodeBase64Strict(text);
  if (!bytes) throw new AuditViolationError(`the log answered a hash that is not base64: ${text.slice(0, 60)}`);
  return bytes;
};

export class AuditTrail {
  readonly #client: KeyledgerClient;
  readonly #trust: Parameters<typeof verifyCheckpoint>[1];
  readonly #maxPending: number;
  #pending: LedgerEvent[] = [];
  #last: { treeSize: number; rootHash: Uint8Array } | undefined;
  #proven = 0;
  #dropped = 0;

  constructor(client: KeyledgerClient, options: AuditTrailOptions) {
    this.#client = client;
    this.#trust = {
      log: noteVerifierFromKey(options.logKey),
      witnesses: (options.witnesses ?? []).map((key) => cosignatureVerifierFromKey(key)),
      witnessQuorum: options.witnessQuorum ?? 0,
    };
    this.#maxPending = options.maxPending ?? 10_000;
  }

  /** Records an event the verifier applied; check() proves it later. */
  noteApplied(event: LedgerEvent): void {
    this.#pending.push(event);
    if (this.#pending.length > this.#maxPending) {
      this.#pending.shift();
      this.#dropped++;
    }
  }

  status(): AuditTrailStatus {
    return { treeSize: this.#last?.treeSize, proven: this.#proven, pending: this.#pending.length, droppedUnproven: this.#dropped };
  }

  /**
   * Fetches the latest checkpoint, verifies it (pinned key, witness quorum) and its consistency
   * with the last one seen, then proves every pending event covered by it. Throws
   * AuditViolationError when anything does not hold; network errors propagate as they are.
   */
  async check(): Promise<AuditTrailStatus> {
    const served = await this.#client.audit.checkpoint();
    let checkpoint;
    try {
      checkpoint = verifyCheckpoint(served.note, this.#trust).checkpoint;
    } catch (error) {
      throw new AuditViolationError(`the log's checkpoint does not verify with the pinned key: ${(error as Error).message}`);
    }
    const last = this.#last;
    if (last) {
      if (checkpoint.treeSize < last.treeSize) throw new AuditViolationError(`the log shrank: checkpoint of size ${checkpoint.treeSize} after one of size ${last.treeSize}`);
      const proof = checkpoint.treeSize === last.treeSize ? [] : (await this.#client.audit.consistencyProof({ from: last.treeSize, to: checkpoint.treeSize })).proof.map(b64);
      if (!verifyConsistency({ oldSize: last.treeSize, newSize: checkpoint.treeSize, oldRoot: last.rootHash, newRoot: checkpoint.rootHash, proof })) {
        throw new AuditViolationError(`the checkpoint of size ${checkpoint.treeSize} is not consistent with the one of size ${last.treeSize} seen before: the history was rewritten`);
      }
    }
    this.#last = { treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash };

    const still: LedgerEvent[] = [];
    for (const event of this.#pending) {
      let proof;
      try {
        proof = await this.#client.audit.inclusionProof({ event: event.id, size: checkpoint.treeSize });
      } catch (error) {
        // Not integrated yet (404) or not covered by this size (409): wait for the next checkpoint.
        if (error instanceof KeyledgerApiError && (error.status === 404 || error.status === 409)) {
          still.push(event);
          continue;
        }
        throw error;
      }
      const leaf = proof.leaf as PublicLeafView;
      if (!sameEvent(event, leaf)) throw new AuditViolationError(`event ${event.id} (${event.stream} revision ${event.revision}) differs from the leaf the log holds for it`);
      const included = verifyInclusion({ leafHash: leafHashOfPublicView(leaf), index: proof.leafIndex, treeSize: checkpoint.treeSize, proof: proof.proof.map(b64), rootHash: checkpoint.rootHash });
      if (!included || !bytesEqual(b64(proof.rootHash), checkpoint.rootHash)) {
        throw new AuditViolationError(`event ${event.id} (${event.stream} revision ${event.revision}) is not in the signed checkpoint of size ${checkpoint.treeSize}`);
      }
      this.#proven++;
    }
    this.#pending = still;
    return this.status();
  }
}

/** The applied event is the leaf's public view: same identity, same public data and metadata. */
function sameEvent(event: LedgerEvent, leaf: PublicLeafView): boolean {
  return (
    event.id === leaf.id &&
    event.stream === leaf.stream &&
    event.revision === leaf.revision &&
    event.type === leaf.type &&
    canonicalJson(event.data) === canonicalJson(leaf.data) &&
    canonicalJson(event.metadata) === canonicalJson(leaf.metadata)
  );
}
