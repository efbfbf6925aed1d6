/**
 * RFC 9162 §2.1.1 hashing with SHA-256: a leaf is hashed as SHA-256(0x00 || leaf), an interior
 * node as SHA-256(0x01 || left || right), and the empty tree's root is SHA-256 of nothing. The
 * distinct prefixes keep a leaf from ever being passed off as a node (second pre-image attacks).
 */
import * as crypto from 'node:crypto';

export const HASH_SIZE = 32;

type OneShotHash = (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer;
// crypto.hash (Node >= 20.12) skips the Hash object and is markedly faster for short inputs.
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

export const sha256: (data: Uint8Array) => Uint8Array = oneShot
  ? (data) => oneShot('sha256', data, 'buffer')
  : (data) => crypto.createHash('sha256').update(data).digest();

/** MTH({}) = SHA-256() */
export const EMPTY_TREE_HASH: Uint8Array = new Uint8Array(sha256(new Uint8Array(0)));

export function hashLeaf(leaf: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + leaf.length);
  input[0] = 0x00;
  input.set(leaf, 1);
  return sha256(input);
}

// One scratch buffer for node hashes: this is the inner loop of every tree build and proof check.
const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE);
nodeInput[0] = 0x01;

export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) throw new Error('node hashes must be 32 bytes');
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return sha256(nodeInput);
}
