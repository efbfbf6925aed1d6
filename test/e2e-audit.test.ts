/**
 * The transparency log end to end, with real processes: a service, a witness process that
 * cosigns its checkpoints (served back with the checkpoint), `keyledger audit verify` on the data
 * directory (and on PostgreSQL), and a rewritten history shown to the witness, which refuses it.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cosignatureVerifierFromKey, generateNoteKeyPair, noteVerifierFromKey, verifyCheckpoint } from '@keyledger/schemas';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVICE_ENTRY, startService, type ServiceProcess } from './support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

/** The slice of better-sqlite3 used here (this package does not depend on it or its types). */
type SqliteDriver = new (file: string) => {
  prepare(sql: string): { run(...params: unknown[]): unknown; pluck(): { get(...params: unknown[]): unknown } };
  exec(sql: string): void;
  close(): void;
};
// The service's own SQLite driver, to tamper with its file as an attacker on the host would.
const Database = createRequire(new URL('../packages/service/package.json', import.meta.url))('better-sqlite3') as SqliteDriver;

const work = mkdtempSync(join(tmpdir(), 'keyledger-audit-e2e-'));
const running: ServiceProcess[] = [];
afterAll(async () => {
  for (const service of running) await service.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SERVICE_ENTRY, ...args], { cwd: work, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function api(service: ServiceProcess, method: string, path: string, body?: unknown, token = service.rootKey): Promise<any> {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  expect(response.status, `${method} ${path}: ${text}`).toBeLessThan(300);
  return JSON.parse(text);
}

describe('audit end to end (SQLite)', () => {
  const dataDir = join(work, 'data');
  const stateFile = join(work, 'witness', 'state.json');

  it('witnesses checkpoints, verifies the data directory, and refuses a rewritten history', async () => {
    let service = await startService({ dataDir });
    running.push(service);
    const auditor = await api(service, 'POST', '/v1/keys', { consumerId: 'auditor', permissions: ['audit:read'] });
    for (let i = 0; i < 5; i++) await api(service, 'POST', '/v1/keys', { consumerId: `c${i}` });
    await api(service, 'POST', '/v1/audit/checkpoint');

    const witnessArgs = ['audit', 'witness', '--log', service.url, '--state', stateFile, '--token', auditor.secret, '--once', '--name', 'witness.e2e/one'];
    const first = await cli(witnessArgs);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('"msg":"cosigned"');
    expect(statSync(join(work, 'witness', 'witness-key')).mode & 0o777).toBe(0o600);
    const witnessKey = (JSON.parse(first.stdout.split('\n')[0] as string) as { witnessKey: string }).witnessKey;

    // More history, a new checkpoint, cosigned as consistent with the first.
    for (let i = 5; i < 9; i++) await api(service, 'POST', '/v1/keys', { consumerId: `c${i}` });
    const signed = await api(service, 'POST', '/v1/audit/checkpoint');
    const second = await cli(witnessArgs);
    expect(second.code, second.stderr).toBe(0);
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { treeSize: number };
    expect(state.treeSize).toBe(signed.treeSize);

    // The service serves the cosignature with the checkpoint; a client requiring the witness accepts it.
    const publicKey = await api(service, 'GET', '/v1/audit/public-key');
    const served = await api(service, 'GET', `/v1/audit/checkpoint?size=${signed.treeSize}`, undefined, auditor.secret);
    const verified = verifyCheckpoint(served.note, { log: noteVerifierFromKey(publicKey.verifierKey), witnesses: [cosignatureVerifierFromKey(witnessKey)], witnessQuorum: 1 });
    expect(verified.cosignedBy.map((c) => c.name)).toEqual(['witness.e2e/one']);

    // audit verify on the live data directory.
    const ok = await cli(['audit', 'verify', '--data-dir', dataDir]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok: the log holds/m);

    // The operator rewrites history: edits a key's event and rebuilds the log from scratch.
    await service.stop();
    const db = new Database(join(dataDir, 'keyledger.db'));
    const victim = db.prepare("SELECT stream_id FROM events WHERE event_type = 'KeyIssued' ORDER BY position LIMIT 1 OFFSET 3").pluck().get() as string;
    db.prepare("UPDATE events SET data = json_set(data, '$.name', 'rewritten') WHERE stream_id = ? AND stream_revision = 0").run(victim);
    db.close();
    const broken = await cli(['audit', 'verify', '--data-dir', dataDir, '--json']);
    expect(broken.code).toBe(1);
    const report = JSON.parse(broken.stdout) as { ok: boolean; problems: { kind: string; stream: string }[] };
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'payload-changed', stream: victim })]);

    const rebuilt = new Database(join(dataDir, 'keyledger.db'));
    for (const table of ['kl_audit_leaves', 'kl_audit_nodes', 'kl_audit_checkpoints', 'kl_audit_cosignatures']) rebuilt.exec(`DELETE FROM ${table}`);
    rebuilt.close();
    service = await startService({ dataDir, rootKey: service.rootKey });
    running.push(service);
    await api(service, 'POST', '/v1/keys', { consumerId: 'after-rewrite' });
    await api(service, 'POST', '/v1/audit/checkpoint');
    const refused = await cli([...witnessArgs.slice(0, 3), service.url, ...witnessArgs.slice(4)]);
    console.log(`witness on a rewritten history: exit ${refused.code}: ${refused.stderr.trim()}`);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/REFUSED the checkpoint of size \d+ \(422\): the consistency proof does not verify/);
    // Its state still holds what it cosigned before.
    expect((JSON.parse(readFileSync(stateFile, 'utf8')) as { treeSize: number }).treeSize).toBe(signed.treeSize);

    // A replaced signing key: the service refuses to start, verify names it.
    await service.stop();
    const keyFile = join(dataDir, 'audit-signing-key');
    const original = readFileSync(keyFile, 'utf8');
    const other = await cli(['audit', 'verify', '--data-dir', join(work, 'missing')]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/no ledger at/);
    writeFileSync(keyFile, original.replace(/\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+\s*$/, ''), { mode: 0o600 });
    const unreadable = await cli(['audit', 'verify', '--data-dir', dataDir]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/not an audit signing key/);
    // A valid key, but not this log's: verify names it, and the service will not sign with it.
    const origin = (original.split('+')[2] as string);
    writeFileSync(keyFile, `${generateNoteKeyPair(origin).signerKey}\n`, { mode: 0o600 });
    const replaced = await cli(['audit', 'verify', '--data-dir', dataDir]);
    expect(replaced.code).toBe(1);
    expect(replaced.stdout).toMatch(/BROKEN signing-key-replaced/);
    await expect(startService({ dataDir, rootKey: service.rootKey })).rejects.toThrow(/not the key this log was signed with/);
    writeFileSync(keyFile, original);
  }, 120_000);
});

