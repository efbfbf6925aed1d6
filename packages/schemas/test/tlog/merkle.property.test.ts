/**
 * Properties over random trees, checked against a naive MTH written straight from RFC 9162 §2.1.1
 * (recursion over leaf lists, no node store): the tree agrees with it at every size, every
 * inclusion proof of every leaf verifies, every consistency proof m <= n verifies, and any flipped
 * bit, wrong index, wrong size or swapped leaf is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_TREE_HASH,
  extendTree,
  hashChildren,
  hashLeaf,
  MemoryMerkleTree,
  proveInclusion,
  toHex,
  treeRootHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/index.js';

function naiveRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return EMPTY_TREE_HASH;
  if (leafHashes.length === 1) return leafHashes[0] as Uint8Array;
  let k = 1;
  while (k * 2 < leafHashes.length) k *= 2;
  return hashChildren(naiveRoot(leafHashes.slice(0, k)), naiveRoot(leafHashes.slice(k)));
}

// Distinct leaves: with two equal leaves, a proof for one really is a proof for the other.
const leavesArb = fc.uniqueArray(fc.uint8Array({ maxLength: 24 }), { selector: (leaf) => toHex(leaf), minLength: 1, maxLength: 70 });

function build(leaves: readonly Uint8Array[]): { tree: MemoryMerkleTree; hashes: Uint8Array[] } {
  const tree = new MemoryMerkleTree();
  const hashes = leaves.map(hashLeaf);
  for (const h of hashes) tree.appendLeafHash(h);
  return { tree, hashes };
}

const flip = (bytes: Uint8Array, bit: number) => bytes.map((b, i) => (i === Math.floor(bit / 8) % bytes.length ? b ^ (1 << bit % 8) : b));

describe('Merkle tree properties', () => {
  it('the root of every prefix equals the naive RFC 9162 definition', () => {
    fc.assert(
      fc.property(leavesArb, (leaves) => {
        const { tree, hashes } = build(leaves);
        for (let size = 0; size <= hashes.length; size++) expect(toHex(tree.rootHash(size))).toBe(toHex(naiveRoot(hashes.slice(0, size))));
      }),
      { numRuns: 60 },
    );
  });

  it('every inclusion proof of every leaf at every tree size verifies', () => {
    fc.assert(
      fc.property(leavesArb, (leaves) => {
        const { tree, hashes } = build(leaves);
        for (let size = 1; size <= hashes.length; size++) {
          const rootHash = tree.rootHash(size);
          for (let index = 0; index < size; index++) {
            const proof = tree.inclusionProof(index, size);
            expect(verifyInclusion({ leafHash: hashes[index] as Uint8Array, index, treeSize: size, proof, rootHash })).toBe(true);
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  it('every consistency proof from m to n (m <= n) verifies', () => {
    fc.assert(
      fc.property(leavesArb, (leaves) => {
        const { tree, hashes } = build(leaves);
        for (let n = 0; n <= hashes.length; n++) {
          for (let m = 0; m <= n; m++) {
            const proof = tree.consistencyProof(m, n);
            expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot: tree.rootHash(m), newRoot: tree.rootHash(n), proof })).toBe(true);
          }
        }
      }),
      { numRuns: 15 },
    );
  });

  it('an inclusion proof with a flipped bit, a wrong index, a wrong size or a swapped leaf is refused', () => {
    const arb = leavesArb
      .filter((leaves) => leaves.length >= 2)
      .chain((leaves) => fc.tuple(fc.constant(leaves), fc.nat({ max: leaves.length - 1 }), fc.integer({ min: 2, max: leaves.length }), fc.nat(), fc.nat()));
    fc.assert(
      fc.property(arb, ([leaves, rawIndex, size, pick, bit]) => {
        const { tree, hashes } = build(leaves);
        const index = rawIndex % size;
        const rootHash = tree.rootHash(size);
        const proof = tree.inclusionProof(index, size);
        const good = { leafHash: hashes[index] as Uint8Array, index, treeSize: size, proof, rootHash };
        expect(verifyInclusion(good)).toBe(true);
        // A flipped bit anywhere in the proof, the leaf hash or the root.
        const at = pick % proof.length;
        expect(verifyInclusion({ ...good, proof: proof.map((h, i) => (i === at ? flip(h, bit) : h)) })).toBe(false);
        expect(verifyInclusion({ ...good, leafHash: flip(good.leafHash, bit) })).toBe(false);
        expect(verifyInclusion({ ...good, rootHash: flip(rootHash, bit) })).toBe(false);
        // The proof of this leaf does not prove any other position.
        const other = (index + 1 + (pick % (size - 1))) % size;
        expect(verifyInclusion({ ...good, index: other })).toBe(false);
        // A different leaf (another content) at this position is refused.
        expect(verifyInclusion({ ...good, leafHash: hashes[other] as Uint8Array })).toBe(false);
        // Another tree size, with that size's root. (With the same root a proof can hold for a
        // neighbouring size: a sibling hash cannot say how many leaves it covers. What binds the
        // size is the signed checkpoint, which carries size and root together.)
        for (const wrongSize of [size - 1, size + 1, size * 2]) {
          if (wrongSize > index && wrongSize <= hashes.length) expect(verifyInclusion({ ...good, treeSize: wrongSize, rootHash: tree.rootHash(wrongSize) })).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a consistency proof with a flipped bit, a wrong size or a wrong root is refused', () => {
    const arb = leavesArb
      .filter((leaves) => leaves.length >= 2)
      .chain((leaves) => fc.tuple(fc.constant(leaves), fc.integer({ min: 1, max: leaves.length - 1 }), fc.nat(), fc.nat()));
    fc.assert(
      fc.property(arb, ([leaves, m, pick, bit]) => {
        const { tree } = build(leaves);
        const n = leaves.length;
        const proof = tree.consistencyProof(m, n);
        const good = { oldSize: m, newSize: n, oldRoot: tree.rootHash(m), newRoot: tree.rootHash(n), proof };
        expect(verifyConsistency(good)).toBe(true);
        const at = pick % proof.length;
        expect(verifyConsistency({ ...good, proof: proof.map((h, i) => (i === at ? flip(h, bit) : h)) })).toBe(false);
        expect(verifyConsistency({ ...good, oldRoot: flip(good.oldRoot, bit) })).toBe(false);
        expect(verifyConsistency({ ...good, newRoot: flip(good.newRoot, bit) })).toBe(false);
        expect(verifyConsistency({ ...good, oldRoot: good.newRoot, newRoot: good.oldRoot })).toBe(false);
        expect(verifyConsistency({ ...good, proof: proof.slice(0, -1) })).toBe(false);
        expect(verifyConsistency({ ...good, proof: [...proof, good.newRoot] })).toBe(false);
        // Other sizes, each with its own root (see the inclusion property on why not the same root).
        for (const wrongOld of [m - 1, m + 1]) {
          if (wrongOld >= 1 && wrongOld < n) expect(verifyConsistency({ ...good, oldSize: wrongOld, oldRoot: tree.rootHash(wrongOld) })).toBe(false);
        }
        if (n - 1 > m) expect(verifyConsistency({ ...good, newSize: n - 1, newRoot: tree.rootHash(n - 1) })).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

/** A node store the way a database table would hold it: (level, index) -> hash, asked asynchronously. */
class TableStore {
  readonly rows = new Map<string, Uint8Array>();
  fetches: number[] = [];
  async getNodes(refs: readonly { level: number; index: number }[]): Promise<Uint8Array[]> {
    this.fetches.push(refs.length);
    return refs.map(({ level, index }) => {
      const hash = this.rows.get(`${level}/${index}`);
      if (!hash) throw new Error(`no subtree (${level}, ${index})`);
      return hash;
    });
  }
}

