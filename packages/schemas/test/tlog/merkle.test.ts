/**
 * Known answers: the RFC 6962 / RFC 9162 test vectors of the Certificate Transparency reference
 * implementation (the eight leaves below, the roots of every prefix, published audit paths and
 * consistency proofs), plus the empty tree hash the RFC defines as SHA-256 of the empty string.
 * These are fixed literals, independent of the code under test. The probe mutations follow the
 * same corpus: wrong index, wrong size, wrong leaf or root, garbage before or after, one flipped
 * bit, a removed or inserted component.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_TREE_HASH,
  hashChildren,
  hashLeaf,
  MemoryMerkleTree,
  proveConsistency,
  proveInclusion,
  splitPoint,
  toHex,
  treeRootHash,
  verifyConsistency,
  verifyInclusion,
  type ConsistencyClaim,
  type InclusionClaim,
  type MerkleNodeRef,
  type MerkleNodeStore,
} from '../../src/index.js';

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
/** [leaf index (0-based), tree size, audit path] */
const INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [0, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [5, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [1, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];
/** [old size, new size, consistency proof] */
const CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [6, 7, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
];
const SOME_HASH = hex('abacaba000000000000000000000000000000000000000000060061e00123456');
const root = (size: number) => (size === 0 ? EMPTY_TREE_HASH : hex(ROOTS[size - 1] as string));
const flipBit = (proof: Uint8Array[], i: number, mask: number) => proof.map((h, j) => (j === i ? h.map((b, k) => (k === 0 ? b ^ mask : b)) : h));

function vectorTree(): MemoryMerkleTree {
  const tree = new MemoryMerkleTree();
  for (const leaf of LEAVES) tree.appendLeafHash(hashLeaf(leaf));
  return tree;
}

describe('RFC 9162 hashing', () => {
  it('the empty tree hash is SHA-256 of the empty string', () => {
    expect(toHex(EMPTY_TREE_HASH)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(toHex(new MemoryMerkleTree().rootHash())).toBe(toHex(EMPTY_TREE_HASH));
  });

  it('a leaf hash is SHA-256(0x00 || leaf) and a node hash SHA-256(0x01 || left || right)', () => {
    const leaf = hex('2021');
    expect(toHex(hashLeaf(leaf))).toBe(createHash('sha256').update(Buffer.from('002021', 'hex')).digest('hex'));
    const [a, b] = [hashLeaf(LEAVES[0] as Uint8Array), hashLeaf(LEAVES[1] as Uint8Array)];
    expect(toHex(hashChildren(a, b))).toBe(createHash('sha256').update(Uint8Array.of(1)).update(a).update(b).digest('hex'));
    expect(toHex(hashChildren(a, b))).toBe(ROOTS[1]);
  });

  it('splits at the largest power of two smaller than n', () => {
    const cases: [number, number][] = [[2, 1], [3, 2], [4, 2], [5, 4], [8, 4], [9, 8], [1024, 512], [1025, 1024], [2 ** 32, 2 ** 31], [2 ** 32 + 1, 2 ** 32], [2 ** 40 + 7, 2 ** 40]];
    for (const [n, k] of cases) expect(splitPoint(n), `n=${n}`).toBe(k);
    expect(() => splitPoint(1)).toThrow(/no split point/);
  });
});

describe('the reference vectors', () => {
  it('every prefix of the eight leaves has the published root', () => {
    const tree = vectorTree();
    for (let size = 1; size <= 8; size++) expect(toHex(tree.rootHash(size)), `size ${size}`).toBe(ROOTS[size - 1]);
  });

  it.each(INCLUSION)('leaf %i of a tree of %i: the audit path is the published one and verifies', (index, size, path) => {
    const proof = vectorTree().inclusionProof(index, size);
    expect(proof.map(toHex)).toEqual(path);
    expect(verifyInclusion({ leafHash: hashLeaf(LEAVES[index] as Uint8Array), index, treeSize: size, proof, rootHash: root(size) })).toBe(true);
  });

  it.each(CONSISTENCY)('from %i to %i leaves: the consistency proof is the published one and verifies', (m, n, path) => {
    const proof = vectorTree().consistencyProof(m, n);
    expect(proof.map(toHex)).toEqual(path);
    expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot: root(m), newRoot: root(n), proof })).toBe(true);
  });
});

