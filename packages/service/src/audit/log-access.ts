/**
 * What export, import and migrate need from the transparency log (the integrator keeps it in the
 * store's own database, log-store.ts): the salt of each sealed leaf, the signed checkpoints and the
 * key that signed them, and, on the receiving side, a way to adopt the same salts and checkpoints
 * so the moved ledger keeps its tree (same leaves, same root, checkpoints that still verify).
 *
 * Events the log has not integrated yet have no stored salt: export seals them with fresh ones
 * (written to the file), and the receiving side adopts those, so the moved tree is one tree.
 */
import { parseNote, parseCheckpoint } from '@keyledger/schemas';
import type { Config } from '../config/config.js';
import { openEventStore } from '../store/open-store.js';
import { AuditIntegrator } from './integrator.js';
import { type AuditLogStore, META_ORIGIN, META_VERIFIER_KEY, openAuditLogStore } from './log-store.js';

export interface AuditLogAccess {
  /** Whether a log exists for this store (false for NO_AUDIT_LOG). */
  readonly present: boolean;
  /** The salts stored for these events' leaves, by event id; events without private fields have none. */
  leafSalts(eventIds: readonly string[]): Promise<Map<string, Uint8Array>>;
  /** Every stored signed checkpoint (C2SP signed notes), oldest first. */
  checkpoints(): Promise<string[]>;
  /** The verifier key (`<name>+<id>+<base64>`) the checkpoints are signed with, if the log has one. */
  verifierKey(): Promise<string | undefined>;
  /** Receiving side: keep these salts for these leaves, so the tree built here equals the source's. */
  adoptLeafSalts(salts: ReadonlyMap<string, Uint8Array>): Promise<void>;
  /** Receiving side: keep the source's signed checkpoints (already verified by the caller). */
  adoptCheckpoints(notes: readonly string[], verifierKey: string | undefined): Promise<void>;
  close(): Promise<void>;
}

export const NO_AUDIT_LOG: AuditLogAccess = {
  present: false,
  leafSalts: async () => new Map(),
  checkpoints: async () => [],
  verifierKey: async () => undefined,
  adoptLeafSalts: async () => undefined,
  adoptCheckpoints: async () => undefined,
  close: async () => undefined,
};

const PAGE = 5000;

/** The log of the store `database` describes. */
export async function openAuditLogAccess(database: Config['database']): Promise<AuditLogAccess> {
  const log = await openAuditLogStore(database);
  return new StoredAuditLog(database, log);
}

class StoredAuditLog implements AuditLogAccess {
  readonly present = true;
  /** Salts of leaves read ahead, by event id (export asks in ledger order, which is leaf order). */
  readonly #salts = new Map<string, Uint8Array>();
  #nextLeaf = 0;
  #adopted = new Map<string, Uint8Array>();

  constructor(
    private readonly database: Config['database'],
    private readonly log: AuditLogStore,
  ) {}

  async leafSalts(eventIds: readonly string[]): Promise<Map<string, Uint8Array>> {
    const wanted = new Set(eventIds);
    const found = new Map<string, Uint8Array>();
    const take = () => {
      for (const id of wanted) {
        const salt = this.#salts.get(id);
        if (salt === undefined) continue;
        found.set(id, salt);
        this.#salts.delete(id);
      }
    };
    take();
    // Read leaves ahead until these events are passed (or the integrated tree ends).
    const last = eventIds.at(-1);
    let passedLast = last === undefined;
    while (!passedLast) {
      const page = await this.log.leaves(this.#nextLeaf, PAGE);
      if (page.length === 0) break;
      this.#nextLeaf = (page.at(-1)?.index ?? this.#nextLeaf) + 1;
      for (const leaf of page) {
        if (leaf.salt !== null) this.#salts.set(leaf.eventId, leaf.salt);
        if (leaf.eventId === last) passedLast = true;
      }
      take();
    }
    return found;
  }

  async checkpoints(): Promise<string[]> {
    const notes: string[] = [];
    for (let after = -1; ; ) {
      const page = await this.log.checkpoints(after, 1000);
      if (page.length === 0) return notes;
      for (const checkpoint of page) notes.push(checkpoint.note);
      after = page.at(-1)!.treeSize;
    }
  }

  verifierKey(): Promise<string | undefined> {
    return this.log.meta(META_VERIFIER_KEY);
  }

  async adoptLeafSalts(salts: ReadonlyMap<string, Uint8Array>): Promise<void> {
    this.#adopted = new Map(salts);
  }

  /**
   * Builds this store's tree from its (imported) events with the adopted salts, then keeps the
   * source's checkpoints where their root is this tree's root at their size: a moved ledger whose
   * tree differs is refused here rather than carrying checkpoints it cannot prove.
   */
  async adoptCheckpoints(notes: readonly string[], verifierKey: string | undefined): Promise<void> {
    const store = await openEventStore(this.database);
    try {
      await new AuditIntegrator({ store, log: this.log, signing: false, saltOf: (event) => this.#adopted.get(event.id) }).integrate();
    } finally {
      await store.close();
    }
    if (verifierKey !== undefined) await this.log.recordMetaOnce(META_VERIFIER_KEY, verifierKey);
    for (const note of notes) {
      const checkpoint = parseCheckpoint(parseNote(note).text);
      await this.log.recordMetaOnce(META_ORIGIN, checkpoint.origin);
      const root = await this.log.rootAt(checkpoint.treeSize);
      if (Buffer.compare(Buffer.from(root), Buffer.from(checkpoint.rootHash)) !== 0) {
        throw new Error(`checkpoint of size ${checkpoint.treeSize} does not match the tree rebuilt from the moved events`);
      }
      await this.log.saveCheckpoint({ treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash, note, signedAt: new Date() });
    }
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
