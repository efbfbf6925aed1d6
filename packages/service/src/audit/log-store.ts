/**
 * Where the transparency log lives: tables in the event store's own database (the SQLite file or
 * the PostgreSQL schema), so the tree never strays from the ledger it commits to.
 *
 *   kl_audit_leaves       leaf i = the i-th event of the global log: its id, stream, revision, the
 *                         store checkpoint it was read at, the salt sealing its private fields,
 *                         and its leaf hash
 *   kl_audit_nodes        every complete subtree of 2^4 leaves or more, written once, never updated
 *   kl_audit_checkpoints  signed checkpoints (C2SP signed notes), one per tree size
 *   kl_audit_cosignatures witness cosignature lines, per checkpoint
 *   kl_audit_meta         the log's origin and verifier key, recorded on first start
 *
 * Complete subtrees make every proof one indexed lookup of at most ~2 log2(n) rows (tree.ts plans
 * the ranges), so proofs cost the same at a million leaves as at ten. Subtrees below 16 leaves
 * are not stored but hashed from their (at most 15) leaves when asked for: that keeps the rows
 * written per event near one (a leaf) instead of three (a leaf, its hash, ~one interior node),
 * which is most of what integrating costs the database. A tree size's root is computed from the
 * same rows (treeRootHash), never stored apart from its signed checkpoint.
 *
 * Appends are guarded: appendLeaves writes only if the tree still has the size the caller built
 * on (SQLite: under the file's write lock; PostgreSQL: under an advisory transaction lock), so
 * several instances may all try to integrate and exactly one wins each round.
 *
 * This module is also the read API other tools use (export, migrate): open it with
 * openAuditLogStore(config.database) and call treeHead / rootAt / checkpoints / leaves.
 */
import { hashChildren, type MerkleNode, type MerkleNodeRef, type MerkleNodeStore } from '@keyledger/schemas';
import type { Config } from '../config/config.js';
import { openPostgresAuditLogStore } from './postgres-log-store.js';
import { openSqliteAuditLogStore } from './sqlite-log-store.js';

/** A leaf as stored (its hash is the level-0 node). */
export interface LeafRecord {
  index: number;
  eventId: string;
  stream: string;
  revision: number;
  /** The event store checkpoint of this event (backend-specific; not part of the leaf). */
  eventCheckpoint: string;
  /** The salt that seals the event's private fields; null when the event has none. */
  salt: Uint8Array | null;
  /** The stored leaf hash. */
  leafHash: Uint8Array;
}

export type NewLeaf = Omit<LeafRecord, 'index'>;

/** Subtrees of this level (2^4 leaves) and above are stored; lower ones are hashed from leaves. */
export const LOWEST_STORED_LEVEL = 4;

export interface StoredCheckpoint {
  treeSize: number;
  rootHash: Uint8Array;
  /** The signed note, as the log signed it (cosignatures are kept apart). */
  note: string;
  signedAt: Date;
}

export interface StoredCosignature {
  treeSize: number;
  /** The witness's key name. */
  witness: string;
  keyId: number;
  /** The whole signature line `— <name> <base64>\n`. */
  line: string;
  receivedAt: Date;
}

export interface TreeHead {
  size: number;
  /** The event store checkpoint of the last leaf; undefined for the empty tree. */
  lastEventCheckpoint: string | undefined;
}

