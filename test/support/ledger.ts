/**
 * Checks a service's state against its ledger, using only the public HTTP API:
 * - readLedger pages through GET /v1/events;
 * - foldKeys is the test's own, independent fold of the key events into the API's key view (an
 *   oracle: it is deliberately not the service's evolve, so a projection that drifts from the
 *   ledger, e.g. after a crash or a snapshot, cannot agree with it by sharing a bug);
 * - projectionMismatches compares GET /v1/keys (every page) and GET /v1/keys/:id with that fold;
 * - rotationProblems finds half-rotated keys (a KeyRotated without its successor, or a successor
 *   whose predecessor does not name it).
 */
import { isExpiredAt, type Key, type LedgerEvent } from '@keyledger/schemas';
import { call } from './http.js';

export async function readLedger(baseUrl: string, token: string, category = 'key'): Promise<LedgerEvent[]> {
  const events: LedgerEvent[] = [];
  let after: string | undefined;
  for (;;) {
    const query = new URLSearchParams({ limit: '1000', category, ...(after === undefined ? {} : { after }) });
    const page = await call(baseUrl, token, 'GET', `/v1/events?${query}`);
    if (page.status !== 200) throw new Error(`GET /v1/events answered ${page.status}: ${JSON.stringify(page.body)}`);
    events.push(...(page.body.events as LedgerEvent[]));
    if (page.body.events.length === 0 || page.body.checkpoint === null || page.body.checkpoint === after) return events;
    after = page.body.checkpoint as string;
  }
}

type Data = Record<string, any>;

/** The key view of every key in the ledger, as of `now`. */
export function foldKeys(events: readonly LedgerEvent[], now = Date.now()): Map<string, Key> {
  const states = new Map<string, Data>();
  for (const event of events) {
    if (!event.stream.startsWith('key-')) continue;
    const id = event.stream.slice('key-'.length);
    const data = event.data as Data;
    const at = (event.metadata as { occurredAt: string }).occurredAt;
    const touched = { updatedAt: at, revision: event.revision };
    const state = states.get(id);
    if (event.type === 'KeyIssued') {
      if (state) throw new Error(`ledger: second KeyIssued for ${id}`);
      states.set(id, {
        id,
        // KeyIssued v1 had no kind: a key with permissions was a management key.
        kind: data.kind ?? ((data.permissions as unknown[]).length > 0 ? 'management' : 'consumer'),
        consumerId: data.consumerId,
        planId: data.planId,
        name: data.name,
        environment: data.environment,
        hint: data.hint,
        scopes: data.scopes,
        endpoints: data.endpoints,
        permissions: data.permissions,
        meta: data.meta,
        expiresAt: data.expiresAt,
        rateLimit: data.rateLimit,
        quota: data.quota,
        rotatedFrom: data.rotatedFrom,
        // KeyIssued before v3 had no networks: none.
        networks: data.networks ?? [],
        rotatedTo: null,
        validUntil: null,
        suspended: false,
        suspendedReason: null,
        revoked: false,
        revokedAt: null,
        revokedReason: null,
        createdAt: at,
        ...touched,
      });
      continue;
    }
    if (!state) throw new Error(`ledger: ${event.type} for ${id} before its KeyIssued`);
    Object.assign(state, touched);
    switch (event.type) {
      case 'KeyScoped':
        Object.assign(state, { scopes: data.scopes, endpoints: data.endpoints });
        break;
      case 'KeyThrottled':
        Object.assign(state, { rateLimit: data.rateLimit, quota: data.quota });
        break;
      case 'KeySuspended':
        Object.assign(state, { suspended: true, suspendedReason: data.reason });
        break;
      case 'KeyReinstated':
        Object.assign(state, { suspended: false, suspendedReason: null });
        break;
      case 'KeyRotated':
        Object.assign(state, { rotatedTo: data.successorId, validUntil: data.validUntil });
        break;
      case 'KeyRevoked':
        Object.assign(state, { revoked: true, revokedAt: at, revokedReason: data.reason });
        break;
      default:
        throw new Error(`ledger: unknown key event type ${event.type}`);
    }
  }
  const views = new Map<string, Key>();
  for (const [id, s] of states) {
    const { suspended, revoked, ...rest } = s;
    const status = revoked ? 'revoked' : isExpiredAt(s as Key, now) ? 'expired' : suspended ? 'suspended' : 'active';
    views.set(id, { ...rest, status } as Key);
  }
  return views;
}