describe.skipIf(skipWithoutPostgres)('audit verify end to end (PostgreSQL)', () => {
  it('verifies a PostgreSQL ledger with a pinned public key', async () => {
    const { schema, drop } = await createSchema('kl_audit_e2e');
    try {
      const service = await startService({ env: { KEYLEDGER_DATABASE_URL: DATABASE_URL as string, KEYLEDGER_DATABASE_SCHEMA: schema } });
      running.push(service);
      for (let i = 0; i < 3; i++) await api(service, 'POST', '/v1/keys', { consumerId: `p${i}` });
      await api(service, 'POST', '/v1/audit/checkpoint');
      const publicKey = await api(service, 'GET', '/v1/audit/public-key');
      const keyFile = join(work, 'pg-log.pub');
      writeFileSync(keyFile, `${publicKey.verifierKey}\n`);
      const ok = await cli(['audit', 'verify', '--database-url', DATABASE_URL as string, '--database-schema', schema, '--public-key', keyFile]);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      const wrong = await cli(['audit', 'verify', '--database-url', DATABASE_URL as string, '--database-schema', schema, '--public-key', 'nope']);
      expect(wrong.code).toBe(2);

      // A second instance with a data directory (so a key) of its own: it serves the log's key,
      // integrates, and leaves the signing to the key holder.
      const second = await startService({ rootKey: service.rootKey, env: { KEYLEDGER_DATABASE_URL: DATABASE_URL as string, KEYLEDGER_DATABASE_SCHEMA: schema } });
      running.push(second);
      expect(second.output()).toContain('does not hold the audit log');
      expect((await api(second, 'GET', '/v1/audit/public-key')).verifierKey).toBe(publicKey.verifierKey);
      await api(second, 'POST', '/v1/keys', { consumerId: 'via-second' });
      const signed = await api(service, 'POST', '/v1/audit/checkpoint');
      const seen = await api(second, 'GET', '/v1/audit/checkpoint');
      expect(seen.treeSize).toBeGreaterThanOrEqual(signed.treeSize);
      verifyCheckpoint(seen.note, { log: noteVerifierFromKey(publicKey.verifierKey) });
      const still = await cli(['audit', 'verify', '--database-url', DATABASE_URL as string, '--database-schema', schema, '--public-key', keyFile]);
      expect(still.code, still.stdout + still.stderr).toBe(0);
      await second.stop();
      await service.stop();
    } finally {
      await drop();
    }
  }, 60_000);
});
