/**
 * A string -> ordinal hash index (open addressing over an Int32Array). At a million keys a Map
 * costs tens of MB and most of a start; this costs 8 bytes a slot and builds in milliseconds.
 * The strings themselves are not stored: `keyOf(ordinal)` reads them from the states.
 */

export class OrdinalIndex {
  #slots: Int32Array;
  #mask: number;
  #size = 0;

  constructor(
    private readonly hash: (key: string) => number,
    private readonly keyOf: (ordinal: number) => string,
    capacityHint = 16,
  ) {
    let capacity = 16;
    while (capacity < capacityHint * 2) capacity *= 2;
    this.#slots = new Int32Array(capacity);
    this.#mask = capacity - 1;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): number | undefined {
    let slot = this.hash(key) & this.#mask;
    for (;;) {
      const stored = this.#slots[slot] as number;
      if (stored === 0) return undefined;
      if (this.keyOf(stored - 1) === key) return stored - 1;
      slot = (slot + 1) & this.#mask;
    }
  }

  /** Adds a key whose string is `keyOf(ordinal)`; a key already present keeps its first ordinal. */
  add(ordinal: number): void {
    if ((this.#size + 1) * 2 > this.#slots.length) this.#grow();
    if (this.#insert(this.#slots, this.#mask, ordinal)) this.#size += 1;
  }

  #insert(slots: Int32Array, mask: number, ordinal: number): boolean {
    const key = this.keyOf(ordinal);
    let slot = this.hash(key) & mask;
    for (;;) {
      const stored = slots[slot] as number;
      if (stored === 0) {
        slots[slot] = ordinal + 1;
        return true;
      }
      if (this.keyOf(stored - 1) === key) return false;
      slot = (slot + 1) & mask;
    }
  }

  #grow(): void {
    const next = new Int32Array(this.#slots.length * 2);
    const mask = next.length - 1;
    for (const stored of this.#slots) if (stored !== 0) this.#insert(next, mask, stored - 1);
    this.#slots = next;
    this.#mask = mask;
  }
}

/** FNV-1a over UTF-16 code units. */
export function hashString(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A SHA-256 hex digest is uniformly distributed already: its first 32 bits are the hash. */
export function hashHexDigest(digest: string): number {
  const head = Number.parseInt(digest.slice(0, 8), 16);
  return Number.isNaN(head) ? hashString(digest) : head >>> 0;
}
