/** Management auth (401/403), Idempotency-Key replays, and rebuild-from-log equality. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyProjection } from '../../src/projections/key-projection.js';
import { makeTestKey } from '../../../../test/support/service-process.js';
import { countEvents, expectProblem, type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

describe('management auth', () => {
  it('no header, a non-bearer header, garbage, a wrong checksum and an unknown key are 401 with a challenge', async () => {
    const valid = h.rootKey;
    const wrongChecksum = valid.slice(0, -1) + (valid.endsWith('A') ? 'B' : 'A');
    for (const authorization of [undefined, `Basic ${valid}`, 'Bearer', 'Bearer garbage', `Bearer ${wrongChecksum}`, `Bearer ${makeTestKey()}`, `bearer${valid}`]) {
      const response = await h.call('GET', '/v1/keys', { key: null, headers: authorization === undefined ? {} : { authorization } });
      const problem = expectProblem(response, 401, 'unauthorized');
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(JSON.stringify(problem)).not.toContain(valid);
    }
  });

  it('a revoked or suspended management key is a 401 at once', async () => {
    const admin = await h.issue({ consumerId: 'ops', permissions: ['keys:read'] });
    expect((await h.call('GET', '/v1/keys', { key: admin.secret })).status).toBe(200);
    await h.call('POST', `/v1/keys/${admin.id}/suspend`, { body: {} });
    expectProblem(await h.call('GET', '/v1/keys', { key: admin.secret }), 401, 'unauthorized');
    await h.call('POST', `/v1/keys/${admin.id}/reinstate`, { body: {} });
    expect((await h.call('GET', '/v1/keys', { key: admin.secret })).status).toBe(200);
    await h.call('POST', `/v1/keys/${admin.id}/revoke`, { body: {} });
    expectProblem(await h.call('GET', '/v1/keys', { key: admin.secret }), 401, 'unauthorized');
  });

  it('a management key without the route permission is a 403; a consumer key is the same 401 as an unknown key', async () => {
    const reader = await h.issue({ consumerId: 'ops', permissions: ['keys:read'] });
    const plain = await h.issue({ consumerId: 'ops' });
    const target = await h.issue({ consumerId: 'ops' });
    expect((await h.call('GET', `/v1/keys/${target.id}`, { key: reader.secret })).status).toBe(200);
    expectProblem(await h.call('POST', `/v1/keys/${target.id}/suspend`, { key: reader.secret, body: {} }), 403, 'forbidden');
    expectProblem(await h.call('GET', '/v1/events', { key: reader.secret }), 403, 'forbidden');
    expectProblem(await h.call('GET', '/v1/keys', { key: plain.secret }), 401, 'unauthorized');
    expect((await h.call('GET', `/v1/keys/${target.id}`)).body.status).toBe('active');
  });

  it('a non-admin writer cannot issue keys carrying permissions, but can issue plain keys', async () => {
    const writer = await h.issue({ consumerId: 'ops', permissions: ['keys:write'] });
    const before = await countEvents(h);
    const problem = expectProblem(
      await h.call('POST', '/v1/keys', { key: writer.secret, body: { consumerId: 'x', permissions: ['admin'] } }),
      403,
      'forbidden',
    );
    expect(problem.detail).toMatch(/admin/);
    expectProblem(await h.call('POST', '/v1/keys', { key: writer.secret, body: { consumerId: 'x', permissions: ['keys:read'] } }), 403, 'forbidden');
    expect(await countEvents(h)).toBe(before);
    expect((await h.call('POST', '/v1/keys', { key: writer.secret, body: { consumerId: 'x' } })).status).toBe(201);
  });

  it('every event records the acting key', async () => {
    const writer = await h.issue({ consumerId: 'ops', permissions: ['keys:write', 'keys:read'] });
    const made = await h.call('POST', '/v1/keys', { key: writer.secret, body: { consumerId: 'y' } });
    const history = await h.call('GET', `/v1/keys/${made.body.id}/history`);
    expect(history.body.entries[0].actor).toEqual({ kind: 'key', id: writer.id });
    expect(history.body.entries[0].sourceAddress).toEqual(expect.any(String));
  });
});

describe('Idempotency-Key', () => {
  it('issue: the same key and body answer with the first outcome (same id, same secret) and write nothing', async () => {
    const body = { consumerId: 'idem', scopes: ['a:read'] };
    const first = await h.call('POST', '/v1/keys', { body, headers: { 'idempotency-key': 'issue-1' } });
    expect(first.status, first.text).toBe(201);
    const events = await countEvents(h);
    const again = await h.call('POST', '/v1/keys', { body: { scopes: ['a:read'], consumerId: 'idem' }, headers: { 'idempotency-key': 'issue-1' } });
    expect(again.status, again.text).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.secret).toBe(first.body.secret);
    expect(await countEvents(h)).toBe(events);
    const list = await h.call('GET', '/v1/keys?consumerId=idem');
    expect(list.body.items).toHaveLength(1);
  });

  it('issue: the same key with a different body is a 422 and writes nothing', async () => {
    await h.call('POST', '/v1/keys', { body: { consumerId: 'idem2' }, headers: { 'idempotency-key': 'issue-2' } });
    const events = await countEvents(h);
    const problem = expectProblem(
      await h.call('POST', '/v1/keys', { body: { consumerId: 'idem2', name: 'other' }, headers: { 'idempotency-key': 'issue-2' } }),
      422,
      'idempotency-key-reused',
    );
    expect(problem.detail).toContain('issue-2');
    expect(await countEvents(h)).toBe(events);
  });

  it('two identical issue requests at the same moment write one key and both get its secret', async () => {
    const body = { consumerId: 'idem-race' };
    const before = await countEvents(h);
    const replies = await Promise.all(
      Array.from({ length: 4 }, () => h.call('POST', '/v1/keys', { body, headers: { 'idempotency-key': 'race-1' } })),
    );
    for (const reply of replies) expect([200, 201], reply.text).toContain(reply.status);
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
    expect(new Set(replies.map((r) => r.body.secret)).size).toBe(1);
    expect(replies[0]!.body.secret).toEqual(expect.any(String));
    expect(await countEvents(h)).toBe(before + 1);
  });

  it('the same idempotency key from two different callers are two requests', async () => {
    const other = await h.issue({ consumerId: 'ops', permissions: ['admin'] });
    const a = await h.call('POST', '/v1/keys', { body: { consumerId: 'idem3' }, headers: { 'idempotency-key': 'shared' } });
    const b = await h.call('POST', '/v1/keys', { key: other.secret, body: { consumerId: 'idem3' }, headers: { 'idempotency-key': 'shared' } });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.id).not.toBe(b.body.id);
  });

  it('suspend: a retry answers with the first outcome, even after later changes, and writes nothing', async () => {
    const key = await h.issue();
    const first = await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: { reason: 'r' }, headers: { 'idempotency-key': 'sus-1' } });
    expect(first.status).toBe(200);
    await h.call('POST', `/v1/keys/${key.id}/reinstate`, { body: {} });
    const events = await countEvents(h);
    const again = await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: { reason: 'r' }, headers: { 'idempotency-key': 'sus-1' } });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await countEvents(h)).toBe(events);
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.status).toBe('active');
    expectProblem(
      await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: { reason: 'other' }, headers: { 'idempotency-key': 'sus-1' } }),
      422,
      'idempotency-key-reused',
    );
  });

  it('rotate: a retry returns the same successor and secret and writes nothing', async () => {
    const key = await h.issue();
    const first = await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 60 }, headers: { 'idempotency-key': 'rot-1' } });
    expect(first.status, first.text).toBe(201);
    const events = await countEvents(h);
    const again = await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 60 }, headers: { 'idempotency-key': 'rot-1' } });
    expect(again.status, again.text).toBe(200);
    expect(again.body.successor.id).toBe(first.body.successor.id);
    expect(again.body.successor.secret).toBe(first.body.successor.secret);
    expect(await countEvents(h)).toBe(events);
    expectProblem(
      await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 61 }, headers: { 'idempotency-key': 'rot-1' } }),
      422,
      'idempotency-key-reused',
    );
  });

  it('a malformed Idempotency-Key is a 400 naming the header', async () => {
    const problem = expectProblem(
      await h.call('POST', '/v1/keys', { body: { consumerId: 'x' }, headers: { 'idempotency-key': 'x'.repeat(201) } }),
      400,
      'validation',
    );
    expect(problem.errors[0].path).toBe('headers.idempotency-key');
  });
});

describe('projection', () => {
  it('a rebuild from the log yields the same state as the live projection', async () => {
    const key = await h.issue({ consumerId: 'rebuild', scopes: ['a:read'] });
    await h.call('PUT', `/v1/keys/${key.id}/limits`, { body: { rateLimit: { limit: 5, windowSeconds: 1 } } });
    await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 30 } });
    await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: {} });

    const rebuilt = new KeyProjection();
    let after: string | undefined;
    for (;;) {
      const page = await h.service.store.readAll({ after, maxCount: 7 });
      for (const event of page.events) rebuilt.apply(event);
      if (page.events.length === 0) break;
      after = page.checkpoint;
    }
    expect(rebuilt.size).toBe(h.service.keys.size);
    expect(rebuilt.size).toBeGreaterThan(3);
    expect(rebuilt.snapshot()).toEqual(h.service.keys.snapshot());
  });
});