/** Every way the ledger holds a half-done rotation, one readable line each. */
export function rotationProblems(events: readonly LedgerEvent[]): string[] {
  const issued = new Map<string, Data>();
  const rotatedTo = new Map<string, string>();
  for (const event of events) {
    const data = event.data as Data;
    if (event.type === 'KeyIssued') issued.set(data.keyId, data);
    if (event.type === 'KeyRotated') rotatedTo.set(data.keyId, data.successorId);
  }
  const problems: string[] = [];
  for (const [from, to] of rotatedTo) {
    const successor = issued.get(to);
    if (!successor) problems.push(`key ${from} has KeyRotated naming successor ${to}, which was never issued (half-rotated)`);
    else if (successor.rotatedFrom !== from) problems.push(`key ${from} rotated to ${to}, but ${to} says rotatedFrom ${successor.rotatedFrom}`);
  }
  for (const [id, data] of issued) {
    if (data.rotatedFrom === null) continue;
    if (rotatedTo.get(data.rotatedFrom) !== id) {
      problems.push(`key ${id} is issued with rotatedFrom ${data.rotatedFrom}, but that key has no KeyRotated naming ${id}`);
    }
  }
  return problems;
}

/** Lists every key of the running service (all pages of GET /v1/keys). */
export async function listAllKeys(baseUrl: string, token: string): Promise<Key[]> {
  const keys: Key[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: '500', ...(cursor === null ? {} : { cursor }) });
    const page = await call(baseUrl, token, 'GET', `/v1/keys?${query}`);
    if (page.status !== 200) throw new Error(`GET /v1/keys answered ${page.status}: ${JSON.stringify(page.body)}`);
    keys.push(...(page.body.items as Key[]));
    cursor = page.body.nextCursor as string | null;
  } while (cursor !== null);
  return keys;
}

/**
 * Differences between the service's projection (GET /v1/keys pages, and GET /v1/keys/:id with its
 * ETag for `sample` keys) and the fold of the ledger; empty when they agree exactly.
 */
export async function projectionMismatches(baseUrl: string, token: string, folded: Map<string, Key>, sample = 5): Promise<string[]> {
  const problems: string[] = [];
  const listed = await listAllKeys(baseUrl, token);
  const seen = new Set<string>();
  for (const key of listed) {
    seen.add(key.id);
    const expected = folded.get(key.id);
    if (!expected) problems.push(`GET /v1/keys lists ${key.id}, which the ledger does not hold`);
    else if (JSON.stringify(sorted(key)) !== JSON.stringify(sorted(expected))) {
      problems.push(`key ${key.id}: projection ${JSON.stringify(sorted(key))} != ledger ${JSON.stringify(sorted(expected))}`);
    }
  }
  for (const id of folded.keys()) if (!seen.has(id)) problems.push(`key ${id} is in the ledger but missing from GET /v1/keys`);
  const ids = [...folded.keys()];
  for (let i = 0; i < Math.min(sample, ids.length); i++) {
    const id = ids[Math.floor(Math.random() * ids.length)]!;
    const one = await call(baseUrl, token, 'GET', `/v1/keys/${id}`);
    const expected = folded.get(id)!;
    if (one.status !== 200) problems.push(`GET /v1/keys/${id} answered ${one.status}`);
    else if (JSON.stringify(sorted(one.body)) !== JSON.stringify(sorted(expected))) problems.push(`GET /v1/keys/${id} differs from the ledger`);
    else if (one.headers.get('etag') !== `"${expected.revision}"`) problems.push(`GET /v1/keys/${id}: ETag ${one.headers.get('etag')}, ledger revision ${expected.revision}`);
  }
  return problems;
}

function sorted(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
}
