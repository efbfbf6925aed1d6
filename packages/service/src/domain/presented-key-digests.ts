/**
 * Digests of recently presented well-formed keys. Callers (gateways, management clients) present
 * the same keys over and over, so the checksum check and SHA-256 run once per key instead of
 * once per call. Only keys that pass the format check are cached, and the map is cleared when
 * full, so garbage cannot grow it. The plaintext already sits in this process's memory for the
 * request; it never leaves it.
 */
import { parseKey } from '@keyledger/schemas';
import { digestKey } from './key-material.js';

export class PresentedKeyDigests {
  readonly #map = new Map<string, string>();
  constructor(private readonly max = 10_000) {}

  /** The key's digest, or null when it is not a well-formed key. */
  get(key: string): string | null {
    const cached = this.#map.get(key);
    if (cached !== undefined) return cached;
    if (parseKey(key) === null) return null;
    if (this.#map.size >= this.max) this.#map.clear();
    const digest = digestKey(key);
    this.#map.set(key, digest);
    return digest;
  }
}
