/**
 * The authorization matrix: every operation in the OpenAPI document (and the undocumented
 * /metrics, /docs and /openapi.json) is called over real HTTP with every management permission,
 * with no credential, with a consumer key, and with revoked, suspended and expired management
 * keys. The answers are compared with the one table below. A route without a row fails the test,
 * and so does a row without a route: a new route needs its row.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Permission } from '@keyledger/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestKey } from '../../../../test/support/service-process.js';
import { createKeyledger, type Keyledger } from '../../src/app/keyledger.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging.js';

/** `signed`: public, but authenticated by the request's own signature (GitHub's): 401 for every bearer credential without one. */
type Access = Permission | 'public' | 'signed';

/** Routes whose management credential travels in another header than Authorization. */
const CREDENTIAL_HEADER: Record<string, string> = {
  'GET /v1/forward-auth': 'keyledger-authorization',
  'POST /v1/forward-auth/*': 'keyledger-authorization',
};

/** What each route needs. The one table of this test. */
const MATRIX: Record<string, Access> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /openapi.json': 'public',
  'GET /docs': 'public',
  'GET /docs/json': 'public',
  'GET /metrics': 'metrics:read',
  'POST /v1/keys': 'keys:write',
  'GET /v1/keys': 'keys:read',
  'GET /v1/keys/{id}': 'keys:read',
  'PUT /v1/keys/{id}/scopes': 'keys:write',
  'PATCH /v1/keys/{id}/scopes': 'keys:write',
  'PUT /v1/keys/{id}/limits': 'keys:write',
  'POST /v1/keys/{id}/suspend': 'keys:write',
  'POST /v1/keys/{id}/reinstate': 'keys:write',
  'POST /v1/keys/{id}/revoke': 'keys:write',
  'POST /v1/keys/{id}/rotate': 'keys:write',
  'GET /v1/keys/{id}/history': 'keys:read',
  'GET /v1/keys/{id}/quota': 'keys:read',
  'GET /v1/keys/{id}/usage': 'keys:read',
  'POST /v1/keys/{id}/credits': 'keys:write',
  'POST /v1/verify': 'keys:verify',
  'GET /v1/events': 'events:read',
  'GET /v1/events/stream': 'events:read',
  'GET /v1/admin/parked-events': 'admin',
  'POST /v1/consumers': 'consumers:write',
  'GET /v1/consumers': 'consumers:read',
  'GET /v1/consumers/{id}': 'consumers:read',
  'POST /v1/consumers/{id}/checks': 'consumers:write',
  'POST /v1/consumers/{id}/approve': 'consumers:write',
  'POST /v1/consumers/{id}/reject': 'consumers:write',
  'POST /v1/consumers/{id}/suspend': 'consumers:write',
  'POST /v1/consumers/{id}/reinstate': 'consumers:write',
  'POST /v1/consumers/{id}/close': 'consumers:write',
  'GET /v1/consumers/{id}/history': 'consumers:read',
  'GET /v1/consumers/{id}/keys': 'keys:read',
  'POST /v1/consumers/{id}/key-requests': 'keys:write',
  'GET /v1/consumers/{id}/usage': 'billing:read',
  'POST /v1/plans': 'plans:write',
  'GET /v1/plans': 'plans:read',
  'GET /v1/plans/{id}': 'plans:read',
  'POST /v1/plans/{id}/revise': 'plans:write',
  'POST /v1/plans/{id}/retire': 'plans:write',
  'GET /v1/plans/{id}/history': 'plans:read',
  'GET /v1/plans/{id}/usage': 'billing:read',
  'GET /v1/key-requests': 'keys:read',
  'GET /v1/key-requests/{id}': 'keys:read',
  'POST /v1/key-requests/{id}/approve': 'keys:write',
  'POST /v1/key-requests/{id}/reject': 'keys:write',
  'POST /v1/key-requests/{id}/claim': 'keys:write',
  'GET /v1/key-requests/{id}/history': 'keys:read',
  'GET /v1/audit/public-key': 'public',
  'GET /v1/audit/checkpoint': 'audit:read',
  'POST /v1/audit/checkpoint': 'admin',
  'GET /v1/audit/proofs/inclusion': 'audit:read',
  'GET /v1/audit/proofs/consistency': 'audit:read',
  'POST /v1/audit/cosignatures': 'audit:read',
  // Forward-auth answers any method; two stand for all of them.
  'GET /v1/forward-auth': 'keys:verify',
  'POST /v1/forward-auth/*': 'keys:verify',
  'POST /v1/webhooks': 'webhooks:write',
  'GET /v1/webhooks': 'webhooks:read',
  'GET /v1/webhooks/{id}': 'webhooks:read',
  'DELETE /v1/webhooks/{id}': 'webhooks:write',
  'POST /v1/webhooks/{id}/enable': 'webhooks:write',
  'POST /v1/webhooks/{id}/disable': 'webhooks:write',
  'POST /v1/webhooks/{id}/replay': 'webhooks:write',
  'GET /v1/webhooks/{id}/deliveries': 'webhooks:read',
  'POST /v1/leaks': 'leaks:write',
  'POST /v1/leaks/github': 'signed',
};

