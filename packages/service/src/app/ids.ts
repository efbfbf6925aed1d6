/**
 * Deterministic ids for idempotent commands: a retried request with the same Idempotency-Key
 * produces the same key id and the same event ids, so the event store's replay rule guarantees
 * it is written once, on any instance, even across restarts.
 */
import { createHash } from 'node:crypto';
import { BASE62 } from '@keyledger/schemas';

function digest(...parts: string[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest();
}

/** An RFC 9562 version-8 (custom) UUID made from a hash of the parts. */
export function deterministicUuid(...parts: string[]): string {
  const bytes = digest('event-id', ...parts).subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A key id (`key_` + 20 base62 characters) made from a hash of the parts. */
export function deterministicKeyId(...parts: string[]): string {
  const bytes = digest('key-id', ...parts);
  let id = 'key_';
  // 32 bytes, 20 characters: the modulo bias of byte % 62 is irrelevant for an identifier.
  for (let i = 0; i < 20; i++) id += BASE62[(bytes[i] as number) % 62];
  return id;
}

/** SHA-256 of a canonical rendering of the request, to tell a true retry from a reused key. */
export function requestHash(method: string, route: string, params: unknown, body: unknown): string {
  return createHash('sha256').update(canonicalJson({ method, route, params, body })).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** An aggregate id: `prefix_` + 16 base62 characters, random, or derived from the parts (idempotent commands). */
export function aggregateId(prefix: string, random: () => string, ...parts: string[]): string {
  if (parts.length === 0) return `${prefix}_${random()}`;
  const bytes = digest('aggregate-id', prefix, ...parts);
  let id = `${prefix}_`;
  for (let i = 0; i < 16; i++) id += BASE62[(bytes[i] as number) % 62];
  return id;
}
