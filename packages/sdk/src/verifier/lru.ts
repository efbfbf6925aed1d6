/**
 * A bounded least-recently-used map over Map insertion order: a hit re-inserts the entry so it
 * becomes the newest, and an insert beyond capacity drops the oldest. Small on purpose: the
 * verifier needs get/set/delete/clear and a walk over values, nothing more.
 */
export class LruMap<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    // Re-inserting is the cheapest way to mark recency with a Map; skip it when already newest-ish
    // would need extra bookkeeping that costs more than it saves.
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** Reads without touching recency (for inspection). */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.capacity) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}

/** An entry of a RecencyCache: `tick` is the cache's, the rest is the caller's. */
export interface Ticked {
  tick: number;
}

/**
 * An approximately least-recently-used map for the verifier's hot path. LruMap re-inserts on
 * every hit (a Map delete and set, most of a cached verify's cost); this re-inserts a hit only
 * once it has drifted into the older half of the insertion order, so hot keys move rarely and
 * are still never the oldest. An entry is dropped at the earliest `capacity / 2` insertions
 * after it was last used; strict LRU order is not needed to bound memory.
 */
export class RecencyCache<K, V extends Ticked> {
  readonly #map = new Map<K, V>();
  #tick = 0;
  readonly #half: number;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
    this.#half = Math.max(1, capacity >> 1);
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined && this.#tick - value.tick >= this.#half) {
      this.#map.delete(key);
      value.tick = ++this.#tick;
      this.#map.set(key, value);
    }
    return value;
  }

  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    value.tick = ++this.#tick;
    this.#map.set(key, value);
    if (this.#map.size > this.capacity) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}
