/**
 * A rolling deploy's leftovers through the real app (SQLite file): events of a type and a schema
 * version this version does not know, and an event the key projection throws on. Verify keeps
 * answering, history shows them as stored, /metrics counts them, and admins read the parked ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import type { EventStore } from '../../src/store/port.js';
import { startHarness, type Harness } from '../verify/harness.js';
import { isServiceReady } from '../../src/http/routes/health.js';

let h: Harness;
/** A second writer on the same file, without this version's validation: what a newer version would append. */
let newer: EventStore;
const meta = (schemaVersion = 1) => ({ schemaVersion, actor: { kind: 'system', id: 'v2' }, requestId: null, sourceAddress: null, occurredAt: new Date().toISOString(), correlationId: null, causationId: null });

beforeAll(async () => {
  h = await startHarness({ KEYLEDGER_USAGE_FLUSH_SECONDS: '3600' });
  newer = await openSqliteEventStore({ file: join(h.dataDir, 'keyledger.db'), synchronous: 'NORMAL', pollIntervalMs: 50 });
});
afterAll(async () => {
  await newer?.close();
  await h?.close();
});

describe('events this version cannot apply', () => {
  it('are skipped or parked, shown as stored by history, and never stop revocations reaching verify', async () => {
    const key = await h.issue();
    const other = await h.issue();
    await newer.appendToStream(`key-${key.id}`, [{ type: 'KeyFrozen', data: { keyId: key.id, until: '2031-01-01T00:00:00Z', digest: 'ff'.repeat(32) }, metadata: meta() }]);
    await newer.appendToStream(`key-${key.id}`, [{ type: 'KeySuspended', data: { keyId: key.id, reason: 'v2', severity: 'high' }, metadata: meta(2) }]);
    // A stream that breaks the key invariant: the projection throws on it.
    await newer.appendToStream('key-broken', [{ type: 'KeyIssued', data: { keyId: other.id }, metadata: meta() }]);
    const revoked = await h.call('POST', `/v1/keys/${other.id}/revoke`, { reason: 'leaked' });
    expect(revoked.status).toBe(200);

    // The revocation after the bad events reached verify.
    expect((await h.verify({ key: other.secret })).body.code).toBe('REVOKED');
    expect((await h.verify({ key: key.secret })).body.code).toBe('VALID');

    // A command is not decided on half a stream: a key holding a newer version's event is left to
    // an upgraded instance (503, Retry-After, nothing written).
    const refused = await h.call('POST', `/v1/keys/${key.id}/suspend`, { reason: 'mine' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.body.detail).toMatch(/KeyFrozen event this version of keyledger cannot apply \(unknown type\); nothing was written/);
    expect((await h.call('GET', `/v1/keys/${key.id}/history`)).body.entries).toHaveLength(3);

    const history = await h.call('GET', `/v1/keys/${key.id}/history`);
    expect(history.status).toBe(200);
    expect(history.body.entries.map((e: { type: string }) => e.type)).toEqual(['KeyIssued', 'KeyFrozen', 'KeySuspended']);
    expect(history.body.entries[1].changes).toEqual({ keyId: key.id, until: '2031-01-01T00:00:00Z' });
    expect(history.body.entries[2].changes).toEqual({ keyId: key.id, reason: 'v2', severity: 'high' });

    const parked = await h.call('GET', '/v1/admin/parked-events');
    expect(parked.status).toBe(200);
    expect(parked.body.total).toBe(1);
    expect(parked.body.items).toEqual([
      expect.objectContaining({ projection: 'keys', stream: 'key-broken', type: 'KeyIssued', revision: 0, error: expect.stringMatching(/already issued/) }),
    ]);

    const metrics = (await h.call('GET', '/metrics')).body as string;
    expect(metrics).toMatch(/keyledger_projection_skipped_events_total\{type="KeyFrozen",reason="unknown_type"\} 1/);
    expect(metrics).toMatch(/keyledger_projection_skipped_events_total\{type="KeySuspended",reason="newer_version"\} 1/);
    expect(metrics).toMatch(/keyledger_projection_parked_events_total\{projection="keys"\} 1/);
    expect(metrics).toMatch(/keyledger_projection_lag_seconds 0\n/);
    expect((await h.call('GET', '/readyz', undefined, null)).status).toBe(200);
  });

  it('the parked events are for admins only', async () => {
    const reader = await h.call('POST', '/v1/keys', { consumerId: 'ops', permissions: ['keys:read', 'events:read'] });
    expect(reader.status).toBe(201);
    const denied = await h.call('GET', '/v1/admin/parked-events', undefined, reader.body.secret);
    expect(denied.status).toBe(403);
    expect(denied.headers['content-type']).toMatch(/problem\+json/);
    expect((await h.call('GET', '/v1/admin/parked-events', undefined, null)).status).toBe(401);
  });
});

describe('readiness', () => {
  const base = { started: true, closing: false, lagSeconds: 0, maxLagSeconds: 30 };
  it('given a started instance caught up with the log, then it is ready', () => expect(isServiceReady(base)).toBe(true));
  it('given projections further behind than the setting, then it is not ready', () => {
    expect(isServiceReady({ ...base, lagSeconds: 30 })).toBe(true);
    expect(isServiceReady({ ...base, lagSeconds: 30.5 })).toBe(false);
  });
  it('given a start not finished or a drain begun, then it is not ready', () => {
    expect(isServiceReady({ ...base, started: false })).toBe(false);
    expect(isServiceReady({ ...base, closing: true })).toBe(false);
  });
});
