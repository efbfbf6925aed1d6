/**
 * The operator commands as a user runs them: the built `keyledger` CLI in child processes against
 * a real service process (keys through the SDK, audit history/at over HTTP and from the data
 * directory), then export, import into a fresh data directory, projections rebuild, and the
 * mistakes a user makes (a wrong token, a bad or dead URL, a missing file, a tampered export),
 * each one line with its documented exit code. Also `pnpm exec keyledger` from the repository root.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@keyledger/sdk';
import { SERVICE_ENTRY, type ServiceProcess, startService } from './support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const outside = mkdtempSync(join(tmpdir(), 'keyledger-cli-ops-'));
afterAll(() => rmSync(outside, { recursive: true, force: true }));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string>, cwd = outside, input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const cli = (args: string[], env: Record<string, string> = {}, input?: string) => run(process.execPath, [SERVICE_ENTRY, ...args], env, outside, input);

function json<T = any>(result: Result): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** One line, starting `keyledger: `, and no stack trace anywhere. */
function oneLine(result: Result): string {
  const text = result.stderr.trimEnd();
  expect(text.split('\n'), result.stderr).toHaveLength(1);
  expect(result.stderr + result.stdout).not.toMatch(/\n\s+at /);
  expect(text).toMatch(/^keyledger: /);
  return text;
}

