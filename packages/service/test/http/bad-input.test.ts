/**
 * Client mistakes: every one is a problem+json 4xx with a stable type (and, for validation, the
 * failing field path); none is a 500 and none writes an event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countEvents, expectProblem, type Harness, type Reply, startHarness } from './harness.js';

const BODY_LIMIT = 4096;
let h: Harness;
let keyId: string;
beforeAll(async () => {
  h = await startHarness({ KEYLEDGER_BODY_LIMIT_BYTES: String(BODY_LIMIT) });
  keyId = (await h.issue({ consumerId: 'bad-input' })).id;
});
afterAll(async () => h?.close());

const paths = (reply: Reply): string[] => (reply.body.errors ?? []).map((e: { path: string }) => e.path);

function expectValidation(reply: Reply, path: string) {
  const problem = expectProblem(reply, 400, 'validation');
  expect(paths(reply)).toContain(path);
  return problem;
}

describe('validation names the failing field', () => {
  it('unknown fields are rejected', async () => {
    expectValidation(await h.call('POST', '/v1/keys', { body: { consumerId: 'x', colour: 'red' } }), 'body.colour');
    expectValidation(await h.call('PUT', `/v1/keys/${keyId}/scopes`, { body: { scopes: [], extra: 1 } }), 'body.extra');
    expectValidation(await h.call('POST', `/v1/keys/${keyId}/suspend`, { body: { why: 'x' } }), 'body.why');
    expectValidation(await h.call('GET', '/v1/keys?colour=red'), 'querystring.colour');
    expectValidation(await h.call('GET', '/v1/events?colour=red'), 'querystring.colour');
  });

  it('wrong types and out-of-range values', async () => {
    expectValidation(await h.call('POST', '/v1/keys', { body: { consumerId: 42 } }), 'body.consumerId');
    expectValidation(await h.call('POST', '/v1/keys', { body: {} }), 'body.consumerId');
    expectValidation(await h.call('POST', '/v1/keys', { body: { consumerId: 'x', scopes: 'a:read' } }), 'body.scopes');
    expectValidation(await h.call('POST', '/v1/keys', { body: { consumerId: 'x', expiresAt: 'tomorrow' } }), 'body.expiresAt');
    expectValidation(await h.call('POST', '/v1/keys', { body: { consumerId: 'x', permissions: ['root'] } }), 'body.permissions.0');
    expectValidation(await h.call('POST', '/v1/keys', { body: { consumerId: 'x', environment: 'prod' } }), 'body.environment');
    expectValidation(await h.call('POST', `/v1/keys/${keyId}/rotate`, { body: { gracePeriodSeconds: -1 } }), 'body.gracePeriodSeconds');
    expectValidation(await h.call('POST', `/v1/keys/${keyId}/rotate`, { body: { gracePeriodSeconds: '60' } }), 'body.gracePeriodSeconds');
    expectValidation(await h.call('POST', `/v1/keys/${keyId}/rotate`, { body: {} }), 'body.gracePeriodSeconds');
    expectValidation(await h.call('PUT', `/v1/keys/${keyId}/limits`, { body: { rateLimit: { limit: -5, windowSeconds: 1 } } }), 'body.rateLimit.limit');
    expectValidation(await h.call('GET', '/v1/keys?limit=0'), 'querystring.limit');
    expectValidation(await h.call('GET', '/v1/keys?limit=abc'), 'querystring.limit');
    expectValidation(await h.call('GET', '/v1/keys?status=gone'), 'querystring.status');
    expectValidation(await h.call('GET', '/v1/events?limit=100000'), 'querystring.limit');
  });

  it('empty PATCH and empty limits bodies say what to give', async () => {
    const patch = expectProblem(await h.call('PATCH', `/v1/keys/${keyId}/scopes`, { body: {} }), 400, 'validation');
    expect(patch.detail).toMatch(/add, remove/);
    const limits = expectProblem(await h.call('PUT', `/v1/keys/${keyId}/limits`, { body: {} }), 400, 'validation');
    expect(limits.detail).toMatch(/rateLimit, quota/);
  });

  it('bad key ids in the path', async () => {
    for (const id of ['nope', 'key_', 'key_!!!!!!!!!!!!!!!!', `key_${'a'.repeat(33)}`, '%00', 'key_%E2%80%AEabcdefghijklmnop']) {
      expectValidation(await h.call('GET', `/v1/keys/${id}`), 'params.id');
      expectValidation(await h.call('POST', `/v1/keys/${id}/revoke`, { body: {} }), 'params.id');
    }
  });

  it('bad ?at= times', async () => {
    for (const at of ['yesterday', '2024-13-01T00:00:00Z', '2024-01-01', '1700000000', '2024-01-01T00:00:00']) {
      expectValidation(await h.call('GET', `/v1/keys/${keyId}?at=${encodeURIComponent(at)}`), 'querystring.at');
    }
  });

  it('bad cursors', async () => {
    for (const cursor of ['zzz', Buffer.from('{"after":"../../etc"}').toString('base64url'), Buffer.from('[1,2]').toString('base64url'), Buffer.from('null').toString('base64url'), 'x'.repeat(201)]) {
      const reply = await h.call('GET', `/v1/keys?cursor=${encodeURIComponent(cursor)}`);
      expectValidation(reply, 'querystring.cursor');
    }
  });

  it('bad checkpoints', async () => {
    for (const after of ['zzz', '-1', '1e99', '{"a":1}', 'x'.repeat(101)]) {
      const reply = await h.call('GET', `/v1/events?after=${encodeURIComponent(after)}`);
      expect(reply.status, `${after}: ${reply.text}`).toBe(400);
      expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(reply.body.type).toBe('https://keyledger.dev/problems/validation');
    }
  });
});

describe('bodies', () => {
  it('an oversized body is a 413', async () => {
    const reply = await h.call('POST', '/v1/keys', { payload: JSON.stringify({ consumerId: 'x', name: 'n'.repeat(BODY_LIMIT) }), headers: { 'content-type': 'application/json' } });
    expectProblem(reply, 413, 'body-too-large');
  });

  it('malformed JSON, an empty JSON body and a wrong content type', async () => {
    for (const payload of ['{', '{"consumerId":', 'nul', '{"a":1}}', '\u0000']) {
      expectProblem(await h.call('POST', '/v1/keys', { payload, headers: { 'content-type': 'application/json' } }), 400, 'malformed-body');
    }
    expectProblem(await h.call('POST', '/v1/keys', { payload: '', headers: { 'content-type': 'application/json' } }), 400, 'malformed-body');
    expectProblem(await h.call('POST', '/v1/keys', { payload: 'consumerId=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported-media-type');
    expectProblem(await h.call('POST', '/v1/keys', { payload: '{"consumerId":"x"}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported-media-type');
  });

  it('JSON that is not an object', async () => {
    for (const payload of ['null', '[]', '"x"', '42', 'true']) {
      const reply = await h.call('POST', '/v1/keys', { payload, headers: { 'content-type': 'application/json' } });
      expect(reply.status, `${payload}: ${reply.text}`).toBe(400);
      expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('__proto__ and constructor pollution is rejected and pollutes nothing', async () => {
    const payloads = [
      '{"consumerId":"x","__proto__":{"polluted":true}}',
      '{"consumerId":"x","constructor":{"prototype":{"polluted":true}}}',
      '{"consumerId":"x","meta":{"__proto__":{"polluted":true}}}',
      '{"consumerId":"x","meta":{"constructor":{"prototype":{"polluted":true}}}}',
    ];
    for (const payload of payloads) {
      const reply = await h.call('POST', '/v1/keys', { payload, headers: { 'content-type': 'application/json' } });
      expect(reply.status, `${payload}: ${reply.text}`).toBeGreaterThanOrEqual(400);
      expect(reply.status).toBeLessThan(500);
      expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('deeply nested JSON, huge arrays, 10 kB strings and odd unicode are 4xx, never 500', async () => {
    const big = await startHarness({ KEYLEDGER_BODY_LIMIT_BYTES: String(1024 * 1024) });
    try {
      const before = await countEvents(big);
      const deep = `{"consumerId":"x","meta":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
      const cases: [string, string][] = [
        ['deep meta', deep],
        ['deep body', `${'['.repeat(10000)}${']'.repeat(10000)}`],
        ['huge scopes', JSON.stringify({ consumerId: 'x', scopes: Array.from({ length: 20000 }, (_, i) => `s${i}:read`) })],
        ['huge permissions', JSON.stringify({ consumerId: 'x', permissions: Array(10000).fill('admin') })],
        ['10 kB name', JSON.stringify({ consumerId: 'x', name: 'n'.repeat(10_000) })],
        ['10 kB consumer', JSON.stringify({ consumerId: 'c'.repeat(10_000) })],
        ['10 kB scope', JSON.stringify({ consumerId: 'x', scopes: ['s'.repeat(10_000)] })],
        ['big meta', JSON.stringify({ consumerId: 'x', meta: { blob: 'm'.repeat(10_000) } })],
        ['10 kB meta key', JSON.stringify({ consumerId: 'x', meta: { ['k'.repeat(10_000)]: 1 } })],
        ['unicode consumer', JSON.stringify({ consumerId: 'ключ🔑' })],
        ['rtl override', JSON.stringify({ consumerId: 'abc\u202Edef' })],
        ['lone surrogate', '{"consumerId":"x","name":"\\ud800"}'],
        ['nul in name', JSON.stringify({ consumerId: 'x', name: 'a\u0000b' })],
        ['nul in meta key', JSON.stringify({ consumerId: 'x', meta: { 'a\u0000': 1 } })],
        ['lone low surrogate in meta', '{"consumerId":"x","meta":{"note":"\\udc00x"}}'],
        ['nul in scope', JSON.stringify({ consumerId: 'x', scopes: ['a\u0000:read'] })],
      ];
      for (const [name, payload] of cases) {
        const reply = await big.call('POST', '/v1/keys', { payload, headers: { 'content-type': 'application/json' } });
        expect(reply.status, `${name}: ${reply.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        expect(reply.status, name).toBeLessThan(500);
        expect(reply.headers['content-type'], name).toMatch(/^application\/problem\+json/);
        expect(reply.text.length, name).toBeLessThan(20_000);
      }
      expect(await countEvents(big)).toBe(before);
      // Unicode where free text is allowed is stored and returned intact.
      const ok = await big.call('POST', '/v1/keys', { body: { consumerId: 'x', name: 'clé 🔑 ключ', meta: { note: '日本語' } } });
      expect(ok.status, ok.text).toBe(201);
      expect(ok.body).toMatchObject({ name: 'clé 🔑 ключ', meta: { note: '日本語' } });
      expect((await big.call('GET', `/v1/keys/${ok.body.id}`)).body.name).toBe('clé 🔑 ключ');
    } finally {
      await big.close();
    }
  });

  it('a bodyless POST to a command that needs a body is a validation error', async () => {
    expectValidation(await h.call('POST', `/v1/keys/${keyId}/rotate`), 'body');
  });
});

describe('routing', () => {
  it('unknown routes are a 404 problem; no management route answers 500 to any of the above', async () => {
    expectProblem(await h.call('GET', '/v1/nothing'), 404, 'not-found');
    expectProblem(await h.call('DELETE', `/v1/keys/${keyId}`), 404, 'not-found');
  });

  it('nothing above wrote an event or changed the key', async () => {
    const key = await h.call('GET', `/v1/keys/${keyId}`);
    expect(key.body.revision).toBe(0);
    expect(key.body.status).toBe('active');
  });
});