export interface AuditLogStore extends MerkleNodeStore {
  readonly backend: 'sqlite' | 'postgres';
  treeHead(): Promise<TreeHead>;
  /**
   * Appends leaves `oldSize..` and the subtrees they complete (extendTree's output: those below
   * LOWEST_STORED_LEVEL are left out), atomically, only if the tree still has `oldSize` leaves; with `checkpoint` (of
   * the new size), stores it in the same transaction. False when another integrator got there
   * first (nothing written).
   */
  appendLeaves(oldSize: number, leaves: readonly NewLeaf[], nodes: readonly MerkleNode[], checkpoint?: StoredCheckpoint): Promise<boolean>;
  getNodes(refs: readonly MerkleNodeRef[]): Promise<Uint8Array[]>;
  /** Stored nodes of one level (>= LOWEST_STORED_LEVEL) from `fromIndex`, in index order (verification walks them). */
  nodesAtLevel(level: number, fromIndex: number, limit: number): Promise<{ index: number; hash: Uint8Array }[]>;
  /** The highest level that has a stored node, -1 for none. */
  maxLevel(): Promise<number>;
  leafByEventId(eventId: string): Promise<LeafRecord | undefined>;
  leafByEventCheckpoint(checkpoint: string): Promise<LeafRecord | undefined>;
  leafAt(index: number): Promise<LeafRecord | undefined>;
  /** Leaves from `fromIndex`, in index order. */
  leaves(fromIndex: number, limit: number): Promise<LeafRecord[]>;
  /** MTH of the first `size` leaves (size <= tree size). */
  rootAt(size: number): Promise<Uint8Array>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  checkpointAt(treeSize: number): Promise<StoredCheckpoint | undefined>;
  /** Stored checkpoints with tree size > afterSize, ascending. */
  checkpoints(afterSize: number, limit: number): Promise<StoredCheckpoint[]>;
  /** Stores a checkpoint only if it is larger than every stored one; true when stored. */
  saveCheckpoint(checkpoint: StoredCheckpoint): Promise<boolean>;
  /** Stores a cosignature line unless that witness key already cosigned that size; true when stored. */
  addCosignature(cosignature: StoredCosignature): Promise<boolean>;
  cosignatures(treeSize: number): Promise<StoredCosignature[]>;
  meta(name: string): Promise<string | undefined>;
  /** Records `value` under `name` unless one is recorded; returns the recorded value. */
  recordMetaOnce(name: string, value: string): Promise<string>;
  close(): Promise<void>;
}

export const META_ORIGIN = 'origin';
export const META_VERIFIER_KEY = 'verifier_key';

/** Opens the log tables of the configured database (migrating them if needed). */
export function openAuditLogStore(database: Config['database']): Promise<AuditLogStore> {
  return database.kind === 'postgres'
    ? openPostgresAuditLogStore({ connectionString: database.url, schema: database.schema })
    : Promise.resolve(openSqliteAuditLogStore({ file: database.file }));
}

/** A missing subtree is a broken or not-yet-built tree: never guess a hash. */
export class MissingNodeError extends Error {
  override name = 'MissingNodeError';
}

/** The hash of a complete subtree from its leaf hashes (a power of two of them, in order). */
export function subtreeHash(leafHashes: readonly Uint8Array[]): Uint8Array {
  let level = [...leafHashes];
  while (level.length > 1) {
    const up: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(hashChildren(level[i] as Uint8Array, level[i + 1] as Uint8Array));
    level = up;
  }
  return level[0] as Uint8Array;
}

/**
 * getNodes over stored subtrees and leaf hashes: refs of stored levels go to `stored`, the small
 * subtrees are hashed from the leaves `leafRange` returns (a missing leaf is a MissingNodeError).
 */
export async function resolveNodes(
  refs: readonly MerkleNodeRef[],
  stored: (refs: readonly MerkleNodeRef[]) => Promise<Map<string, Uint8Array>>,
  leafRange: (ranges: readonly (readonly [number, number])[]) => Promise<Map<number, Uint8Array>>,
): Promise<Uint8Array[]> {
  const high = refs.filter((ref) => ref.level >= LOWEST_STORED_LEVEL);
  const low = refs.filter((ref) => ref.level < LOWEST_STORED_LEVEL);
  const [nodes, leaves] = await Promise.all([
    high.length > 0 ? stored(high) : new Map<string, Uint8Array>(),
    low.length > 0 ? leafRange(low.map(({ level, index }) => [index * 2 ** level, (index + 1) * 2 ** level] as const)) : new Map<number, Uint8Array>(),
  ]);
  return refs.map(({ level, index }) => {
    if (level >= LOWEST_STORED_LEVEL) {
      const hash = nodes.get(`${level}/${index}`);
      if (!hash) throw new MissingNodeError(`the log has no subtree (${level}, ${index})`);
      return hash;
    }
    const hashes: Uint8Array[] = [];
    for (let i = index * 2 ** level; i < (index + 1) * 2 ** level; i++) {
      const hash = leaves.get(i);
      if (!hash) throw new MissingNodeError(`the log has no leaf ${i}`);
      hashes.push(hash);
    }
    return subtreeHash(hashes);
  });
}