describe('keyledger CLI against a running service', () => {
  let service: ServiceProcess;
  let remote: Record<string, string>;
  beforeAll(async () => {
    service = await startService();
    remote = { KEYLEDGER_URL: service.url, KEYLEDGER_TOKEN: service.rootKey };
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('keys issue/list/get/suspend/reinstate/rotate/revoke, as tables and --json', async () => {
    const issued = json(await cli(['keys', 'issue', '--consumer', 'acme', '--name', 'orders bot', '--scope', 'orders:read,orders:write', '--json'], remote));
    expect(issued.secret).toMatch(/^kl_live_/);
    const id = issued.id as string;

    const table = await cli(['keys', 'list', '--consumer', 'acme'], remote);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+KIND\s+CONSUMER/);
    expect(table.stdout).toContain(`${id}  active`);
    expect(table.stdout).not.toContain(issued.secret);

    // --url/--token override the environment.
    const got = json(await cli(['keys', 'get', id, '--url', service.url, '--token', service.rootKey, '--json'], { KEYLEDGER_URL: 'http://127.0.0.1:1' }));
    expect(got).toMatchObject({ id, status: 'active', scopes: ['orders:read', 'orders:write'] });

    expect(json(await cli(['keys', 'suspend', id, '--reason', 'looked odd', '--json'], remote)).status).toBe('suspended');
    expect(json(await cli(['keys', 'reinstate', id, '--json'], remote)).status).toBe('active');
    const rotated = json(await cli(['keys', 'rotate', id, '--grace', '3600', '--json'], remote));
    expect(rotated.previous.rotatedTo).toBe(rotated.successor.id);
    expect(rotated.successor.secret).toMatch(/^kl_live_/);
    const revoked = await cli(['keys', 'revoke', rotated.successor.id, '--reason', 'done'], remote);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/revoked/);

    // The timeline, over HTTP and straight from the data directory: who, from where, what changed.
    for (const source of [remote, { KEYLEDGER_DATA_DIR: service.dataDir }]) {
      const history = json(await cli(['audit', 'history', id, '--json'], source));
      expect(history.entries.map((e: { type: string }) => e.type)).toEqual(['KeyIssued', 'KeySuspended', 'KeyReinstated', 'KeyRotated']);
      const suspended = history.entries[1];
      expect(suspended.actor).toMatchObject({ kind: 'key' });
      expect(suspended.sourceAddress).toBe('127.0.0.1');
      expect(suspended.changes).toEqual(expect.arrayContaining([{ field: 'suspendedReason', before: null, after: 'looked odd' }]));
      expect(history.entries[3].changes).toEqual(expect.arrayContaining([{ field: 'rotatedTo', before: null, after: rotated.successor.id }]));
    }
    const human = await cli(['audit', 'history', id, '--data-dir', service.dataDir]);
    expect(human.stdout).toMatch(/KeySuspended\s+suspended: false -> true; suspendedReason: null -> "looked odd"/);

    // The state at an instant: suspended between the suspension and the reinstatement.
    const history = json(await cli(['audit', 'history', id, '--json'], remote));
    const whileSuspended = history.entries[1].occurredAt as string;
    const at = json(await cli(['audit', 'at', id, whileSuspended, '--data-dir', service.dataDir, '--json']));
    expect(at).toMatchObject({ kind: 'key', revision: 1, state: { suspended: true, suspendedReason: 'looked odd' } });
    expect(JSON.stringify(at)).not.toContain('digest');
    expect(json(await cli(['audit', 'at', id, whileSuspended, '--json'], remote)).state).toMatchObject({ status: 'suspended' });
    const before = await cli(['audit', 'at', id, '2001-01-01T00:00:00Z', '--data-dir', service.dataDir]);
    expect(before.code).toBe(3);
    expect(oneLine(before)).toContain('did not exist yet');
  });

  it('consumers and plans: register, check, approve, define, issue on the plan, suspend, usage (tables, --json, CSV)', async () => {
    const consumer = json(await cli(['consumers', 'register', '--name', 'Acme', '--email', 'dev@acme.test', '--organisation', 'Acme Ltd', '--json'], remote));
    expect(consumer).toMatchObject({ status: 'pending', name: 'Acme' });
    const checked = json(await cli(['consumers', 'check', consumer.id, 'email_verified', '--evidence', '{"address":"dev@acme.test"}', '--json'], remote));
    expect(checked.checks).toEqual([expect.objectContaining({ check: 'email_verified', passed: true, evidence: { address: 'dev@acme.test' } })]);
    expect(json(await cli(['consumers', 'approve', consumer.id, '--reason', 'identity reviewed', '--json'], remote)).status).toBe('approved');
    const twice = await cli(['consumers', 'approve', consumer.id], remote);
    expect(twice.code).toBe(3);
    expect(oneLine(twice)).toMatch(/not pending/);

    const body = JSON.stringify({ name: 'Starter', quota: { limit: 10_000, period: 'month' }, scopes: ['orders:read'], price: { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 } });
    const plan = json(await cli(['plans', 'define', '--file', '-', '--json'], remote, body));
    expect(plan).toMatchObject({ version: 1, status: 'active' });
    const listed = await cli(['plans', 'list'], remote);
    expect(listed.stdout).toMatch(new RegExp(`${plan.id}\\s+1\\s+active\\s+Starter`));

    const key = json(await cli(['keys', 'issue', '--consumer', consumer.id, '--plan', plan.id, '--json'], remote));
    const client = createClient({ baseUrl: service.url, token: service.rootKey });
    try {
      expect((await client.verify({ key: key.secret })).code).toBe('VALID');
      expect(json(await cli(['consumers', 'suspend', consumer.id, '--reason', 'unpaid', '--json'], remote)).status).toBe('suspended');
      expect((await client.verify({ key: key.secret })).code).toBe('SUSPENDED');
    } finally {
      await client.close();
    }
    const table = await cli(['consumers', 'list', '--status', 'suspended'], remote);
    expect(table.stdout).toContain(consumer.id);

    const period = new Date().toISOString().slice(0, 7);
    const report = json(await cli(['consumers', 'usage', consumer.id, period, '--json'], remote));
    expect(report).toMatchObject({ period, currency: 'EUR', units: 1, charge: 1900 });
    const csv = await cli(['consumers', 'usage', consumer.id, period, '--csv'], remote);
    expect(csv.stdout.split('\n')[0]).toBe('period,consumer_id,plan_id,key_id,units,valid,refused,currency,charge_minor_units');
    const badPeriod = await cli(['plans', 'usage', plan.id, '2026-13'], remote);
    expect(badPeriod.code).toBe(3);
    expect(oneLine(badPeriod)).toMatch(/YYYY-MM/);
  });

  it('export, import into an empty data directory, and projections rebuild: same root, same state', async () => {
    const file = join(outside, 'ledger.ndjson');
    const exported = await cli(['export', '--data-dir', service.dataDir, '--out', file, '--json']);
    const summary = json(exported);
    expect(summary.count).toBeGreaterThan(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ kind: 'trailer', count: summary.count, rootHash: summary.rootHash });

    // stdout export is the same file (but for the header's time), with its summary on stderr.
    const toStdout = await cli(['export', '--data-dir', service.dataDir]);
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdout.trimEnd().split('\n').length).toBe(lines.length);
    expect(toStdout.stderr).toMatch(/^exported \d+ events/);

    const copy = mkdtempSync(join(outside, 'copy-'));
    const imported = json(await cli(['import', '--data-dir', copy, '--json'], {}, readFileSync(file, 'utf8')));
    expect(imported).toMatchObject({ count: summary.count, rootHash: summary.rootHash });
    // The export carries the log's signed checkpoints, and the copy's log holds them over the same tree:
    // its audit verify, trusting the original's public key, finds every leaf, node and signature intact.
    expect(lines.some((line) => line.includes('"kind":"checkpoint"'))).toBe(true);
    const { verifierKey } = (await (await fetch(`${service.url}/v1/audit/public-key`)).json()) as { verifierKey: string };
    const audited = await cli(['audit', 'verify', '--data-dir', copy, '--public-key', verifierKey, '--json']);
    expect(audited.code, audited.stdout + audited.stderr).toBe(0);
    expect(JSON.parse(audited.stdout)).toMatchObject({ ok: true });
    // Re-exported from the copy with the file's salts, the root is the same: the check the import made.
    const again = await cli(['import', '--data-dir', copy, '--in', file]);
    expect(again.code).toBe(1);
    expect(oneLine(again)).toMatch(/already holds \d+ events/);

    const rebuilt = json(await cli(['projections', 'rebuild', '--data-dir', copy, '--json']));
    expect(rebuilt).toMatchObject({ events: summary.count, equal: true, saved: true });
    const live = json(await cli(['projections', 'rebuild', '--data-dir', service.dataDir, '--json']));
    expect(live.equal).toBe(true);
    // The copy's projections are the original's: same digest.
    expect(rebuilt.rebuiltDigest).toBe(live.rebuiltDigest);
    const human = await cli(['projections', 'rebuild', '--data-dir', copy]);
    expect(human.stdout).toMatch(/result\s+equal/);

    // A tampered export is refused, naming the line, and nothing is imported.
    // The first event line (after the header and the log's signed checkpoints).
    const firstEvent = lines.findIndex((line) => line.includes('"kind":"event"'));
    expect(firstEvent).toBeGreaterThan(0);
    const tampered = lines.map((line, i) => (i === firstEvent ? line.replace('"kind":"event"', '"kind":"event","extra":1').replace(/"revision":0/, '"revision":7') : line));
    writeFileSync(join(outside, 'tampered.ndjson'), `${tampered.join('\n')}\n`);
    const empty = mkdtempSync(join(outside, 'empty-'));
    const refused = await cli(['import', '--data-dir', empty, '--in', join(outside, 'tampered.ndjson')]);
    expect(refused.code).toBe(1);
    expect(oneLine(refused)).toMatch(new RegExp(`^keyledger: refused: line ${firstEvent + 1}: .*nothing was imported`));
    expect(json(await cli(['export', '--data-dir', empty, '--out', join(outside, 'e.ndjson'), '--json'])).count).toBe(0);
  });

  it.skipIf(skipWithoutPostgres)('migrate moves the data directory to PostgreSQL and prints every check; a second run is refused', async () => {
    const { schema, drop } = await createSchema('kl_cli_migrate');
    try {
      const moved = json(await cli(['migrate', '--from', service.dataDir, '--to', DATABASE_URL as string, '--to-schema', schema, '--json']));
      expect(moved.ok).toBe(true);
      expect(moved.checks.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['event count', 'tree size', 'root hash', 'projections digest']));
      const table = await cli(['migrate', '--from', join(service.dataDir, 'keyledger.db'), '--to', DATABASE_URL as string, '--to-schema', schema]);
      expect(table.code).toBe(1);
      expect(oneLine(table)).toMatch(/already holds \d+ events/);
      // The moved ledger reads like the original: the same timeline from PostgreSQL.
      const keys = json(await cli(['keys', 'list', '--json'], remote)).items as { id: string }[];
      const fromSqlite = json(await cli(['audit', 'history', keys[0]!.id, '--data-dir', service.dataDir, '--json']));
      const fromPostgres = json(await cli(['audit', 'history', keys[0]!.id, '--database-url', DATABASE_URL as string, '--database-schema', schema, '--json']));
      expect(fromPostgres.entries).toEqual(fromSqlite.entries);
    } finally {
      await drop();
    }
  });

  it('user mistakes: one line each, with the documented exit code', async () => {
    const dead = 'http://127.0.0.1:1';
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['keys', 'list'], { KEYLEDGER_URL: service.url, KEYLEDGER_TOKEN: 'kl_live_wrongwrongwrongwrongwrongwron' }, 3, /refused the API key \(401\)/],
      [['keys', 'list', '--url', 'not a url', '--token', 'x'], {}, 2, /--url 'not a url' is not a URL/],
      [['keys', 'list', '--url', 'ftp://host', '--token', 'x'], {}, 2, /must be an http:\/\/ or https:\/\/ URL/],
      [['keys', 'list', '--url', dead, '--token', service.rootKey], {}, 4, /cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/],
      [['keys', 'list'], {}, 2, /pass --url or set KEYLEDGER_URL/],
      [['keys', 'get', 'key_doesnotexist000000000'], { KEYLEDGER_URL: service.url, KEYLEDGER_TOKEN: service.rootKey }, 3, /^keyledger: 404/],
      [['keys', 'rotate', 'key_x', '--grace', 'soon'], remoteEnv(), 2, /--grace 'soon' is not a whole number/],
      [['import', '--in', join(outside, 'missing.ndjson'), '--data-dir', join(outside, 'x')], {}, 1, /no such file or directory: .*missing\.ndjson/],
      [['export', '--data-dir', join(outside, 'no-such-dir')], {}, 1, /no keyledger database at .*no-such-dir/],
      [['audit', 'history', 'key_abcdefghijklmnopqrst', '--data-dir', service.dataDir], {}, 3, /no key, consumer or plan 'key_abcdefghijklmnopqrst'/],
      [['audit', 'at', 'key_abcdefghijklmnopqrst', 'yesterday', '--data-dir', service.dataDir], {}, 2, /'yesterday' is not an instant/],
      [['migrate', '--from', service.dataDir, '--to', 'mysql://x'], {}, 2, /must be a postgres:\/\/ or postgresql:\/\/ URL/],
      [['migrate', '--from', join(outside, 'nothing-here'), '--to', 'postgres://127.0.0.1:1/x'], {}, 1, /no such file or directory: .*nothing-here/],
    ];
    for (const [args, env, code, message] of cases) {
      const result = await cli(args, env);
      const line = oneLine(result);
      console.log(`keyledger ${args.join(' ').replaceAll(service.rootKey, '<root key>')} -> exit ${result.code}: ${line}`);
      expect(result.code, line).toBe(code);
      expect(line).toMatch(message);
    }
    function remoteEnv() {
      return { KEYLEDGER_URL: service.url, KEYLEDGER_TOKEN: service.rootKey };
    }
  });

  it('--help works on every command', async () => {
    for (const args of [['keys'], ['keys', 'issue'], ['keys', 'rotate'], ['consumers'], ['consumers', 'register'], ['consumers', 'usage'], ['plans'], ['plans', 'define'], ['audit'], ['audit', 'history'], ['audit', 'at'], ['projections', 'rebuild'], ['export'], ['import'], ['migrate']]) {
      const result = await cli([...args, '--help']);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/^Usage: keyledger /);
    }
  });
});

describe('pnpm exec keyledger from the repository root', () => {
  it('runs the built CLI', async () => {
    const result = await run('pnpm', ['exec', 'keyledger', '--version'], { HOME: process.env.HOME ?? tmpdir() }, ROOT);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
