/**
 * Where projection snapshots are kept: a table in the event store's own database (SQLite file or
 * PostgreSQL schema), so a snapshot never outlives or strays from the ledger it summarises.
 * A snapshot is one opaque payload with the checkpoint it was taken at; the encoding is the
 * projections' business (projections/snapshots.ts).
 */

export interface StoredSnapshot {
  name: string;
  checkpoint: string;
  payload: Buffer;
  writtenAt: Date;
  writtenBy: string;
}

export interface SnapshotStore {
  /** The stored snapshot, or undefined when there is none. */
  load(name: string): Promise<StoredSnapshot | undefined>;
  /** Only the stored checkpoint: lets a writer skip encoding when a newer snapshot exists. */
  storedCheckpoint(name: string): Promise<string | undefined>;
  /**
   * Replaces the stored snapshot atomically, unless the stored one is at the same or a later
   * checkpoint (another instance got further): several writers never move a snapshot backwards.
   * Returns true when this one was written. `replace` writes it even so: `keyledger projections
   * rebuild` replaces a snapshot it has just rebuilt from the log at the same checkpoint.
   */
  save(snapshot: Omit<StoredSnapshot, 'writtenAt'>, options?: { replace?: boolean }): Promise<boolean>;
  close(): Promise<void>;
}

/** Orders two checkpoints of the event store the snapshots belong to (EventStore.compareCheckpoints). */
export type CompareCheckpoints = (a: string | undefined, b: string | undefined) => number;

/**
 * True when the stored snapshot is at or past `candidate`. A stored checkpoint the store can no
 * longer read (another checkpoint format) counts as older, so it gets replaced instead of
 * blocking every later save.
 */
export function storedIsAtOrPast(compare: CompareCheckpoints, stored: string, candidate: string): boolean {
  try {
    return compare(stored, candidate) >= 0;
  } catch {
    return false;
  }
}
