/**
 * What the HTTP routes ask of the transparency log: the public key, signed checkpoints with
 * their cosignatures, inclusion and consistency proofs, and cosignature submissions.
 *
 * Cosignatures are self-certifying: one is stored only if it verifies, with the submitted
 * witness key, over the exact checkpoint the log signed at that size. A client counts only the
 * witnesses it trusts itself (verifyCheckpoint ignores unknown keys), so an extra cosignature
 * can never make a checkpoint more trusted than its client allows. With KEYLEDGER_AUDIT_WITNESSES
 * set, only those witness keys are accepted; otherwise at most MAX_COSIGNATURES per checkpoint.
 */
import {
  type AuditCheckpoint,
  type AuditPublicKey,
  type ConsistencyProof,
  type InclusionProof,
  cosignatureVerifierFromKey,
  encodeBase64,
  formatSignatureLine,
  keyIdHex,
  NoteError,
  noteVerifierFromKey,
  parseNote,
  parseSignatureLine,
  proveConsistency,
  proveInclusion,
  sealEvent,
  leafHashOfPublicView,
  PROBLEM_TYPES,
} from '@keyledger/schemas';
import { AppError, badRequest, conflict, forbidden, notFound } from '../app/errors.js';
import type { EventStore } from '../store/port.js';
import type { Integration } from './integrator.js';
import type { AuditLogStore, StoredCheckpoint } from './log-store.js';
import type { AuditKey } from './signing-key.js';

export const MAX_COSIGNATURES = 16;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AuditLogOptions {
  log: AuditLogStore;
  key: AuditKey;
  /** The log's verifier key as recorded (another instance's, when this one does not hold it); default the key's own. */
  logVerifierKey?: string;
  store: EventStore;
  integrator?: Integration;
  /** Witness verifier keys (type 0x04) accepted; empty: any verifying cosignature. */
  witnessKeys?: readonly string[];
}

export class AuditLog {
  readonly #o: AuditLogOptions;
  readonly #allowed: Set<string> | undefined;
  readonly #public: AuditPublicKey;

  constructor(options: AuditLogOptions) {
    this.#o = options;
    const vkey = options.logVerifierKey ?? options.key.verifierKey;
    const verifier = noteVerifierFromKey(vkey);
    this.#public = { origin: verifier.name, verifierKey: vkey, keyId: keyIdHex(verifier.keyId), algorithm: 'Ed25519' };
    // Validate configured keys once, at start.
    for (const key of options.witnessKeys ?? []) cosignatureVerifierFromKey(key);
    this.#allowed = options.witnessKeys && options.witnessKeys.length > 0 ? new Set(options.witnessKeys) : undefined;
  }

  get store(): AuditLogStore {
    return this.#o.log;
  }

  get integrator(): Integration | undefined {
    return this.#o.integrator;
  }

  publicKey(): AuditPublicKey {
    return this.#public;
  }

  async checkpoint(size?: number): Promise<AuditCheckpoint> {
    const { log } = this.#o;
    let stored = size === undefined ? await log.latestCheckpoint() : await log.checkpointAt(size);
    // Right after the first start nothing may be signed yet: sign now rather than answer 503.
    if (!stored && size === undefined && this.#o.integrator) stored = await this.#o.integrator.signNow();
    if (!stored) throw size === undefined ? unavailable('the log has not signed a checkpoint yet') : notFound(`no checkpoint was signed at tree size ${size}`);
    return this.#present(stored);
  }

  async #present(stored: StoredCheckpoint): Promise<AuditCheckpoint> {
    const cosignatures = await this.#o.log.cosignatures(stored.treeSize);
    const note = cosignatures.length === 0 ? stored.note : `${stored.note}${cosignatures.map((c) => c.line).join('')}`;
    return {
      origin: this.#public.origin,
      treeSize: stored.treeSize,
      rootHash: encodeBase64(stored.rootHash),
      note,
      signedAt: stored.signedAt.toISOString(),
      cosignatures: cosignatures.map((c) => ({ witness: c.witness, keyId: keyIdHex(c.keyId), timestamp: timestampOf(c.line) })),
    };
  }