describe('corrupted inclusion proofs are refused', () => {
  it.each(INCLUSION.filter(([, , path]) => path.length > 0))('leaf %i of %i', (index, treeSize, path) => {
    const proof = path.map(hex);
    const leafHash = hashLeaf(LEAVES[index] as Uint8Array);
    const rootHash = root(treeSize);
    const good: InclusionClaim = { leafHash, index, treeSize, proof, rootHash };
    expect(verifyInclusion(good)).toBe(true);
    const probes: [string, InclusionClaim][] = [
      ['index - 1', { ...good, index: index - 1 }],
      ['index + 1', { ...good, index: index + 1 }],
      ['index ^ 2', { ...good, index: index ^ 2 }],
      ['size * 2', { ...good, treeSize: treeSize * 2 }],
      ['size / 2', { ...good, treeSize: Math.floor(treeSize / 2) }],
      ['wrong leaf', { ...good, leafHash: hashLeaf(new TextEncoder().encode('WrongLeaf')) }],
      ['empty root', { ...good, rootHash: EMPTY_TREE_HASH }],
      ['random root', { ...good, rootHash: SOME_HASH }],
      ['trailing root', { ...good, proof: [...proof, rootHash] }],
      ['preceding root', { ...good, proof: [rootHash, ...proof] }],
      ['trailing garbage', { ...good, proof: [...proof, new Uint8Array(0)] }],
      ['removed component', { ...good, proof: proof.slice(0, -1) }],
      ...proof.map((_, i) => [`flipped bit in proof[${i}]`, { ...good, proof: flipBit(proof, i, 8) }] as [string, InclusionClaim]),
    ];
    if (proof.length > 1) probes.push(['inserted component', { ...good, proof: [proof[0] as Uint8Array, SOME_HASH, ...proof.slice(1)] }]);
    for (const [what, claim] of probes) expect(verifyInclusion(claim), what).toBe(false);
  });

  it('refuses impossible indexes and sizes', () => {
    const h = hashLeaf(new Uint8Array(0));
    for (const [index, treeSize] of [[0, 0], [1, 0], [2, 1], [-1, 4], [0.5, 4], [0, Number.MAX_SAFE_INTEGER + 1]]) {
      expect(verifyInclusion({ leafHash: h, index: index as number, treeSize: treeSize as number, proof: [], rootHash: h }), `${index}/${treeSize}`).toBe(false);
    }
    // A single-leaf tree: its root is its leaf hash; a hash of the wrong size is refused.
    expect(verifyInclusion({ leafHash: h, index: 0, treeSize: 1, proof: [], rootHash: h })).toBe(true);
    expect(verifyInclusion({ leafHash: h, index: 0, treeSize: 1, proof: [], rootHash: new Uint8Array(0) })).toBe(false);
    expect(verifyInclusion({ leafHash: new Uint8Array(0), index: 0, treeSize: 1, proof: [], rootHash: h })).toBe(false);
  });
});

