/** Every /v1/keys route's happy path, ETags, If-Match, history, ?at= and the events feed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKey } from '@keyledger/schemas';
import { countEvents, expectProblem, type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KEYLEDGER_MAX_GRACE_PERIOD_SECONDS: '86400' });
});
afterAll(async () => h?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('issue and read', () => {
  it('issues a key: 201, the secret once, a Location and an ETag', async () => {
    const response = await h.call('POST', '/v1/keys', {
      body: { consumerId: 'acme', name: 'ci', scopes: ['orders:read'], endpoints: ['GET /orders/*'], meta: { team: 'x' } },
    });
    expect(response.status, response.text).toBe(201);
    const key = response.body;
    expect(parseKey(key.secret)).toBeTruthy();
    expect(key.secret.startsWith('kl_live_')).toBe(true);
    expect(key.hint.startsWith('kl_live_')).toBe(true);
    expect(key.hint.endsWith(key.secret.slice(-4))).toBe(true);
    expect(key.hint.length).toBeLessThan(key.secret.length);
    expect(key).toMatchObject({ consumerId: 'acme', name: 'ci', status: 'active', scopes: ['orders:read'], endpoints: ['GET /orders/*'], meta: { team: 'x' }, revision: 0 });
    expect(response.headers.location).toBe(`/v1/keys/${key.id}`);
    expect(response.headers.etag).toBe('"0"');
    expect(JSON.stringify(key)).not.toMatch(/digest/);

    const got = await h.call('GET', `/v1/keys/${key.id}`);
    expect(got.status).toBe(200);
    expect(got.headers.etag).toBe('"0"');
    expect(got.body.secret).toBeUndefined();
    expect(got.text).not.toContain(key.secret);
    expect(got.text).not.toMatch(/digest/i);
    expect(key.secretWithheld).toBeNull();
    const { secret: _secret, secretWithheld: _withheld, ...view } = key;
    expect(got.body).toEqual(view);
  });

  it('an unknown key is a 404 problem', async () => {
    expectProblem(await h.call('GET', '/v1/keys/key_0000000000000000'), 404, 'not-found');
  });

  it('lists keys filtered by consumer and status, paging with cursors', async () => {
    const consumer = `list-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await h.issue({ consumerId: consumer })).id);
    await h.call('POST', `/v1/keys/${ids[1]}/suspend`, { body: {} });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await h.call('GET', `/v1/keys?consumerId=${consumer}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status, page.text).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      for (const item of page.body.items) {
        expect(item.consumerId).toBe(consumer);
        expect(item.secret).toBeUndefined();
        seen.push(item.id);
      }
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);

    const suspended = await h.call('GET', `/v1/keys?consumerId=${consumer}&status=suspended`);
    expect(suspended.body.items.map((k: { id: string }) => k.id)).toEqual([ids[1]]);
    const active = await h.call('GET', `/v1/keys?consumerId=${consumer}&status=active`);
    expect(active.body.items.map((k: { id: string }) => k.id)).toEqual(ids.filter((id) => id !== ids[1]));
    const all = await h.call('GET', '/v1/keys?limit=500');
    expect(all.body.items.map((k: { id: string }) => k.id)).toEqual(expect.arrayContaining(ids));
  });
});

describe('commands', () => {
  it('replaces and patches scopes; a GET right after reflects each change', async () => {
    const key = await h.issue({ consumerId: 'acme', scopes: ['a:read'] });
    const put = await h.call('PUT', `/v1/keys/${key.id}/scopes`, { body: { scopes: ['orders:read', 'orders:*'], endpoints: ['GET /orders/*'] } });
    expect(put.status, put.text).toBe(200);
    expect(put.body.scopes).toEqual(['orders:read', 'orders:*']);
    expect(put.headers.etag).toBe('"1"');
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.scopes).toEqual(['orders:read', 'orders:*']);

    const patch = await h.call('PATCH', `/v1/keys/${key.id}/scopes`, { body: { add: { scopes: ['invoices:read'] }, remove: { scopes: ['orders:*'] } } });
    expect(patch.status, patch.text).toBe(200);
    expect(patch.body.scopes).toEqual(expect.arrayContaining(['orders:read', 'invoices:read']));
    expect(patch.body.scopes).not.toContain('orders:*');
    const got = await h.call('GET', `/v1/keys/${key.id}`);
    expect(got.body.scopes).toEqual(patch.body.scopes);
    expect(got.headers.etag).toBe(patch.headers.etag);
  });

  it('sets and removes limits', async () => {
    const key = await h.issue();
    const put = await h.call('PUT', `/v1/keys/${key.id}/limits`, {
      body: { rateLimit: { limit: 10, windowSeconds: 60, burst: 5 }, quota: { limit: 1000, period: 'day' } },
    });
    expect(put.status, put.text).toBe(200);
    expect(put.body.rateLimit).toMatchObject({ limit: 10, windowSeconds: 60, burst: 5 });
    expect(put.body.quota).toEqual({ limit: 1000, period: 'day' });
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.quota).toEqual({ limit: 1000, period: 'day' });
    const removed = await h.call('PUT', `/v1/keys/${key.id}/limits`, { body: { quota: null } });
    expect(removed.status, removed.text).toBe(200);
    expect(removed.body.quota).toBeNull();
    expect(removed.body.rateLimit).toMatchObject({ limit: 10 });
  });

  it('suspends, reinstates and revokes; a second revoke is a 409 saying the key is already revoked', async () => {
    const key = await h.issue();
    const suspended = await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: { reason: 'abuse' } });
    expect(suspended.status, suspended.text).toBe(200);
    expect(suspended.body).toMatchObject({ status: 'suspended', suspendedReason: 'abuse' });
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.status).toBe('suspended');

    const reinstated = await h.call('POST', `/v1/keys/${key.id}/reinstate`);
    expect(reinstated.status, reinstated.text).toBe(200);
    expect(reinstated.body.status).toBe('active');

    const revoked = await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: { reason: 'leaked' } });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body).toMatchObject({ status: 'revoked', revokedReason: 'leaked' });
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.status).toBe('revoked');

    const again = expectProblem(await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: {} }), 409, 'key-revoked');
    expect(again.detail).toMatch(/already revoked/i);
    for (const [method, path, body] of [
      ['POST', 'suspend', {}],
      ['POST', 'reinstate', {}],
      ['POST', 'rotate', { gracePeriodSeconds: 0 }],
      ['PUT', 'scopes', { scopes: [] }],
      ['PUT', 'limits', { quota: null }],
    ] as const) {
      const response = await h.call(method, `/v1/keys/${key.id}/${path}`, { body });
      expect(response.status, `${path}: ${response.text}`).toBe(409);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('rotates: the successor names its predecessor, the old key stays active until validUntil', async () => {
    const key = await h.issue({ consumerId: 'rot', scopes: ['orders:read'] });
    const response = await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 3600 } });
    expect(response.status, response.text).toBe(201);
    const { previous, successor } = response.body;
    expect(parseKey(successor.secret)).toBeTruthy();
    expect(successor.secret).not.toBe(key.secret);
    expect(successor).toMatchObject({ rotatedFrom: key.id, consumerId: 'rot', scopes: ['orders:read'], status: 'active' });
    expect(previous).toMatchObject({ id: key.id, rotatedTo: successor.id, status: 'active' });
    const validUntil = Date.parse(previous.validUntil);
    expect(validUntil - Date.now()).toBeGreaterThan(3500_000);
    expect(validUntil - Date.now()).toBeLessThanOrEqual(3600_000);

    const listed = await h.call('GET', '/v1/keys?consumerId=rot&status=active');
    const ids = listed.body.items.map((k: { id: string }) => k.id);
    expect(ids).toEqual([key.id, successor.id]);
    expect(listed.body.items[0].validUntil).toBe(previous.validUntil);
    expect((await h.call('GET', `/v1/keys/${successor.id}`)).body.rotatedFrom).toBe(key.id);
  });

  it('rotation with no grace ends the old key at once', async () => {
    const key = await h.issue();
    const response = await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 0 } });
    expect(response.status, response.text).toBe(201);
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.status).not.toBe('active');
  });

  it('a grace period above the configured maximum is a 422', async () => {
    const key = await h.issue();
    const problem = expectProblem(await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 86401 } }), 422, 'validation');
    expect(problem.detail).toMatch(/86400/);
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.rotatedTo).toBeNull();
  });
});

describe('concurrent commands on one key', () => {
  it('each concurrent PATCH is applied (retried on conflict) or refused with a 409, never lost or a 500', async () => {
    const key = await h.issue({ consumerId: 'race' });
    const scopes = Array.from({ length: 12 }, (_, i) => `s${i}:read`);
    const replies = await Promise.all(
      scopes.map((scope) => h.call('PATCH', `/v1/keys/${key.id}/scopes`, { body: { add: { scopes: [scope] } } })),
    );
    for (const reply of replies) expect([200, 409], reply.text).toContain(reply.status);
    const applied = scopes.filter((_, i) => replies[i]!.status === 200);
    expect(applied.length).toBeGreaterThan(0);
    const final = await h.call('GET', `/v1/keys/${key.id}`);
    expect([...final.body.scopes].sort()).toEqual([...applied].sort());
    expect(final.body.revision).toBe(applied.length);
  });
});

describe('ETag and If-Match', () => {
  it('a matching If-Match applies; a stale one is a 412 and writes nothing; a malformed one is a 400', async () => {
    const key = await h.issue();
    const ok = await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: {}, headers: { 'if-match': '"0"' } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers.etag).toBe('"1"');
    const before = await countEvents(h);
    const stale = expectProblem(await h.call('POST', `/v1/keys/${key.id}/reinstate`, { body: {}, headers: { 'if-match': '"0"' } }), 412, 'precondition-failed');
    expect(stale).toMatchObject({ expectedRevision: 0, actualRevision: 1 });
    expect(await countEvents(h)).toBe(before);
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.status).toBe('suspended');
    const bad = expectProblem(await h.call('POST', `/v1/keys/${key.id}/reinstate`, { body: {}, headers: { 'if-match': 'yesterday' } }), 400, 'validation');
    expect(bad.errors).toEqual([{ path: 'headers.if-match', message: 'invalid' }]);
    const good = await h.call('POST', `/v1/keys/${key.id}/reinstate`, { body: {}, headers: { 'if-match': 'W/"1"' } });
    expect(good.status, good.text).toBe(200);
  });
});

describe('history and ?at=', () => {
  it('lists every event with actor, request id and what changed, never the digest or secret', async () => {
    const key = await h.issue({ consumerId: 'hist', scopes: ['a:read'] });
    await h.call('PUT', `/v1/keys/${key.id}/scopes`, { body: { scopes: ['b:read'] }, headers: { 'x-request-id': 'req-scope-1' } });
    await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: { reason: 'done' } });
    const history = await h.call('GET', `/v1/keys/${key.id}/history`);
    expect(history.status, history.text).toBe(200);
    const rootId = h.service.keys.getByDigest((await import('../../src/domain/key-material.js')).digestKey(h.rootKey))?.id;
    expect(history.body.keyId).toBe(key.id);
    expect(history.body.entries.map((e: { type: string }) => e.type)).toEqual(['KeyIssued', 'KeyScoped', 'KeyRevoked']);
    for (const [index, entry] of history.body.entries.entries()) {
      expect(entry.revision).toBe(index);
      expect(entry.actor).toEqual({ kind: 'key', id: rootId });
      expect(entry.requestId).toEqual(expect.any(String));
      expect(Date.parse(entry.occurredAt)).not.toBeNaN();
    }
    // The client's id is kept beside ours; the event's requestId is always the server's own.
    expect(history.body.entries[1].clientRequestId).toBe('req-scope-1');
    expect(history.body.entries[1].requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(history.body.entries[0].clientRequestId).toBeNull();
    expect(JSON.stringify(history.body.entries[1].changes)).toContain('b:read');
    expect(JSON.stringify(history.body.entries[2].changes)).toContain('done');
    expect(history.text).not.toMatch(/digest/i);
    expect(history.text).not.toContain(key.secret);
    expect(history.text).not.toContain(key.secret.slice(8, 30));
  });

  it('?at= answers with the state as of that instant, folded from the log', async () => {
    const key = await h.issue({ consumerId: 'at', scopes: ['a:read'] });
    await sleep(20);
    const between = new Date().toISOString();
    await sleep(20);
    await h.call('PUT', `/v1/keys/${key.id}/scopes`, { body: { scopes: ['b:read'] } });
    await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: {} });
    const then = await h.call('GET', `/v1/keys/${key.id}?at=${encodeURIComponent(between)}`);
    expect(then.status, then.text).toBe(200);
    expect(then.body).toMatchObject({ scopes: ['a:read'], status: 'active', revision: 0 });
    const now = await h.call('GET', `/v1/keys/${key.id}?at=${encodeURIComponent(new Date().toISOString())}`);
    expect(now.body).toMatchObject({ scopes: ['b:read'], status: 'suspended', revision: 2 });
    const before = await h.call('GET', `/v1/keys/${key.id}?at=2001-01-01T00:00:00Z`);
    expectProblem(before, 404, 'not-found');
  });
});

describe('GET /v1/events', () => {
  it('pages through the ledger by checkpoint and filters by category and type', async () => {
    const key = await h.issue({ consumerId: 'feed' });
    await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: {} });
    await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: {} });

    const all: any[] = [];
    let after: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const page = await h.call('GET', `/v1/events?limit=3${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      expect(page.status, page.text).toBe(200);
      expect(page.body.events.length).toBeLessThanOrEqual(3);
      all.push(...page.body.events);
      if (page.body.events.length === 0) break;
      after = page.body.checkpoint;
    }
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    const mine = all.filter((e) => e.stream === `key-${key.id}`);
    expect(mine.map((e) => e.type)).toEqual(['KeyIssued', 'KeySuspended', 'KeyRevoked']);
    expect(mine[0].metadata).toMatchObject({ actor: { kind: 'key' }, requestId: expect.any(String), occurredAt: expect.any(String) });
    expect(JSON.stringify(all)).not.toContain(key.secret);

    const revoked = await h.call('GET', '/v1/events?type=KeyRevoked&limit=1000');
    expect(revoked.body.events.length).toBeGreaterThan(0);
    expect(revoked.body.events.every((e: { type: string }) => e.type === 'KeyRevoked')).toBe(true);
    expect(revoked.body.events.map((e: { stream: string }) => e.stream)).toContain(`key-${key.id}`);
    const suspendedOrRevoked = await h.call('GET', '/v1/events?type=KeySuspended,KeyRevoked&category=key&limit=1000');
    expect(new Set(suspendedOrRevoked.body.events.map((e: { type: string }) => e.type))).toEqual(new Set(['KeySuspended', 'KeyRevoked']));
    const none = await h.call('GET', '/v1/events?category=nothing');
    expect(none.body.events).toEqual([]);
  });

  it('the checkpoint of the last page resumes with nothing new, then with the next event', async () => {
    let after: string | undefined;
    for (;;) {
      const page = await h.call('GET', `/v1/events?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      if (page.body.events.length === 0) break;
      after = page.body.checkpoint;
    }
    const key = await h.issue({ consumerId: 'resume' });
    const next = await h.call('GET', `/v1/events?after=${encodeURIComponent(after as string)}`);
    expect(next.body.events.map((e: { stream: string }) => e.stream)).toEqual([`key-${key.id}`]);
  });
});
