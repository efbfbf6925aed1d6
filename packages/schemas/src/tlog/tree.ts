/**
 * RFC 9162 §2.1 Merkle tree hashes and proof generation over a store of complete subtrees.
 *
 * Every hash a proof needs is the root of some range of leaves D[start:end]. The recursive
 * definitions (MTH, PATH, SUBPROOF) only ever produce ranges whose start is aligned, so each range
 * is a run of complete, aligned subtrees, largest first: exactly what a database can keep once
 * and never rewrite (a complete subtree never changes as the log grows). Proof generation therefore
 * plans the ranges first (pure arithmetic), asks the store for all their complete subtrees in one
 * call, and folds them. A database-backed tree answers that call with one query; the in-memory tree
 * below answers it from arrays.
 */
import { EMPTY_TREE_HASH, hashChildren, HASH_SIZE } from './hash.js';
import { assertTreeSize, isPowerOfTwo, splitPoint } from './sizes.js';

/** The complete subtree of 2^level leaves starting at leaf index * 2^level. */
export interface MerkleNodeRef {
  level: number;
  index: number;
}

/** Serves hashes of complete subtrees: level 0 are leaf hashes. */
export interface MerkleNodeStore {
  /**
   * The hashes of the given complete subtrees, in the order asked. Only subtrees whose leaves are
   * all in the tree are ever asked for; a store missing one must throw, never guess.
   */
  getNodes(refs: readonly MerkleNodeRef[]): readonly Uint8Array[] | Promise<readonly Uint8Array[]>;
}

/** A range of leaves [start, end) whose Merkle tree hash a proof carries. */
type LeafRange = readonly [start: number, end: number];

