/** A route that declares neither a permission nor `public: true` stops the service's start. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTestKey } from '../../../../test/support/service-process.js';
import { buildHttpApp } from '../../src/http/app.js';
import { AuthFailureThrottle } from '../../src/http/auth-throttle.js';
import { assertEveryRouteDeclaresAccess, UndeclaredRouteAccessError } from '../../src/http/auth.js';
import { createKeyledger, type Keyledger } from '../../src/app/keyledger.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging.js';

const dirs: string[] = [];
const services: Keyledger[] = [];
afterAll(async () => {
  for (const service of services) await service.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function appWith(plugin: FastifyPluginAsync) {
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-deny-'));
  dirs.push(dir);
  const service = await createKeyledger(
    loadConfig({ KEYLEDGER_DATA_DIR: dir, KEYLEDGER_ROOT_KEY: makeTestKey(), KEYLEDGER_LOG_LEVEL: 'silent' }),
    createLogger('silent'),
  );
  services.push(service);
  return buildHttpApp({
    logger: false,
    bodyLimitBytes: 1024,
    store: service.store,
    keys: service.keys,
    commands: service.commands,
    isReady: () => true,
    appliedCheckpoint: () => null,
    authThrottle: new AuthFailureThrottle({ burst: 10, perMinute: 10 }),
    v1Plugins: [plugin],
  });
}

describe('deny by default', () => {
  it('a route with no permission and no public flag fails the start, naming the route', async () => {
    const app = await appWith(async (v1) => {
      v1.get('/forgotten', async () => ({ secret: 'everything' }));
    });
    await expect(app.ready()).rejects.toThrow(/GET,HEAD \/v1\/forgotten|GET \/v1\/forgotten/);
    await expect(app.ready()).rejects.toBeInstanceOf(UndeclaredRouteAccessError);
  });

  it('a route that declares a permission, or public, starts', async () => {
    const app = await appWith(async (v1) => {
      v1.get('/declared', { config: { permission: 'keys:read' } }, async () => ({}));
      v1.get('/open', { config: { public: true } }, async () => ({}));
    });
    await expect(app.ready()).resolves.toBeDefined();
    await app.close();
  });

  it('the check lists every undeclared route', () => {
    expect(() =>
      assertEveryRouteDeclaresAccess([
        { method: 'GET', url: '/a', config: { permission: 'admin' } },
        { method: 'POST', url: '/b', config: {} },
        { method: ['PUT', 'PATCH'], url: '/c' },
      ]),
    ).toThrow('routes must declare config.permission or config.public: POST /b; PUT,PATCH /c');
  });
});