  async inclusion(eventRef: string, size?: number): Promise<InclusionProof> {
    const { log, store } = this.#o;
    const leaf = UUID.test(eventRef) ? await log.leafByEventId(eventRef.toLowerCase()) : await log.leafByEventCheckpoint(eventRef);
    if (!leaf) throw notFound(`event '${eventRef}' is not in the log (yet): no such event, or not integrated`);
    const latest = await log.latestCheckpoint();
    const treeSize = size ?? latest?.treeSize ?? 0;
    const head = await log.treeHead();
    if (treeSize > head.size) throw badRequest(`size ${treeSize} is larger than the tree (${head.size} leaves)`);
    if (leaf.index >= treeSize) {
      throw new AppError(409, PROBLEM_TYPES.conflict, 'Not yet covered', `event '${eventRef}' is leaf ${leaf.index}, not covered by a tree of size ${treeSize}; ask again after the next checkpoint`, {
        leafIndex: leaf.index,
      }, { 'retry-after': '1' });
    }
    const [event] = await store.readStream(leaf.stream, { fromRevision: leaf.revision, maxCount: 1 });
    if (!event || event.id !== leaf.eventId) throw unavailable(`leaf ${leaf.index}'s event is missing from the ledger; run keyledger audit verify`);
    const view = sealEvent(
      { id: event.id, stream: event.stream, revision: event.revision, type: event.type, data: event.data, metadata: event.metadata },
      leaf.salt ? { salt: leaf.salt } : {},
    );
    const [proof, rootHash, signed] = await Promise.all([proveInclusion(log, leaf.index, treeSize), log.rootAt(treeSize), log.checkpointAt(treeSize)]);
    return {
      leafIndex: leaf.index,
      treeSize,
      leafHash: encodeBase64(leafHashOfPublicView(view)),
      rootHash: encodeBase64(rootHash),
      proof: proof.map(encodeBase64),
      leaf: view as InclusionProof['leaf'],
      checkpoint: signed ? (await this.#present(signed)).note : null,
    };
  }

  async consistency(from: number, to: number): Promise<ConsistencyProof> {
    const { log } = this.#o;
    if (from > to) throw badRequest(`from (${from}) must not be larger than to (${to})`);
    const head = await log.treeHead();
    if (to > head.size) throw badRequest(`to (${to}) is larger than the tree (${head.size} leaves)`);
    const [proof, fromRoot, toRoot] = await Promise.all([proveConsistency(log, from, to), log.rootAt(from), log.rootAt(to)]);
    return { from, to, fromRoot: encodeBase64(fromRoot), toRoot: encodeBase64(toRoot), proof: proof.map(encodeBase64) };
  }

  async addCosignature(body: { treeSize: number; witnessKey: string; signature: string }): Promise<AuditCheckpoint> {
    const { log } = this.#o;
    let verifier;
    try {
      verifier = cosignatureVerifierFromKey(body.witnessKey);
    } catch (error) {
      throw badRequest(`witnessKey: ${(error as Error).message}`);
    }
    if (this.#allowed && !this.#allowed.has(body.witnessKey)) throw forbidden(`witness '${verifier.name}' is not in KEYLEDGER_AUDIT_WITNESSES`);
    let sig;
    try {
      sig = parseSignatureLine(body.signature.replace(/\n$/, ''));
    } catch (error) {
      throw badRequest(`signature: ${(error as NoteError).message}`);
    }
    if (sig.name !== verifier.name || sig.keyId !== verifier.keyId) throw badRequest('signature: the line is not by the given witness key');
    const stored = await log.checkpointAt(body.treeSize);
    if (!stored) throw notFound(`no checkpoint was signed at tree size ${body.treeSize}`);
    const text = parseNote(stored.note).text;
    if (!verifier.verify(new TextEncoder().encode(text), sig.signature)) {
      throw new AppError(422, PROBLEM_TYPES.validation, 'Cosignature does not verify', `the cosignature of '${verifier.name}' does not verify over the checkpoint of size ${body.treeSize}`);
    }
    const existing = await log.cosignatures(body.treeSize);
    if (!existing.some((c) => c.witness === sig.name && c.keyId === sig.keyId) && !this.#allowed && existing.length >= MAX_COSIGNATURES) {
      throw conflict(`the checkpoint of size ${body.treeSize} already has ${MAX_COSIGNATURES} cosignatures`);
    }
    await log.addCosignature({ treeSize: body.treeSize, witness: sig.name, keyId: sig.keyId, line: formatSignatureLine(sig), receivedAt: new Date() });
    return this.#present(stored);
  }
}

const unavailable = (detail: string) => new AppError(503, PROBLEM_TYPES.unavailable, 'Unavailable', detail, {}, { 'retry-after': '1' });

/** The timestamp a cosignature/v1 line carries (the 8 bytes after the key id). */
function timestampOf(line: string): number {
  try {
    const sig = parseSignatureLine(line.replace(/\n$/, ''));
    if (sig.signature.length < 8) return 0;
    return Number(new DataView(sig.signature.buffer, sig.signature.byteOffset, 8).getBigUint64(0));
  } catch {
    return 0;
  }
}
