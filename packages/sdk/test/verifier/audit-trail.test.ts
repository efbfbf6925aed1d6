/**
 * The verifier's `audit` option against a real service (in process, over a real socket): the key
 * events it applies are proven to be in checkpoints signed by the pinned key; an event the log
 * does not hold, a key that is not the log's, and a rewritten history are each reported.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditTrail, AuditViolationError, createClient, createVerifier, type KeyledgerClient, type LedgerEvent } from '@keyledger/sdk';
import { generateNoteKeyPair } from '@keyledger/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyledger, type Keyledger } from '../../../service/src/app/keyledger.js';
import { loadConfig } from '../../../service/src/config/config.js';
import { createLogger } from '../../../service/src/logging.js';
import { eventually } from '../../../../test/support/eventually.js';
import { makeTestKey } from '../../../../test/support/service-process.js';

/** The slice of better-sqlite3 used here (this package does not depend on it or its types). */
type SqliteDriver = new (file: string) => {
  prepare(sql: string): { run(...params: unknown[]): unknown; pluck(): { get(...params: unknown[]): unknown } };
  exec(sql: string): void;
  close(): void;
};
const Database = createRequire(new URL('../../../service/package.json', import.meta.url))('better-sqlite3') as SqliteDriver;

let service: Keyledger;
let dataDir: string;
let client: KeyledgerClient;
let logKey: string;
const rootKey = makeTestKey();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'kl-audit-trail-'));
  service = await createKeyledger(
    loadConfig({ KEYLEDGER_DATA_DIR: dataDir, KEYLEDGER_ROOT_KEY: rootKey, KEYLEDGER_LOG_LEVEL: 'silent', KEYLEDGER_AUDIT_CHECKPOINT_INTERVAL_MS: '50' }),
    createLogger('silent'),
  );
  await service.app.listen({ host: '127.0.0.1', port: 0 });
  const address = service.app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  client = createClient({ baseUrl, token: rootKey });
  logKey = (await client.audit.publicKey()).verifierKey;
});

afterAll(async () => {
  await client?.close();
  await service?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const keyEvents = async (): Promise<LedgerEvent[]> => (await client.events.list({ category: 'key', limit: 1000 })).events;

describe('verifier audit option', () => {
  it('proves the applied key events against checkpoints signed by the pinned key', async () => {
    const verifier = createVerifier({ client, audit: { logKey, intervalMs: 60_000 } });
    try {
      await verifier.ready();
      const issued = await client.keys.issue({ consumerId: 'trail' });
      await client.keys.revoke(issued.id);
      // The feed delivers the two events in its own time; each check proves what it has.
      const status = await eventually('the applied key events to be proven', async () => {
        await client.audit.signCheckpoint();
        const current = await verifier.audit!.check();
        return current.pending === 0 && current.proven >= 3 && current;
      });
      expect(status.treeSize).toBeGreaterThan(0);
    } finally {
      await verifier.close();
    }
  });

  it('reports an event the log does not hold, and a key that is not the log key', async () => {
    const [event] = await keyEvents();
    const trail = new AuditTrail(client, { logKey });
    trail.noteApplied({ ...event!, data: { ...event!.data, name: 'forged' } });
    await expect(trail.check()).rejects.toThrow(AuditViolationError);
    await expect(trail.check()).rejects.toThrow(/differs from the leaf/);

    // Same origin, another key: what a client pinning the real key must refuse.
    const stranger = new AuditTrail(client, { logKey: generateNoteKeyPair(logKey.split('+')[0]!).verifierKey });
    await expect(stranger.check()).rejects.toThrow(/does not verify with the pinned key/);
  });

  it('reports a history rewritten after it was seen', async () => {
    const trail = new AuditTrail(client, { logKey });
    await client.audit.signCheckpoint();
    await trail.check();
    // The operator rebuilds the log (fresh salts, so fresh leaf hashes) behind the service.
    await service.audit.integrator.stop();
    const db = new Database(join(dataDir, 'keyledger.db'));
    for (const table of ['kl_audit_leaves', 'kl_audit_nodes', 'kl_audit_checkpoints', 'kl_audit_cosignatures']) db.exec(`DELETE FROM ${table}`);
    db.close();
    await client.keys.issue({ consumerId: 'after-rewrite' });
    await service.audit.integrator.signNow();
    await expect(trail.check()).rejects.toThrow(/not consistent .* the history was rewritten/);
  });
});
