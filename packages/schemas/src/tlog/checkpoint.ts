/**
 * C2SP tlog-checkpoint bodies: the origin line, the tree size in decimal (no leading zeroes), the
 * base64 root hash, then optional non-empty extension lines, each ending in a newline. A checkpoint
 * is only ever trusted as a signed note whose log signature verifies (verifyCheckpoint).
 */
import { decodeBase64Strict, encodeBase64 } from './bytes.js';
import { HASH_SIZE } from './hash.js';
import type { CosignatureVerifier } from './cosignature.js';
import { NoteError, openNote, signNote, type NoteSigner, type NoteVerifier, type OpenedNote } from './note.js';

export interface Checkpoint {
  origin: string;
  treeSize: number;
  rootHash: Uint8Array;
  /** Opaque lines after the root hash; NOT RECOMMENDED by the spec and unused by keyledger. */
  extensions?: string[];
}

export class CheckpointError extends NoteError {
  override name = 'CheckpointError';
}

export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, treeSize, rootHash, extensions = [] } = checkpoint;
  if (origin.length === 0 || origin.includes('\n')) throw new CheckpointError('checkpoint origin must be one non-empty line');
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new CheckpointError(`checkpoint tree size must be a non-negative safe integer, got ${treeSize}`);
  if (rootHash.length !== HASH_SIZE) throw new CheckpointError('checkpoint root hash must be 32 bytes');
  for (const line of extensions) if (line.length === 0 || line.includes('\n')) throw new CheckpointError('checkpoint extension lines must be single non-empty lines');
  return [origin, String(treeSize), encodeBase64(rootHash), ...extensions].map((line) => `${line}\n`).join('');
}

/** Parses a checkpoint body (the note text, final newline included). Throws CheckpointError. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new CheckpointError('checkpoint does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, size, root, ...extensions] = lines;
  if (origin === undefined || size === undefined || root === undefined) throw new CheckpointError('checkpoint needs an origin, a tree size and a root hash line');
  if (origin.length === 0) throw new CheckpointError('checkpoint origin is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new CheckpointError(`checkpoint tree size '${size}' is not a decimal without leading zeroes`);
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) throw new CheckpointError(`checkpoint tree size ${size} is beyond 2^53`);
  const rootHash = decodeBase64Strict(root);
  if (!rootHash || rootHash.length !== HASH_SIZE) throw new CheckpointError('checkpoint root hash is not base64 of 32 bytes');
  if (extensions.some((line) => line.length === 0)) throw new CheckpointError('checkpoint has an empty extension line');
  return extensions.length > 0 ? { origin, treeSize, rootHash, extensions } : { origin, treeSize, rootHash };
}

/** The signed note of a checkpoint; the log's key name should be the origin. */
export function signCheckpoint(checkpoint: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(checkpoint), [signer]);
}

export interface CheckpointTrust {
  /** The log's key. Its name is the expected origin unless `origin` says otherwise. */
  log: NoteVerifier;
  origin?: string;
  /** Witness cosigners the caller trusts (see cosignatureVerifierFromKey). */
  witnesses?: readonly CosignatureVerifier[];
  /** How many of `witnesses` must have cosigned; default 0. */
  witnessQuorum?: number;
}

export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  /** The note text that was signed (what a witness cosigns). */
  text: string;
  /** Trusted witnesses whose cosignature verified, with the time each says it cosigned. */
  cosignedBy: { name: string; timestamp: number }[];
  note: OpenedNote;
}

/**
 * Opens a signed checkpoint: the log's signature must verify (a failing signature from any trusted
 * key rejects it), the body must parse, the origin must be the expected one, and at least
 * `witnessQuorum` distinct trusted witnesses must have cosigned. Throws CheckpointError / NoteError
 * naming what failed.
 */
export function verifyCheckpoint(note: string | Uint8Array, trust: CheckpointTrust): VerifiedCheckpoint {
  const witnesses = trust.witnesses ?? [];
  const opened = openNote(note, [trust.log, ...witnesses]);
  if (!opened.verified.some((sig) => sig.name === trust.log.name && sig.keyId === trust.log.keyId)) {
    throw new CheckpointError(`checkpoint is not signed by the log key '${trust.log.name}'`);
  }
  const checkpoint = parseCheckpoint(opened.text);
  const origin = trust.origin ?? trust.log.name;
  if (checkpoint.origin !== origin) throw new CheckpointError(`checkpoint origin '${checkpoint.origin}' is not the expected '${origin}'`);
  const cosignedBy: { name: string; timestamp: number }[] = [];
  for (const witness of witnesses) {
    const sig = opened.verified.find((s) => s.name === witness.name && s.keyId === witness.keyId);
    if (sig && !cosignedBy.some((c) => c.name === witness.name)) cosignedBy.push({ name: witness.name, timestamp: witness.timestampOf(sig.signature) });
  }
  const quorum = trust.witnessQuorum ?? 0;
  if (cosignedBy.length < quorum) throw new CheckpointError(`checkpoint has ${cosignedBy.length} trusted witness cosignatures, ${quorum} required`);
  return { checkpoint, text: opened.text, cosignedBy, note: opened };
}
