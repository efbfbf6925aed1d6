/**
 * keyledger behind the gateways people run: Debian's nginx (auth_request) and Caddy
 * (forward_auth), each started on a loopback port with the config from examples/<gateway>/,
 * in front of a real upstream process, asking a real keyledger process at /v1/forward-auth.
 * The same scenarios run through both gateways.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { freePort, startCaddy, startNginx, startUpstream, type GatewayOptions, type RunningProcess } from './support/gateways.js';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown> | null;
}

async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, text, json };
}

async function admin(service: ServiceProcess, method: string, path: string, body?: unknown): Promise<Answer> {
  return send(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${service.rootKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function issue(service: ServiceProcess, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const answer = await admin(service, 'POST', '/v1/keys', { consumerId: 'acme', ...body });
  expect(answer.status).toBe(201);
  return { id: answer.json!.id as string, secret: answer.json!.secret as string };
}

/** The upstream's request count, read directly (that read counts too). */
async function upstreamSeen(upstream: RunningProcess): Promise<number> {
  return (await send(`${upstream.url}/_seen`)).json!.seen as number;
}

/** A plain HTTP call from a chosen local address (Linux routes all of 127.0.0.0/8 to loopback). */
function callFrom(localAddress: string, url: string, headers: Record<string, string>): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { localAddress, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, code: response.headers['keyledger-code'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

const SCOPES = { 'GET /orders/**': ['orders:read'], 'POST /orders': ['orders:write'] };

let keyledger: ServiceProcess;
let upstream: RunningProcess;
let gatewayKey: string;

beforeAll(async () => {
  keyledger = await startService({
    env: {
      KEYLEDGER_TRUSTED_PROXIES: '127.0.0.1',
      KEYLEDGER_FORWARD_AUTH_SCOPES: JSON.stringify(SCOPES),
      KEYLEDGER_FORWARD_AUTH_KEY_FROM: 'bearer,header:x-api-key,query:api_key',
    },
  });
  upstream = await startUpstream();
  gatewayKey = (await issue(keyledger, { consumerId: 'gateway', permissions: ['keys:verify'] })).secret;
});

afterAll(async () => {
  await upstream?.stop();
  await keyledger?.stop();
});

const GATEWAYS: { name: string; start: (options: GatewayOptions) => Promise<RunningProcess>; outage: number }[] = [
  { name: 'nginx', start: startNginx, outage: 503 },
  { name: 'caddy', start: startCaddy, outage: 502 },
];

describe.each(GATEWAYS)('behind $name', ({ name, start, outage }) => {
  let gateway: RunningProcess;
  beforeAll(async () => {
    gateway = await start({ keyledger: `127.0.0.1:${keyledger.port}`, upstream: `127.0.0.1:${upstream.port}`, gatewayKey });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('a valid key reaches the upstream with the consumer headers set and the key stripped', async () => {
    const key = await issue(keyledger, { scopes: ['orders:read'] });
    for (const headers of [{ authorization: `Bearer ${key.secret}` }, { 'x-api-key': key.secret }] as Record<string, string>[]) {
      const answer = await send(`${gateway.url}/orders/7?x=1`, {
        headers: { ...headers, 'keyledger-consumer-id': 'forged', 'keyledger-plan-id': 'forged-plan', 'keyledger-authorization': `Bearer ${keyledger.rootKey}` },
      });
      expect(answer.status, answer.text).toBe(200);
      const seen = answer.json!.headers as Record<string, string>;
      expect(answer.json!.url).toBe('/orders/7?x=1');
      expect(seen['keyledger-consumer-id']).toBe('acme');
      expect(seen['keyledger-key-id']).toBe(key.id);
      expect(seen['keyledger-plan-id'] ?? '').toBe('');
      expect(seen.authorization).toBeUndefined();
      expect(seen['x-api-key']).toBeUndefined();
      expect(seen['keyledger-authorization']).toBeUndefined();
      expect(answer.text).not.toContain(key.secret);
      expect(answer.text).not.toContain(gatewayKey);
    }
  });

  it('no key or an unknown key: 401, and the upstream never sees the request', async () => {
    const before = await upstreamSeen(upstream);
    const missing = await send(`${gateway.url}/orders/7`);
    const unknown = await send(`${gateway.url}/orders/7`, { headers: { authorization: 'Bearer kl_live_notakeyatall' } });
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ status: 401, code: 'MISSING' });
    expect(unknown.status).toBe(401);
    expect(unknown.json).toMatchObject({ status: 401, code: 'MALFORMED' });
    expect(await upstreamSeen(upstream)).toBe(before + 1);
  });

  it('a revoked key is refused at once', async () => {
    const key = await issue(keyledger, { scopes: ['orders:read'] });
    const headers = { authorization: `Bearer ${key.secret}` };
    expect((await send(`${gateway.url}/orders/1`, { headers })).status).toBe(200);
    expect((await admin(keyledger, 'POST', `/v1/keys/${key.id}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const refused = await send(`${gateway.url}/orders/1`, { headers });
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ code: 'REVOKED' });
  });

  it('a suspended key, a wrong scope and an endpoint outside the key\'s rules get 403', async () => {
    const suspended = await issue(keyledger, { scopes: ['orders:read'] });
    expect((await admin(keyledger, 'POST', `/v1/keys/${suspended.id}/suspend`, {})).status).toBe(200);
    const reader = await issue(keyledger, { scopes: ['orders:read'] });
    const ruled = await issue(keyledger, { scopes: ['orders:*'], endpoints: ['GET /orders/*'] });
    const cases = [
      { what: 'suspended', key: suspended.secret, method: 'GET', path: '/orders/1', code: 'SUSPENDED' },
      { what: 'wrong scope (POST /orders needs orders:write)', key: reader.secret, method: 'POST', path: '/orders', code: 'FORBIDDEN' },
      { what: 'outside the endpoint rules', key: ruled.secret, method: 'GET', path: '/admin/users', code: 'FORBIDDEN' },
    ];
    for (const c of cases) {
      const answer = await send(`${gateway.url}${c.path}`, { method: c.method, headers: { authorization: `Bearer ${c.key}` } });
      expect(answer.status, c.what).toBe(403);
      expect(answer.json, c.what).toMatchObject({ status: 403, code: c.code });
    }
    // The same keys where they are allowed: the refusals above were about scope and endpoint.
    expect((await send(`${gateway.url}/orders/1`, { headers: { authorization: `Bearer ${reader.secret}` } })).status).toBe(200);
    expect((await send(`${gateway.url}/orders/1`, { headers: { authorization: `Bearer ${ruled.secret}` } })).status).toBe(200);
  });

  it('the rate limit holds exactly: 200 concurrent requests, 50 allowed, the rest 429 with Retry-After', async () => {
    const key = await issue(keyledger, { scopes: ['orders:read'], rateLimit: { limit: 50, windowSeconds: 3600 } });
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => send(`${gateway.url}/orders/1`, { headers: { 'x-api-key': key.secret } })),
    );
    const allowed = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    console.log(`${name}: 200 concurrent through the gateway -> ${allowed} x 200, ${limited.length} x 429, ${200 - allowed - limited.length} other`);
    expect(allowed).toBe(50);
    expect(limited.length).toBe(150);
    for (const answer of limited) {
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(answer.headers.get('ratelimit')).toMatch(/^"rate";r=0;t=\d+/);
      expect(answer.json).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    }
    // Usage is recorded as for POST /v1/verify: into the key's ledger usage.
    const usage = await admin(keyledger, 'GET', `/v1/keys/${key.id}/usage?granularity=day`);
    const counts = (usage.json!.buckets as { counts: Record<string, number> }[]).reduce<Record<string, number>>((sum, bucket) => {
      for (const [code, n] of Object.entries(bucket.counts)) sum[code] = (sum[code] ?? 0) + n;
      return sum;
    }, {});
    expect(counts).toEqual({ VALID: 50, RATE_LIMITED: 150 });
  });

  it(`keyledger down: the gateway fails closed (${outage}) and the upstream never sees the request`, async () => {
    const key = await issue(keyledger, {});
    const dead = await freePort(); // nothing listens there
    const orphan = await start({ keyledger: `127.0.0.1:${dead}`, upstream: `127.0.0.1:${upstream.port}`, gatewayKey });
    try {
      const before = await upstreamSeen(upstream);
      const answer = await send(`${orphan.url}/orders/1`, { headers: { authorization: `Bearer ${key.secret}` } });
      console.log(`${name} with keyledger unreachable: ${answer.status}`);
      expect(answer.status).toBe(outage);
      expect(await upstreamSeen(upstream)).toBe(before + 1);
    } finally {
      await orphan.stop();
    }
  });
});

/** Uncomments the lines between `# fail-open:begin` and `# fail-open:end`, as the READMEs say. */
function uncommentFailOpen(config: string): string {
  return config.replace(/[ \t]*# fail-open:begin\n([\s\S]*?)[ \t]*# fail-open:end\n/, (_all, block: string) => block.replace(/^(\s*)# ?/gm, '$1'));
}

/** The fail-open variants the READMEs describe, applied to the example configs. */
const FAIL_OPEN: { name: string; start: (options: GatewayOptions) => Promise<RunningProcess>; edit: (config: string) => string }[] = [
  {
    name: 'nginx',
    start: startNginx,
    edit: (config) => uncommentFailOpen(config).replace(/\n\s*return 503 [^\n]*/, ''),
  },
  { name: 'caddy', start: startCaddy, edit: uncommentFailOpen },
];

describe.each(FAIL_OPEN)('$name failing open, as its README shows', ({ start, edit }) => {
  it('with keyledger unreachable the request reaches the upstream without consumer headers or the key', async () => {
    const dead = await freePort();
    const failOpen = await start({ keyledger: `127.0.0.1:${dead}`, upstream: `127.0.0.1:${upstream.port}`, gatewayKey, edit: (config) => {
      const edited = edit(config);
      expect(edited).not.toBe(config);
      return edited;
    } });
    try {
      const answer = await send(`${failOpen.url}/orders/1`, { headers: { authorization: 'Bearer kl_live_whatever', 'keyledger-consumer-id': 'forged' } });
      expect(answer.status).toBe(200);
      const seen = answer.json!.headers as Record<string, string>;
      expect(seen.authorization).toBeUndefined();
      expect(seen['keyledger-consumer-id']).toBeUndefined();
    } finally {
      await failOpen.stop();
    }
  });
});

describe('/v1/forward-auth called directly', () => {
  it('without the gateway credential in Keyledger-Authorization gets nothing but 401, even with a management key in Authorization', async () => {
    const key = await issue(keyledger, {});
    for (const headers of [
      { authorization: `Bearer ${key.secret}` },
      { authorization: `Bearer ${keyledger.rootKey}`, 'x-api-key': key.secret },
    ] as Record<string, string>[]) {
      const answer = await send(`${keyledger.url}/v1/forward-auth`, { headers });
      expect(answer.status).toBe(401);
      expect(answer.headers.get('keyledger-key-id')).toBeNull();
      expect(answer.headers.get('keyledger-consumer-id')).toBeNull();
    }
    // A consumer key is no gateway credential: refused by management auth (it lacks keys:verify).
    const consumerAsGateway = await send(`${keyledger.url}/v1/forward-auth`, { headers: { 'keyledger-authorization': `Bearer ${key.secret}`, 'x-api-key': key.secret } });
    expect([401, 403]).toContain(consumerAsGateway.status);
    expect(consumerAsGateway.headers.get('keyledger-key-id')).toBeNull();
  });

  it('forged forwarding headers from an untrusted address are ignored', async () => {
    const key = await issue(keyledger, { scopes: ['orders:read'], endpoints: ['GET /orders/*'] });
    const headers = {
      'keyledger-authorization': `Bearer ${gatewayKey}`,
      authorization: `Bearer ${key.secret}`,
      'x-original-method': 'GET',
      'x-original-uri': '/orders/1',
      'x-forwarded-method': 'GET',
      'x-forwarded-uri': '/orders/1',
    };
    const url = `${keyledger.url}/v1/forward-auth`;
    // From a trusted proxy (127.0.0.1) the headers say GET /orders/1, which the key may call.
    expect(await callFrom('127.0.0.1', url, headers)).toEqual({ status: 200, code: 'VALID' });
    // From 127.0.0.3 they are ignored: the subrequest itself (GET /) is judged, outside the rules.
    expect(await callFrom('127.0.0.3', url, headers)).toEqual({ status: 403, code: 'FORBIDDEN' });
    // Envoy-style (original path after the auth path) works from anywhere, since it is the request itself.
    expect(await callFrom('127.0.0.3', `${url}/orders/1`, headers)).toEqual({ status: 200, code: 'VALID' });
  });

  it('a path with dot segments is refused (no rule can say where it leads) and a key in the query is read', async () => {
    const key = await issue(keyledger, { scopes: ['orders:read'] });
    const gateway = { 'keyledger-authorization': `Bearer ${gatewayKey}` };
    const dotted = await send(`${keyledger.url}/v1/forward-auth`, { headers: { ...gateway, 'x-original-uri': '/public/%2e%2e/orders/1', authorization: `Bearer ${key.secret}` } });
    expect(dotted.status).toBe(403);
    const query = await send(`${keyledger.url}/v1/forward-auth`, { headers: { ...gateway, 'x-original-uri': `/orders/1?api_key=${key.secret}` } });
    expect(query.status).toBe(200);
    expect(query.headers.get('keyledger-key-id')).toBe(key.id);
  });

  it('bad forwarding headers from a trusted proxy get a 400 problem naming them, not a guess', async () => {
    const key = await issue(keyledger, {});
    const answer = await send(`${keyledger.url}/v1/forward-auth`, {
      headers: { 'keyledger-authorization': `Bearer ${gatewayKey}`, 'x-api-key': key.secret, 'x-original-uri': 'http://elsewhere/orders' },
    });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(answer.json).toMatchObject({ status: 400, detail: expect.stringMatching(/forwarded URI/) });
  });
});
