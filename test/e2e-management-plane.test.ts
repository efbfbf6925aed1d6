/**
 * The management plane tried as an attacker would, against a real service process on SQLite:
 * each scenario is one finding of the security review (issue 8) and fails on the code before it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestKey, type ServiceProcess, startService } from './support/service-process.js';

let service: ServiceProcess;
let rootId: string;

interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function call(method: string, path: string, key: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

const asRoot = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  call(method, path, service.rootKey, body, headers);

async function issue(body: Record<string, unknown>, by = service.rootKey): Promise<{ id: string; secret: string }> {
  const answer = await call('POST', '/v1/keys', by, body);
  expect(answer.status, answer.text).toBe(201);
  return answer.body;
}

beforeAll(async () => {
  // A low failure budget so the slow-down is reached quickly; the address is the test's own.
  service = await startService({ env: { KEYLEDGER_AUTH_FAILURE_BURST: '30', KEYLEDGER_AUTH_FAILURES_PER_MINUTE: '1' } });
  const keys = await asRoot('GET', '/v1/keys?limit=1');
  rootId = keys.body.items[0].id;
});
afterAll(async () => service?.stop());

describe('no privilege escalation through commands on management keys', () => {
  it('a keys:write key cannot rotate the root key away; root keeps working and no secret comes back', async () => {
    const writer = await issue({ consumerId: 'ops', permissions: ['keys:write'] });
    const answer = await call('POST', `/v1/keys/${rootId}/rotate`, writer.secret, { gracePeriodSeconds: 0 });
    expect(answer.status, answer.text).toBe(403);
    expect(answer.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(answer.body.detail).toMatch(/only an admin credential may rotate a management key/);
    expect(answer.text).not.toMatch(/kl_live_[A-Za-z0-9]{20,}/);
    expect((await asRoot('GET', `/v1/keys/${rootId}`)).body.status).toBe('active');
  });

  it('rotating a key with keys:read / events:read / keys:verify does not hand those permissions to a writer', async () => {
    const writer = await issue({ consumerId: 'ops', permissions: ['keys:write'] });
    for (const permission of ['keys:read', 'events:read', 'keys:verify']) {
      const target = await issue({ consumerId: 'ops', permissions: [permission] });
      const answer = await call('POST', `/v1/keys/${target.id}/rotate`, writer.secret, { gracePeriodSeconds: 0 });
      expect(answer.status, `${permission}: ${answer.text}`).toBe(403);
      expect(answer.text).not.toMatch(/kl_live_[A-Za-z0-9]{20,}/);
      // The target was not rotated away: still active, still without a successor.
      expect((await asRoot('GET', `/v1/keys/${target.id}`)).body).toMatchObject({ status: 'active', rotatedTo: null });
    }
  });

  it('a keys:write key can neither revoke another admin key nor reinstate one root suspended', async () => {
    const writer = await issue({ consumerId: 'ops', permissions: ['keys:write'] });
    const admin = await issue({ consumerId: 'ops', permissions: ['admin'] });
    expect((await call('POST', `/v1/keys/${admin.id}/revoke`, writer.secret, {})).status).toBe(403);
    expect((await asRoot('POST', `/v1/keys/${admin.id}/suspend`, { reason: 'investigation' })).status).toBe(200);
    const reinstate = await call('POST', `/v1/keys/${admin.id}/reinstate`, writer.secret, {});
    expect(reinstate.status, reinstate.text).toBe(403);
    expect((await asRoot('GET', `/v1/keys/${admin.id}`)).body.status).toBe('suspended');
    // Re-scoping and limits are commands on the key too.
    expect((await call('PUT', `/v1/keys/${admin.id}/limits`, writer.secret, { rateLimit: null })).status).toBe(403);
    expect((await call('PATCH', `/v1/keys/${admin.id}/scopes`, writer.secret, { add: { scopes: ['a:b'] } })).status).toBe(403);
  });

  it('a writer still manages consumer keys: issue, rotate (secret returned), revoke', async () => {
    const writer = await issue({ consumerId: 'ops', permissions: ['keys:write'] });
    const consumer = await issue({ consumerId: 'acme', scopes: ['orders:read'] }, writer.secret);
    const rotated = await call('POST', `/v1/keys/${consumer.id}/rotate`, writer.secret, { gracePeriodSeconds: 60 });
    expect(rotated.status, rotated.text).toBe(201);
    expect(rotated.body.successor.secret).toMatch(/^kl_live_/);
    expect(rotated.body.successor.permissions).toEqual([]);
    expect((await call('POST', `/v1/keys/${rotated.body.successor.id}/revoke`, writer.secret, {})).status).toBe(200);
  });

  it('a consumer key never carries a management permission, and a management key never verifies VALID', async () => {
    const refused = await asRoot('POST', '/v1/keys', { consumerId: 'acme', kind: 'consumer', permissions: ['keys:read'] });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body.detail).toMatch(/consumer key cannot carry management permissions/);
    const gateway = await issue({ consumerId: 'gw', permissions: ['keys:verify'] });
    const verified = await call('POST', '/v1/verify', gateway.secret, { key: service.rootKey });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ valid: false, code: 'NOT_FOUND', keyId: null });
    const self = await call('POST', '/v1/verify', gateway.secret, { key: gateway.secret });
    expect(self.body.code).toBe('NOT_FOUND');
  });

  it('the last active admin key cannot be revoked or suspended; with a second admin it can', async () => {
    const admins = (await asRoot('GET', '/v1/keys?consumerId=ops&limit=100')).body.items.filter(
      (k: any) => k.permissions.includes('admin') && k.status === 'active',
    );
    // Retire every other admin key first, so root is the last one.
    for (const admin of admins) expect((await asRoot('POST', `/v1/keys/${admin.id}/revoke`, {})).status).toBe(200);
    const last = await asRoot('POST', `/v1/keys/${rootId}/revoke`, { reason: 'oops' });
    expect(last.status, last.text).toBe(409);
    expect(last.body.type).toBe('https://keyledger.dev/problems/last-admin-key');
    expect(last.body.detail).toMatch(/root-key reset/);
    expect((await asRoot('POST', `/v1/keys/${rootId}/suspend`, {})).status).toBe(409);
    const second = await issue({ consumerId: 'ops', permissions: ['admin'] });
    const revoked = await call('POST', `/v1/keys/${second.id}/revoke`, service.rootKey, {});
    expect(revoked.status).toBe(200);
    expect((await asRoot('GET', `/v1/keys/${rootId}`)).body.status).toBe('active');
  });
});

describe('no liveness oracle', () => {
  it('a live consumer key and an unknown key get the very same 401 from the management API', async () => {
    const consumer = await issue({ consumerId: 'acme' });
    const live = await call('GET', '/v1/keys', consumer.secret);
    const unknown = await call('GET', '/v1/keys', makeTestKey());
    expect(live.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(live.body).toEqual(unknown.body);
    expect(live.headers.get('www-authenticate')).toBe(unknown.headers.get('www-authenticate'));
  });
});

describe('public event views', () => {
  it('/v1/events and the live feed carry no digest and no idempotency key', async () => {
    await asRoot('POST', '/v1/keys', { consumerId: 'view' }, { 'idempotency-key': 'view-1' });
    const page = await asRoot('GET', '/v1/events?limit=1000');
    const issued = page.body.events.filter((e: any) => e.type === 'KeyIssued');
    expect(issued.length).toBeGreaterThan(0);
    for (const event of issued) expect(event.data).not.toHaveProperty('digest');
    expect(page.text).not.toMatch(/[0-9a-f]{64}/);
    expect(page.text).not.toContain('view-1');

    const controller = new AbortController();
    const response = await fetch(`${service.url}/v1/events/stream?category=key`, {
      headers: { authorization: `Bearer ${service.rootKey}` },
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('KeyIssued') || text.split('event: KeyIssued').length <= issued.length) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(text).toContain('event: KeyIssued');
    expect(text).not.toMatch(/"digest"/);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });
});

describe('request ids', () => {
  it("the client's x-request-id is kept as clientRequestId; the event's requestId is the server's own", async () => {
    const created = await asRoot('POST', '/v1/keys', { consumerId: 'rid' }, { 'x-request-id': 'client-chosen-1' });
    expect(created.status).toBe(201);
    const serverId = created.headers.get('x-request-id');
    expect(serverId).toMatch(/^[0-9a-f-]{36}$/);
    const page = await asRoot('GET', '/v1/events?limit=1000&type=KeyIssued');
    const event = page.body.events.find((e: any) => e.data.keyId === created.body.id);
    expect(event.metadata.requestId).toBe(serverId);
    expect(event.metadata.clientRequestId).toBe('client-chosen-1');
    const history = await asRoot('GET', `/v1/keys/${created.body.id}/history`);
    expect(history.body.entries[0]).toMatchObject({ requestId: serverId, clientRequestId: 'client-chosen-1' });
  });
});

describe('failed authentications', () => {
  it('are logged without the credential, counted, and slowed per address (429 with Retry-After)', async () => {
    const before = service.output().length;
    const metric = async () =>
      Number(/keyledger_auth_failures_total\{reason="unknown"\} (\d+)/.exec((await asRoot('GET', '/metrics')).text)?.[1] ?? 0);
    const counted = await metric();
    for (let i = 0; i < 5; i++) expect((await call('GET', '/v1/keys', makeTestKey())).status).toBe(401);
    expect(await metric()).toBe(counted + 5);
    const guesses = Array.from({ length: 60 }, () => makeTestKey());
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (const guess of guesses) {
      const answer = await call('GET', '/v1/keys', guess);
      statuses.push(answer.status);
      if (answer.status === 429) retryAfter ??= answer.headers.get('retry-after');
    }
    const firstThrottled = statuses.indexOf(429);
    console.log(`failed authentications: ${statuses.filter((s) => s === 401).length} x 401, then ${statuses.filter((s) => s === 429).length} x 429 (first at attempt ${firstThrottled + 1})`);
    expect(firstThrottled).toBeGreaterThan(0);
    expect(statuses.slice(firstThrottled).every((s) => s === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // While slowed down, even the valid root key is answered 429: a good guess looks like a bad one.
    expect((await asRoot('GET', '/v1/keys')).status).toBe(429);

    const logs = service.output().slice(before);
    expect(logs).toMatch(/authentication failed/);
    expect(logs).toMatch(/slowing it down/);
    for (const guess of guesses) expect(logs).not.toContain(guess);
    expect(logs).not.toContain(service.rootKey);
  });
});
