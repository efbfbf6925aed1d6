/**
 * RFC 9162 proof verification (§2.1.3.2 inclusion, §2.1.4.2 consistency), written from the RFC's
 * step lists. Sizes and indexes are JavaScript numbers, so the bit operations of the RFC are done
 * with arithmetic: `>>` and `&` would silently truncate to 32 bits past four billion leaves.
 * Every function answers false for any malformed input rather than throwing: a verifier's caller
 * only needs to know whether the proof holds.
 */
import { bytesEqual } from './bytes.js';
import { EMPTY_TREE_HASH, hashChildren, HASH_SIZE } from './hash.js';
import { isPowerOfTwo, isTreeSize as isSize } from './sizes.js';

export interface InclusionClaim {
  /** hashLeaf(leaf) of the leaf claimed to be in the tree. */
  leafHash: Uint8Array;
  /** Its 0-based position in the log. */
  index: number;
  treeSize: number;
  /** The audit path, leaf level first. */
  proof: readonly Uint8Array[];
  /** The root hash the tree of treeSize leaves is known (e.g. signed) to have. */
  rootHash: Uint8Array;
}

export interface ConsistencyClaim {
  oldSize: number;
  newSize: number;
  oldRoot: Uint8Array;
  newRoot: Uint8Array;
  proof: readonly Uint8Array[];
}

const isHash = (h: Uint8Array) => h instanceof Uint8Array && h.length === HASH_SIZE;
const odd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

/** The root the proof leads to, or undefined when the proof cannot be for this index and size. */
export function rootFromInclusionProof(leafHash: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[]): Uint8Array | undefined {
  if (!isSize(index) || !isSize(treeSize) || index >= treeSize || !isHash(leafHash) || !proof.every(isHash)) return undefined;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return undefined; // the path is longer than the tree is high
    if (odd(fn) || fn === sn) {
      r = hashChildren(p, r);
      // A left edge without a right sibling at this level: climb until there is one.
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : undefined;
}

export function verifyInclusion(claim: InclusionClaim): boolean {
  if (!isHash(claim.rootHash)) return false;
  const root = rootFromInclusionProof(claim.leafHash, claim.index, claim.treeSize, claim.proof);
  return root !== undefined && bytesEqual(root, claim.rootHash);
}

export function verifyConsistency(claim: ConsistencyClaim): boolean {
  const { oldSize, newSize, oldRoot, newRoot, proof } = claim;
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize || !isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  // Every tree extends the empty one; its root can only be the hash of nothing.
  if (oldSize === 0) return proof.length === 0 && bytesEqual(oldRoot, EMPTY_TREE_HASH);
  if (proof.length === 0) return false;

  // The old tree is a complete subtree of the new one: its root is the path's first node.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}
