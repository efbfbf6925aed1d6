/** A read model that can be saved with its checkpoint and restored, so a start reads only the tail. */
export interface SnapshotPart {
  readonly name: string;
  /** Bump when the encoding changes: a snapshot of another version is not read (the log is replayed). */
  readonly snapshotVersion: number;
  /** Synchronous, so the bytes and the runner's checkpoint describe the same moment. */
  encodeSnapshot(): Buffer;
  /** Replaces the model with the snapshot's; throws on a malformed one (the caller then resets). */
  restoreSnapshot(data: Buffer): void;
  /** Back to empty, for a rebuild from the start of the log. */
  reset(): void;
}
