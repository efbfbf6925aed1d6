/**
 * Tree size arithmetic. Sizes and indexes are JavaScript numbers (safe up to 2^53 leaves), so no
 * `>>` or `&` here: those truncate to 32 bits past four billion leaves.
 */

export function isTreeSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

export function assertTreeSize(value: number, what: string): void {
  if (!isTreeSize(value)) throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
}

export function isPowerOfTwo(n: number): boolean {
  if (!isTreeSize(n) || n === 0) return false;
  let m = n;
  while (m % 2 === 0) m /= 2;
  return m === 1;
}

/** The largest power of two strictly smaller than n (n >= 2): RFC 9162's split point k. */
export function splitPoint(n: number): number {
  if (!isTreeSize(n) || n < 2) throw new RangeError(`a tree of ${n} leaves has no split point`);
  if (n <= 0x1_0000_0000) return 2 ** (31 - Math.clz32(n - 1));
  let k = 0x1_0000_0000;
  while (k * 2 < n) k *= 2;
  return k;
}