/** PATH(index, D[0:size]) as ranges, leaf level first (RFC 9162 §2.1.3.1). */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  assertTreeSize(index, 'leaf index');
  assertTreeSize(size, 'tree size');
  if (index >= size) throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`);
  const ranges: LeafRange[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      ranges.push([lo + k, hi]);
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]);
      lo += k;
    }
  }
  return ranges.reverse();
}

/** PROOF(oldSize, D[0:newSize]) = SUBPROOF(oldSize, D[0:newSize], true) as ranges (RFC 9162 §2.1.4.1). */
export function consistencyProofRanges(oldSize: number, newSize: number): LeafRange[] {
  assertTreeSize(oldSize, 'old tree size');
  assertTreeSize(newSize, 'new tree size');
  if (oldSize > newSize) throw new RangeError(`old tree size ${oldSize} is larger than new tree size ${newSize}`);
  // Equal sizes need no proof, and every tree is consistent with the empty one.
  if (oldSize === 0 || oldSize === newSize) return [];
  const ranges: LeafRange[] = [];
  let lo = 0;
  let hi = newSize;
  let wholeTreeKnown = true; // SUBPROOF's b: the verifier already has the old root of this subtree
  while (oldSize !== hi) {
    const k = splitPoint(hi - lo);
    if (oldSize - lo <= k) {
      ranges.push([lo + k, hi]);
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]);
      lo += k;
      wholeTreeKnown = false;
    }
  }
  if (!wholeTreeKnown) ranges.push([lo, hi]);
  return ranges.reverse();
}

/** The complete subtrees of an aligned range, largest first. */
function subtreesOf([start, end]: LeafRange): MerkleNodeRef[] {
  const refs: MerkleNodeRef[] = [];
  let position = start;
  let remaining = end - start;
  while (remaining > 0) {
    const part = remaining >= 2 ? (isPowerOfTwo(remaining) ? remaining : splitPoint(remaining)) : 1;
    if (position % part !== 0) throw new Error(`range [${start}, ${end}) is not aligned`);
    refs.push({ level: Math.log2(part), index: position / part });
    position += part;
    remaining -= part;
  }
  return refs;
}

/** Folds a range's subtrees into its Merkle tree hash: MTH(D[a:b]) = H(left complete, MTH(rest)). */
function foldRange(nodes: readonly Uint8Array[], from: number, count: number): Uint8Array {
  let hash = nodes[from + count - 1] as Uint8Array;
  for (let i = from + count - 2; i >= from; i--) hash = hashChildren(nodes[i] as Uint8Array, hash);
  return hash;
}

interface Plan {
  refs: MerkleNodeRef[];
  counts: number[];
}

function planOf(ranges: readonly LeafRange[]): Plan {
  const refs: MerkleNodeRef[] = [];
  const counts: number[] = [];
  for (const range of ranges) {
    const subtrees = subtreesOf(range);
    refs.push(...subtrees);
    counts.push(subtrees.length);
  }
  return { refs, counts };
}

function assemble(plan: Plan, nodes: readonly Uint8Array[]): Uint8Array[] {
  if (nodes.length !== plan.refs.length) throw new Error(`node store returned ${nodes.length} hashes for ${plan.refs.length} subtrees`);
  for (const node of nodes) if (node.length !== HASH_SIZE) throw new Error('node store returned a hash that is not 32 bytes');
  const hashes: Uint8Array[] = [];
  let from = 0;
  for (const count of plan.counts) {
    hashes.push(foldRange(nodes, from, count));
    from += count;
  }
  return hashes;
}

async function resolve(store: MerkleNodeStore, ranges: readonly LeafRange[]): Promise<Uint8Array[]> {
  const plan = planOf(ranges);
  return assemble(plan, plan.refs.length === 0 ? [] : await store.getNodes(plan.refs));
}

/** MTH(D[0:size]) from a node store. */
export async function treeRootHash(store: MerkleNodeStore, size: number): Promise<Uint8Array> {
  assertTreeSize(size, 'tree size');
  if (size === 0) return new Uint8Array(EMPTY_TREE_HASH); // a copy: callers may own what they get
  return (await resolve(store, [[0, size]]))[0] as Uint8Array;
}

/** The audit path of leaf `index` in the tree of `size` leaves, leaf level first. */
export function proveInclusion(store: MerkleNodeStore, index: number, size: number): Promise<Uint8Array[]> {
  return resolve(store, inclusionProofRanges(index, size));
}

/** The consistency proof from the tree of `oldSize` leaves to the tree of `newSize` leaves. */
export function proveConsistency(store: MerkleNodeStore, oldSize: number, newSize: number): Promise<Uint8Array[]> {
  return resolve(store, consistencyProofRanges(oldSize, newSize));
}

/** A complete subtree and its hash, as a node store keeps it. */
export interface MerkleNode extends MerkleNodeRef {
  hash: Uint8Array;
}

/**
 * Appending leaves oldSize..newSize-1 completes, at each level, a run of subtrees. Only the first
 * of each run can have a left child that existed before (when the run starts at an odd position):
 * those few old subtrees are all the store must be asked for.
 */
function extensionFetches(oldSize: number, newSize: number): MerkleNodeRef[] {
  const fetch: MerkleNodeRef[] = [];
  let first = oldSize; // first new subtree at this level
  let end = newSize; // complete subtrees at this level
  for (let level = 0; Math.floor(first / 2) < Math.floor(end / 2); level++) {
    if (first % 2 === 1) fetch.push({ level, index: first - 1 });
    first = Math.floor(first / 2);
    end = Math.floor(end / 2);
  }
  return fetch;
}

function extensionNodes(oldSize: number, leafHashes: readonly Uint8Array[], fetched: readonly Uint8Array[]): MerkleNode[] {
  for (const hash of leafHashes) if (hash.length !== HASH_SIZE) throw new Error('a leaf hash must be 32 bytes');
  const nodes: MerkleNode[] = leafHashes.map((hash, i) => ({ level: 0, index: oldSize + i, hash }));
  let below: readonly Uint8Array[] = leafHashes; // new subtrees of this level, from index `first`
  let first = oldSize;
  let end = oldSize + leafHashes.length;
  let nextFetched = 0;
  for (let level = 0; Math.floor(first / 2) < Math.floor(end / 2); level++) {
    const oldLeft = first % 2 === 1 ? fetched[nextFetched++] : undefined;
    const up: Uint8Array[] = [];
    const upFirst = Math.floor(first / 2);
    for (let j = upFirst; j < Math.floor(end / 2); j++) {
      const left = 2 * j < first ? (oldLeft as Uint8Array) : (below[2 * j - first] as Uint8Array);
      const hash = hashChildren(left, below[2 * j + 1 - first] as Uint8Array);
      up.push(hash);
      nodes.push({ level: level + 1, index: j, hash });
    }
    below = up;
    first = upFirst;
    end = Math.floor(end / 2);
  }
  return nodes;
}

/**
 * The nodes a store must add when leaves are appended to a tree of `oldSize` leaves: the leaves
 * themselves (level 0) and every subtree they complete, level by level in index order. Asks the
 * store once, for at most one old subtree per level.
 */
export async function extendTree(store: MerkleNodeStore, oldSize: number, leafHashes: readonly Uint8Array[]): Promise<MerkleNode[]> {
  assertTreeSize(oldSize, 'tree size');
  const fetch = extensionFetches(oldSize, oldSize + leafHashes.length);
  const fetched = fetch.length === 0 ? [] : await store.getNodes(fetch);
  if (fetched.length !== fetch.length) throw new Error(`node store returned ${fetched.length} hashes for ${fetch.length} subtrees`);
  return extensionNodes(oldSize, leafHashes, fetched);
}

/**
 * One level of the in-memory tree: hashes packed in one growing buffer (a million leaves cost
 * 32 MB per level instead of a million small objects).
 */
class HashColumn {
  private bytes = new Uint8Array(HASH_SIZE * 1024);
  length = 0;

  push(hash: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.length * HASH_SIZE);
    this.length++;
  }

  /** A view, valid until the column grows; callers that keep it copy it. */
  at(index: number): Uint8Array {
    return this.bytes.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }
}

/**
 * An append-only Merkle tree in memory: level 0 holds leaf hashes, level l the complete subtrees
 * of 2^l leaves, each computed once when its last leaf arrives. Serves any past tree size.
 */
export class MemoryMerkleTree implements MerkleNodeStore {
  private readonly levels: HashColumn[] = [new HashColumn()];

  get size(): number {
    return (this.levels[0] as HashColumn).length;
  }

  /** Appends a leaf by its leaf hash (see hashLeaf); returns its index. */
  appendLeafHash(leafHash: Uint8Array): number {
    const index = this.size;
    this.appendLeafHashes([leafHash]);
    return index;
  }

  /** Appends leaves by their leaf hashes, computing what they complete the way a database-backed store would (extendTree). */
  appendLeafHashes(leafHashes: readonly Uint8Array[]): void {
    const oldSize = this.size;
    const nodes = extensionNodes(oldSize, leafHashes, this.getNodes(extensionFetches(oldSize, oldSize + leafHashes.length)));
    for (const node of nodes) {
      if (this.levels.length === node.level) this.levels.push(new HashColumn());
      const column = this.levels[node.level] as HashColumn;
      if (column.length !== node.index) throw new Error(`subtree (${node.level}, ${node.index}) computed out of order`);
      column.push(node.hash);
    }
  }

  getNodes(refs: readonly MerkleNodeRef[]): Uint8Array[] {
    return refs.map(({ level, index }) => {
      const column = this.levels[level];
      if (!column || index >= column.length) throw new Error(`subtree (${level}, ${index}) is not complete in a tree of size ${this.size}`);
      return column.at(index).slice();
    });
  }

  /** MTH of the first `size` leaves (default: all). */
  rootHash(size = this.size): Uint8Array {
    this.assertKnown(size);
    if (size === 0) return new Uint8Array(EMPTY_TREE_HASH);
    return this.resolveSync([[0, size]])[0] as Uint8Array;
  }

  inclusionProof(index: number, size = this.size): Uint8Array[] {
    this.assertKnown(size);
    return this.resolveSync(inclusionProofRanges(index, size));
  }

  consistencyProof(oldSize: number, newSize = this.size): Uint8Array[] {
    this.assertKnown(newSize);
    return this.resolveSync(consistencyProofRanges(oldSize, newSize));
  }

  private resolveSync(ranges: readonly LeafRange[]): Uint8Array[] {
    const plan = planOf(ranges);
    return assemble(plan, this.getNodes(plan.refs));
  }

  private assertKnown(size: number): void {
    assertTreeSize(size, 'tree size');
    if (size > this.size) throw new RangeError(`tree size ${size} is larger than the tree (${this.size} leaves)`);
  }
}
