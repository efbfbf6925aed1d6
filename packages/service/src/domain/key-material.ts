/**
 * Key material: ids, fresh API keys and deterministically derived ones. Only the SHA-256 digest
 * and a display hint of a key ever leave this module towards events; the plaintext goes back to
 * the caller once and nowhere else.
 */
import { createHmac, hash, randomBytes } from 'node:crypto';
import { BASE62, checksumOf, isValidPrefix, keyHint, RANDOM_LENGTH } from '@keyledger/schemas';

/** Default key prefixes per environment; operators may configure others. */
export const KEY_PREFIXES = { live: 'kl_live', test: 'kl_test' } as const;

export const KEY_ID_RANDOM_LENGTH = 20;
/** Shortest server secret accepted for deriving keys; shorter ones make derived keys guessable. */
export const MIN_SERVER_SECRET_BYTES = 16;

/**
 * 248 = 4 * 62 is the largest multiple of 62 that fits in a byte. Bytes at or above it are
 * discarded so that `byte % 62` is uniform: keeping them would make the first 8 characters of
 * the alphabet slightly likelier (modulo bias).
 */
const UNBIASED_BYTE_LIMIT = 248;

export interface KeyMaterial {
  /** The full key. Returned to its holder once; never stored, logged or put in an event. */
  plaintext: string;
  /** Hex SHA-256 of the plaintext: what the ledger stores and verify looks up. */
  digest: string;
  /** Prefix and last characters, so a person can recognise the key without it being revealed. */
  hint: string;
}

/**
 * Maps a stream of uniform random bytes to `length` uniform base62 characters, asking
 * `nextBlock` for more bytes until enough survive rejection. Exported for its tests.
 */
export function base62FromBytes(length: number, nextBlock: () => Buffer): string {
  let out = '';
  while (out.length < length) {
    for (const byte of nextBlock()) {
      if (byte >= UNBIASED_BYTE_LIMIT) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export function randomBase62(length: number): string {
  // A few spare bytes so one block is nearly always enough (about 3% of bytes are rejected).
  return base62FromBytes(length, () => randomBytes(length + 8));
}

function assertPrefix(prefix: string): void {
  if (!isValidPrefix(prefix)) {
    throw new RangeError(
      `invalid key prefix '${prefix}': use lowercase letters and digits in '_'-separated parts, at most 32 characters (e.g. kl_live)`,
    );
  }
}

function materialFrom(prefix: string, random: string): KeyMaterial {
  const plaintext = `${prefix}_${random}${checksumOf(prefix, random)}`;
  return { plaintext, digest: digestKey(plaintext), hint: keyHint(plaintext) };
}

/** A new key id: `key_` and 20 random base62 characters (119 bits). */
export function newKeyId(): string {
  return `key_${randomBase62(KEY_ID_RANDOM_LENGTH)}`;
}

/** Hex SHA-256 of a plaintext key. A fast hash is enough because keys carry 130 random bits. */
export function digestKey(plaintext: string): string {
  // crypto.hash (Node >= 20.12) skips the Hash object: several times faster on the verify path.
  return hash('sha256', plaintext, 'hex');
}

/** A fresh random key with the given prefix. */
export function generateKey(prefix: string): KeyMaterial {
  assertPrefix(prefix);
  return materialFrom(prefix, randomBase62(RANDOM_LENGTH));
}

/**
 * A key derived from the server secret and a label (e.g. the idempotency key of an issue
 * request). The same inputs always give the same key, so an idempotent replay can hand back the
 * plaintext it issued the first time without the ledger ever storing it. Without the secret the
 * key cannot be predicted from the label.
 *
 * The bytes are HMAC-SHA256(secret, label), followed, in the rare case that rejection sampling
 * needs more, by HMAC-SHA256(that first block, counter) for counter = 1, 2, ...
 */
export function deriveKey(prefix: string, serverSecret: Buffer, label: string): KeyMaterial {
  assertPrefix(prefix);
  if (serverSecret.length < MIN_SERVER_SECRET_BYTES) {
    throw new RangeError(`server secret must be at least ${MIN_SERVER_SECRET_BYTES} bytes to derive keys`);
  }
  const first = createHmac('sha256', serverSecret).update(label, 'utf8').digest();
  let counter = 0;
  const nextBlock = () => {
    if (counter === 0) {
      counter = 1;
      return first;
    }
    const block = Buffer.alloc(4);
    block.writeUInt32BE(counter++);
    return createHmac('sha256', first).update(block).digest();
  };
  return materialFrom(prefix, base62FromBytes(RANDOM_LENGTH, nextBlock));
}