describe('corrupted consistency proofs are refused', () => {
  it.each(CONSISTENCY.filter(([, , path]) => path.length > 0))('from %i to %i', (m, n, path) => {
    const proof = path.map(hex);
    const good: ConsistencyClaim = { oldSize: m, newSize: n, oldRoot: root(m), newRoot: root(n), proof };
    expect(verifyConsistency(good)).toBe(true);
    const probes: [string, ConsistencyClaim][] = [
      ['old size - 1', { ...good, oldSize: m - 1 }],
      ['old size + 1', { ...good, oldSize: m + 1 }],
      ['old size ^ 2', { ...good, oldSize: m ^ 2 }],
      ['new size * 2', { ...good, newSize: n * 2 }],
      ['new size / 2', { ...good, newSize: Math.floor(n / 2) }],
      ['wrong old root', { ...good, oldRoot: SOME_HASH }],
      ['wrong new root', { ...good, newRoot: SOME_HASH }],
      ['swapped roots', { ...good, oldRoot: root(n), newRoot: root(m) }],
      ['empty proof', { ...good, proof: [] }],
      ['trailing old root', { ...good, proof: [...proof, root(m)] }],
      ['trailing new root', { ...good, proof: [...proof, root(n)] }],
      ['preceding old root', { ...good, proof: [root(m), ...proof] }],
      ['preceding new root', { ...good, proof: [root(n), ...proof] }],
      ['preceding proof[0]', { ...good, proof: [proof[0] as Uint8Array, ...proof] }],
      ['truncated proof', { ...good, proof: proof.slice(0, -1) }],
      ...proof.map((_, i) => [`flipped bit in proof[${i}]`, { ...good, proof: flipBit(proof, i, 16) }] as [string, ConsistencyClaim]),
    ];
    for (const [what, claim] of probes) expect(verifyConsistency(claim), what).toBe(false);
  });

  it('equal sizes need equal roots and an empty proof; size zero is consistent only with the empty root', () => {
    const [a, b] = [root(1), root(2)];
    expect(verifyConsistency({ oldSize: 1, newSize: 1, oldRoot: a, newRoot: a, proof: [] })).toBe(true);
    expect(verifyConsistency({ oldSize: 1, newSize: 1, oldRoot: a, newRoot: b, proof: [] })).toBe(false);
    expect(verifyConsistency({ oldSize: 1, newSize: 1, oldRoot: a, newRoot: a, proof: [EMPTY_TREE_HASH] })).toBe(false);
    expect(verifyConsistency({ oldSize: 0, newSize: 0, oldRoot: EMPTY_TREE_HASH, newRoot: EMPTY_TREE_HASH, proof: [] })).toBe(true);
    expect(verifyConsistency({ oldSize: 0, newSize: 5, oldRoot: EMPTY_TREE_HASH, newRoot: root(5), proof: [] })).toBe(true);
    expect(verifyConsistency({ oldSize: 0, newSize: 5, oldRoot: SOME_HASH, newRoot: root(5), proof: [] })).toBe(false);
    expect(verifyConsistency({ oldSize: 0, newSize: 1, oldRoot: EMPTY_TREE_HASH, newRoot: root(1), proof: [EMPTY_TREE_HASH] })).toBe(false);
    expect(verifyConsistency({ oldSize: 2, newSize: 1, oldRoot: b, newRoot: a, proof: [] })).toBe(false);
    expect(verifyConsistency({ oldSize: 1, newSize: 2, oldRoot: a, newRoot: b, proof: [] })).toBe(false);
  });
});

/** A store that answers like a database would: asynchronously, in batches, counting its calls. */
class CountingStore implements MerkleNodeStore {
  calls = 0;
  asked = 0;
  constructor(private readonly tree: MemoryMerkleTree) {}
  async getNodes(refs: readonly MerkleNodeRef[]): Promise<Uint8Array[]> {
    this.calls++;
    this.asked += refs.length;
    await new Promise((resolve) => setImmediate(resolve));
    return this.tree.getNodes(refs);
  }
}

describe('proof generation from a node store', () => {
  it('gives the in-memory tree\'s answers with one batched call per proof, asking only for complete subtrees', async () => {
    const tree = new MemoryMerkleTree();
    for (let i = 0; i < 77; i++) tree.appendLeafHash(hashLeaf(Uint8Array.of(i)));
    const store = new CountingStore(tree);
    for (const size of [1, 2, 3, 31, 32, 33, 64, 77]) {
      expect(toHex(await treeRootHash(store, size))).toBe(toHex(tree.rootHash(size)));
      for (const index of [0, Math.floor(size / 2), size - 1]) {
        store.calls = 0;
        const proof = await proveInclusion(store, index, size);
        expect(proof).toEqual(tree.inclusionProof(index, size));
        expect(store.calls).toBeLessThanOrEqual(1);
      }
      for (const old of [1, Math.ceil(size / 3), size]) {
        expect(await proveConsistency(store, old, size)).toEqual(tree.consistencyProof(old, size));
      }
    }
    console.log(`node store: ${store.asked} subtree hashes served`);
    expect(toHex(await treeRootHash(store, 0))).toBe(toHex(EMPTY_TREE_HASH));
  });

  it('refuses leaves outside the tree and sizes beyond it', async () => {
    const tree = vectorTree();
    expect(() => tree.inclusionProof(8, 8)).toThrow(/not in a tree of size 8/);
    expect(() => tree.rootHash(9)).toThrow(/larger than the tree/);
    expect(() => tree.consistencyProof(5, 4)).toThrow(/larger than new tree size/);
    await expect(proveInclusion(tree, 0, 9)).rejects.toThrow(/not complete/);
    expect(() => tree.appendLeafHash(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});