/** Routes fastify serves that the OpenAPI document does not list (hidden on purpose). */
const UNDOCUMENTED = ['GET /openapi.json', 'GET /docs', 'GET /docs/json', 'GET /metrics', 'GET /v1/forward-auth', 'POST /v1/forward-auth/*'];

type Expected = 'allowed' | 401 | 403;

let service: Keyledger;
let baseUrl: string;
let dataDir: string;
const rootKey = makeTestKey();
const credentials = new Map<string, string | null>();
let targetId: string;

async function send(method: string, path: string, key: string | null, header = 'authorization'): Promise<number> {
  const controller = new AbortController();
  const withBody = method !== 'GET' && method !== 'HEAD';
  // Forward-auth also wants the consumer's own key where the gateway forwards it.
  const consumerKey: Record<string, string> = header === 'authorization' ? {} : { authorization: `Bearer ${credentials.get('consumer key')}` };
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...consumerKey,
      ...(key === null ? {} : { [header]: `Bearer ${key}` }),
      ...(withBody ? { 'content-type': 'application/json' } : {}),
    },
    ...(withBody ? { body: '{}' } : {}),
    signal: controller.signal,
  });
  // Status and headers are enough; the live feed would never end on its own.
  controller.abort();
  return response.status;
}

async function issue(body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const response = await fetch(`${baseUrl}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rootKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; secret: string };
}

async function post(path: string): Promise<void> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rootKey}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(response.status).toBe(200);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'keyledger-matrix-'));
  service = await createKeyledger(
    loadConfig({
      KEYLEDGER_DATA_DIR: dataDir,
      KEYLEDGER_ROOT_KEY: rootKey,
      KEYLEDGER_LOG_LEVEL: 'silent',
      // The matrix makes hundreds of refused calls from one address on purpose.
      KEYLEDGER_AUTH_FAILURE_BURST: '100000',
    }),
    createLogger('silent'),
  );
  await service.app.listen({ host: '127.0.0.1', port: 0 });
  const address = service.app.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  credentials.set('no credential', null);
  credentials.set('consumer key', (await issue({ consumerId: 'acme', scopes: ['orders:read'] })).secret);
  for (const permission of Permission.options) {
    credentials.set(permission, (await issue({ consumerId: 'ops', permissions: [permission] })).secret);
  }
  const revoked = await issue({ consumerId: 'ops', permissions: ['admin'] });
  await post(`/v1/keys/${revoked.id}/revoke`);
  credentials.set('revoked admin key', revoked.secret);
  const suspended = await issue({ consumerId: 'ops', permissions: ['admin'] });
  await post(`/v1/keys/${suspended.id}/suspend`);
  credentials.set('suspended admin key', suspended.secret);
  const expiring = await issue({ consumerId: 'ops', permissions: ['admin'], expiresAt: new Date(Date.now() + 1500).toISOString() });
  credentials.set('expired admin key', expiring.secret);
  targetId = (await issue({ consumerId: 'target' })).id;
  await new Promise((resolve) => setTimeout(resolve, 1600));
});

afterAll(async () => {
  await service?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function expected(access: Access, credential: string): Expected {
  if (access === 'public') return 'allowed';
  if (access === 'signed') return 401;
  if (!Permission.options.includes(credential as Permission)) return 401;
  return credential === access || credential === 'admin' ? 'allowed' : 403;
}

function documentedOperations(): string[] {
  const document = service.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.keys(operations)
      .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

describe('authorization matrix', () => {
  it('has exactly one row per route: every documented operation and the undocumented ones', () => {
    const routes = [...documentedOperations(), ...UNDOCUMENTED].sort();
    expect(Object.keys(MATRIX).sort()).toEqual(routes);
  });

  it('answers every route, for every credential, as the table says', async () => {
    const mismatches: string[] = [];
    let calls = 0;
    for (const [route, access] of Object.entries(MATRIX)) {
      const [method, template] = route.split(' ') as [string, string];
      const path = template.replace('{id}', targetId).replace('*', 'orders/1');
      for (const [credential, key] of credentials) {
        const want = expected(access, credential);
        const status = await send(method, path, key, CREDENTIAL_HEADER[route]);
        calls++;
        const got: Expected = status === 401 || status === 403 ? status : 'allowed';
        if (got !== want) mismatches.push(`${route} with ${credential}: expected ${want}, got ${status}`);
        if (status >= 500) mismatches.push(`${route} with ${credential}: ${status}`);
      }
    }
    console.log(`authorization matrix: ${Object.keys(MATRIX).length} routes x ${credentials.size} credentials = ${calls} calls`);
    expect(mismatches).toEqual([]);
  });
});
