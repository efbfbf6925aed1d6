/**
 * C2SP tlog-cosignature, Ed25519 cosignature/v1: a witness's note signature on a checkpoint.
 *
 * - key id: SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4] (type 0x04, not 0x01: the
 *   same key can never be mistaken for a plain note key);
 * - signature bytes after the key id: a big-endian u64 POSIX timestamp, then the 64-byte Ed25519
 *   signature (the `timestamped_signature` struct);
 * - signed message: `cosignature/v1\n` `time <timestamp>\n` then the whole checkpoint body.
 *
 * A v1 cosignature says: as of that time, the largest consistent tree the witness has seen for
 * this origin has this root. It says nothing about extension lines.
 */
import * as crypto from 'node:crypto';
import { concatBytes, utf8 } from './bytes.js';
import {
  decodeSignerKey,
  decodeVerifierKey,
  ed25519PrivateKey,
  ed25519PublicKey,
  generateNoteKeyPair,
  NoteError,
  type NoteKeyPair,
  type NoteSigner,
  type NoteVerifier,
} from './note.js';

export const COSIGNATURE_TYPE = 0x04;
const TIMESTAMP_BYTES = 8;
const SIGNATURE_BYTES = 64;
const MAX_TIMESTAMP = 2n ** 63n - 1n;

export interface CosignatureVerifier extends NoteVerifier {
  /** The timestamp a (verified) cosignature carries, in POSIX seconds. */
  timestampOf(signature: Uint8Array): number;
}

export interface CosignerOptions {
  /** POSIX seconds; defaults to the system clock. */
  now?: () => number;
}

/** The exact bytes a cosignature/v1 signs. */
export function cosignedMessage(checkpointText: string | Uint8Array, timestamp: number): Uint8Array {
  const text = typeof checkpointText === 'string' ? utf8(checkpointText) : checkpointText;
  return concatBytes(utf8(`cosignature/v1\ntime ${timestamp}\n`), text);
}

export function generateCosignerKeyPair(name: string): NoteKeyPair {
  return generateNoteKeyPair(name, COSIGNATURE_TYPE);
}

/**
 * A witness's signer from a PRIVATE+KEY+... string of type 0x04. It signs whatever text it is
 * given: checking that the text is a checkpoint consistent with what the witness saw before is
 * the witness's job (see witness.ts), done before it calls signNote.
 */
export function cosignerFromKey(skey: string, options: CosignerOptions = {}): NoteSigner {
  const { name, keyId, type, key } = decodeSignerKey(skey);
  if (type !== COSIGNATURE_TYPE) throw new NoteError(`cosigner key type 0x${type.toString(16).padStart(2, '0')} is not a cosignature/v1 key (0x04)`);
  const privateKey = ed25519PrivateKey(key);
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  return {
    name,
    keyId,
    sign(text) {
      const timestamp = now();
      if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new NoteError(`cosignature timestamp ${timestamp} is not a POSIX time`);
      const stamp = new Uint8Array(TIMESTAMP_BYTES);
      new DataView(stamp.buffer).setBigUint64(0, BigInt(timestamp));
      return concatBytes(stamp, new Uint8Array(crypto.sign(null, cosignedMessage(text, timestamp), privateKey)));
    },
  };
}

/** Verifies cosignature/v1 lines of the witness whose verifier key (type 0x04) is given. */
export function cosignatureVerifierFromKey(vkey: string, options: { maxFutureSeconds?: number; now?: () => number } = {}): CosignatureVerifier {
  const { name, keyId, type, key } = decodeVerifierKey(vkey);
  if (type !== COSIGNATURE_TYPE) throw new NoteError(`witness key type 0x${type.toString(16).padStart(2, '0')} is not a cosignature/v1 key (0x04)`);
  const publicKey = ed25519PublicKey(key);
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  return {
    name,
    keyId,
    verify(text, signature) {
      const timestamp = readTimestamp(signature);
      if (timestamp === undefined) return false;
      // The spec lets verifiers refuse cosignatures from the future; only when asked to.
      if (options.maxFutureSeconds !== undefined && timestamp > now() + options.maxFutureSeconds) return false;
      return crypto.verify(null, cosignedMessage(text, timestamp), publicKey, signature.subarray(TIMESTAMP_BYTES));
    },
    timestampOf(signature) {
      const timestamp = readTimestamp(signature);
      if (timestamp === undefined) throw new NoteError('not a cosignature/v1 signature');
      return timestamp;
    },
  };
}

/** The u64 timestamp of a timestamped_signature, if the bytes are one (and it fits in a safe integer). */
function readTimestamp(signature: Uint8Array): number | undefined {
  if (signature.length !== TIMESTAMP_BYTES + SIGNATURE_BYTES) return undefined;
  const value = new DataView(signature.buffer, signature.byteOffset, TIMESTAMP_BYTES).getBigUint64(0);
  if (value > MAX_TIMESTAMP || value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(value);
}
