/**
 * Bytes per cached key in the SDK gateway verifier: the structures the verifier keeps per key
 * (its RecencyCache digest -> entry, the keyId -> digest map, compact facts and the one cached
 * answer a verify leaves behind) filled with N keys, measured as heap and RSS growth after a
 * full GC. In process, with the verifier's own code; filling them over HTTP would measure the
 * service, not the cache. Needs `--expose-gc` (bench/memory.ts says so).
 */
import { answer } from '../../packages/sdk/src/verifier/evaluate.js';
import { digestOf } from '../../packages/sdk/src/verifier/digest.js';
import { factsFromKey } from '../../packages/sdk/src/verifier/key-facts.js';
import { RecencyCache } from '../../packages/sdk/src/verifier/lru.js';
import { type KeyEntry, keyEntry } from '../../packages/sdk/src/verifier/verifier.js';
import type { Key } from '../../packages/sdk/src/types.js';
import { keyNumber } from './bench-keys.js';

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): { heap: number; rss: number } {
  if (!gc) throw new Error('run with --expose-gc (npx tsx --expose-gc bench/memory.ts)');
  for (let i = 0; i < 3; i++) gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, rss: usage.rss };
}

export interface VerifierCacheRow {
  keys: number;
  heapPerKey: number;
  rssPerKey: number;
  fillMs: number;
}

export async function measureVerifierCache(count: number): Promise<VerifierCacheRow> {
  // The inputs (plaintexts, API views) are made first and dropped after, so only the cache stays.
  const before = settle();
  const cache = new RecencyCache<string, KeyEntry>(count);
  const digestByKeyId = new Map<string, string>();
  let fillMs = 0;
  const chunk = 10_000;
  for (let from = 0; from < count; from += chunk) {
    const inputs: { digest: string; key: Key }[] = [];
    for (let i = from; i < Math.min(count, from + chunk); i++) {
      const { plaintext, data } = keyNumber(i);
      const key = JSON.parse(JSON.stringify({
        id: data.keyId, kind: data.kind, consumerId: data.consumerId, planId: data.planId, name: data.name, environment: data.environment,
        hint: data.hint, status: 'active', scopes: data.scopes, endpoints: data.endpoints, permissions: data.permissions, meta: data.meta,
        expiresAt: data.expiresAt, rateLimit: data.rateLimit, quota: data.quota, rotatedFrom: null, rotatedTo: null, validUntil: null,
        suspendedReason: null, revokedAt: null, revokedReason: null, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', revision: 0,
        checkpoint: null,
      })) as Key;
      inputs.push({ digest: digestOf(plaintext), key });
    }
    const started = performance.now();
    for (const { digest, key } of inputs) {
      const entry = keyEntry(factsFromKey(key), undefined);
      // What a cached verify leaves behind: the answer made once for the key.
      entry.answer = Object.freeze(answer('VALID', entry.facts));
      cache.set(digest, entry);
      digestByKeyId.set(entry.facts.keyId, digest);
    }
    fillMs += performance.now() - started;
  }
  const after = settle();
  const row = { keys: count, heapPerKey: (after.heap - before.heap) / count, rssPerKey: (after.rss - before.rss) / count, fillMs };
  // Keep the structures alive until measured.
  if (cache.size !== count || digestByKeyId.size !== count) throw new Error('cache lost keys');
  cache.clear();
  digestByKeyId.clear();
  return row;
}
