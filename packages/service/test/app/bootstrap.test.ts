/**
 * Root key bootstrap against a real SQLite ledger: created once, and when two bootstraps race
 * (two instances on one database) the loser stands down instead of failing its start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { makeTestKey } from '../../../../test/support/service-process.js';
import { ensureRootKey, ROOT_CONSUMER } from '../../src/app/bootstrap.js';
import { KeyCommands } from '../../src/app/key-commands.js';
import { digestKey } from '../../src/domain/key-material.js';
import { KeyProjection } from '../../src/projections/key-projection.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { openEventStore } from '../../src/store/open-store.js';
import type { EventStore } from '../../src/store/port.js';

const logger = pino({ level: 'silent' });

interface Instance {
  keys: KeyProjection;
  commands: KeyCommands;
  runner: ProjectionRunner;
}

let dir: string;
let stores: EventStore[];
let runners: ProjectionRunner[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyledger-boot-'));
  stores = [];
  runners = [];
});
afterEach(async () => {
  for (const runner of runners) await runner.stop();
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One "instance": its own store connection, projection and command handler on the shared file. */
async function instance(): Promise<Instance> {
  const store = await openEventStore({ kind: 'sqlite', file: join(dir, 'keyledger.db'), synchronous: 'NORMAL' });
  stores.push(store);
  const keys = new KeyProjection();
  const runner = new ProjectionRunner(store, [keys]);
  runners.push(runner);
  await runner.start();
  const commands = new KeyCommands({
    store,
    runner,
    keyPrefixes: { live: 'kl_live', test: 'kl_test' },
    maxGracePeriodSeconds: 3600,
    serverSecret: Buffer.alloc(32, 7),
    otherActiveAdminKeys: (keyId, nowMs) => keys.otherActiveAdminKeys(keyId, nowMs),
  });
  return { keys, commands, runner };
}

const bootstrap = (i: Instance, rootKey?: string) =>
  ensureRootKey({ commands: i.commands, keys: i.keys, rootKey, prefix: 'kl_live', logger });

describe('ensureRootKey', () => {
  it('creates an admin root key on an empty ledger and returns its plaintext once', async () => {
    const a = await instance();
    const created = await bootstrap(a);
    expect(created).toMatch(/^kl_live_/);
    const state = a.keys.getByDigest(digestKey(created as string));
    expect(state).toMatchObject({ consumerId: ROOT_CONSUMER, permissions: ['admin'] });
    expect(await bootstrap(a)).toBeNull();
    expect(a.keys.size).toBe(1);
  });

  it('takes KEYLEDGER_ROOT_KEY as given and never returns it for printing', async () => {
    const a = await instance();
    const rootKey = makeTestKey();
    expect(await bootstrap(a, rootKey)).toBeNull();
    expect(a.keys.getByDigest(digestKey(rootKey))?.permissions).toEqual(['admin']);
    expect(await bootstrap(a, rootKey)).toBeNull();
    expect(a.keys.size).toBe(1);
  });

  it('two bootstraps racing on an empty ledger: one creates the key, the other stands down', async () => {
    const [a, b] = [await instance(), await instance()];
    const results = await Promise.all([bootstrap(a), bootstrap(b)]);
    const created = results.filter((r) => r !== null);
    expect(created).toHaveLength(1);
    await b.runner.waitFor((await stores[0]!.readAll()).checkpoint as string);
    expect(a.keys.size).toBe(1);
    expect(b.keys.getByDigest(digestKey(created[0] as string))).toBeDefined();
  });

  it('two bootstraps racing with the same KEYLEDGER_ROOT_KEY both succeed and write it once', async () => {
    const [a, b] = [await instance(), await instance()];
    const rootKey = makeTestKey();
    expect(await Promise.all([bootstrap(a, rootKey), bootstrap(b, rootKey)])).toEqual([null, null]);
    const all = await stores[0]!.readAll();
    expect(all.events.filter((e) => e.type === 'KeyIssued')).toHaveLength(1);
  });
});
