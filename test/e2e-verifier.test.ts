/**
 * Revocation across instances: two service processes share one PostgreSQL schema; a verifier
 * follows instance B and has the key cached; the key is revoked through instance A; the
 * verifier must refuse it (the event reaches it through B's live feed), with no TTL involved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createVerifier, type KeyledgerClient, type Verifier } from '@keyledger/sdk';
import { type ServiceProcess, startService } from './support/service-process.js';
import { eventually } from './support/eventually.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

const name = skipWithoutPostgres
  ? 'verifier across instances (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL to run against PostgreSQL)'
  : 'verifier across instances (PostgreSQL, two service processes)';

describe.skipIf(skipWithoutPostgres)(name, () => {
  let schema: Awaited<ReturnType<typeof createSchema>>;
  let a: ServiceProcess;
  let b: ServiceProcess;
  let clientA: KeyledgerClient;
  let clientB: KeyledgerClient;
  let verifier: Verifier;

  beforeAll(async () => {
    schema = await createSchema('kl_e2e_verifier');
    const env = { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: schema.schema };
    a = await startService({ env });
    b = await startService({ env, rootKey: a.rootKey });
    clientA = createClient({ baseUrl: a.url, token: a.rootKey });
    clientB = createClient({ baseUrl: b.url, token: b.rootKey });
    verifier = createVerifier({ client: clientB });
    await verifier.ready();
  });

  afterAll(async () => {
    await verifier?.close();
    await clientA?.close();
    await clientB?.close();
    await b?.stop();
    await a?.stop();
    await schema?.drop();
  });

  it('rejects a key revoked through instance A', async () => {
    const issued = await clientA.keys.issue({ consumerId: 'cons_multi', scopes: ['orders:read'] });
    // B learns of the key through the shared ledger.
    await eventually('B to accept the key', async () => (await verifier.verify(issued.secret!)).code === 'VALID');
    await eventually('the key to be cached', async () => (await verifier.verify(issued.secret!), verifier.peek(issued.secret!)?.code === 'VALID'));
    await clientA.keys.revoke(issued.id, { reason: 'leaked' });
    await eventually('the revocation to reach the verifier on B', () => verifier.peek(issued.secret!)?.code === 'REVOKED', 5_000);
    const result = await verifier.verify(issued.secret!);
    expect(result).toMatchObject({ valid: false, code: 'REVOKED', keyId: issued.id });
  });

  it('applies a suspension made on A to the cache of a verifier on B', async () => {
    const issued = await clientA.keys.issue({ consumerId: 'cons_multi2' });
    await eventually('the key to be cached', async () => (await verifier.verify(issued.secret!), verifier.peek(issued.secret!)?.code === 'VALID'));
    await clientA.keys.suspend(issued.id, {});
    await eventually('the suspension to reach the verifier on B', () => verifier.peek(issued.secret!)?.code === 'SUSPENDED', 5_000);
    expect((await verifier.verify(issued.secret!)).code).toBe('SUSPENDED');
  });
});