describe('growing a stored tree batch by batch (extendTree)', () => {
  it('gives the same tree as appending leaf by leaf, asking the store at most once per batch for one subtree per level', async () => {
    const arb = fc.tuple(leavesArb, fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(arb, async ([leaves, batchSizes]) => {
        const { tree, hashes } = build(leaves);
        const store = new TableStore();
        let size = 0;
        for (let b = 0; size < hashes.length; b++) {
          const batch = hashes.slice(size, size + (batchSizes[b % batchSizes.length] as number));
          store.fetches = [];
          const nodes = await extendTree(store, size, batch);
          expect(store.fetches.length).toBeLessThanOrEqual(1);
          expect(store.fetches[0] ?? 0).toBeLessThanOrEqual(Math.ceil(Math.log2(size + batch.length)) + 1);
          for (const node of nodes) {
            const key = `${node.level}/${node.index}`;
            expect(store.rows.has(key), `${key} written twice`).toBe(false);
            store.rows.set(key, node.hash);
          }
          size += batch.length;
          expect(toHex(await treeRootHash(store, size))).toBe(toHex(tree.rootHash(size)));
        }
        // Every complete subtree is stored, and nothing else.
        let expected = 0;
        for (let width = 1; width <= size; width *= 2) expected += Math.floor(size / width);
        expect(store.rows.size).toBe(expected);
        const index = size - 1;
        expect((await proveInclusion(store, index, size)).map(toHex)).toEqual(tree.inclusionProof(index, size).map(toHex));
      }),
      { numRuns: 60 },
    );
  });
});
