import { describe, expect, it } from 'vitest';
import { RecencyCache } from '../../src/verifier/lru.js';

const entry = (n: number) => ({ n, tick: 0 });

describe('the verifier\'s recency cache', () => {
  it('given more inserts than its capacity, when filled, then it holds at most capacity entries, oldest dropped first', () => {
    const cache = new RecencyCache<string, { n: number; tick: number }>(4);
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, entry(i));
    expect(cache.size).toBe(4);
    expect([...cache.entries()].map(([k]) => k)).toEqual(['k6', 'k7', 'k8', 'k9']);
  });

  it('given a key used all along, when many others are inserted, then it is never the one dropped', () => {
    const cache = new RecencyCache<string, { n: number; tick: number }>(8);
    cache.set('hot', entry(-1));
    for (let i = 0; i < 100; i++) {
      cache.set(`k${i}`, entry(i));
      expect(cache.get('hot')?.n).toBe(-1);
    }
  });

  it('given a hit in the newer half, when read, then the order is left alone (no re-insert)', () => {
    const cache = new RecencyCache<string, { n: number; tick: number }>(8);
    for (let i = 0; i < 4; i++) cache.set(`k${i}`, entry(i));
    cache.get('k3');
    expect([...cache.entries()].map(([k]) => k)).toEqual(['k0', 'k1', 'k2', 'k3']);
    // k0 is 3 inserts old of 8: still the newer half; after 4 more inserts it is moved on a hit.
    for (let i = 4; i < 8; i++) cache.set(`k${i}`, entry(i));
    cache.get('k0');
    expect([...cache.entries()].map(([k]) => k).at(-1)).toBe('k0');
  });
});
