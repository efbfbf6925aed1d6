/**
 * Leaked-key reports end to end against the built service: GitHub's secret scanning partner
 * protocol (ECDSA P-256 signature over the raw body, key chosen by Github-Public-Key-Identifier,
 * public keys from a file) and the generic report behind leaks:write.
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call } from './support/http.js';
import { startService, type ServiceProcess } from './support/service-process.js';

const started: ServiceProcess[] = [];
afterAll(async () => {
  for (const s of started) await s.stop();
});

function githubKeys(): { file: string; privateKey: KeyObject; keyId: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  const file = join(mkdtempSync(join(tmpdir(), 'keyledger-gh-')), 'secret_scanning.json');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  writeFileSync(file, JSON.stringify({ public_keys: [{ key_identifier: keyId, key: pem, is_current: true }] }));
  return { file, privateKey, keyId };
}

async function postGithub(svc: ServiceProcess, body: string, headers: Record<string, string>) {
  const response = await fetch(`${svc.url}/v1/leaks/github`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function verifyCode(svc: ServiceProcess, key: string): Promise<string> {
  return (await call(svc.url, svc.rootKey, 'POST', '/v1/verify', { key })).body.code;
}

async function events(svc: ServiceProcess, type: string): Promise<{ data: Record<string, unknown> }[]> {
  return (await call(svc.url, svc.rootKey, 'GET', `/v1/events?type=${type}&limit=1000`)).body.events;
}

describe('e2e leaked-key reports', () => {
  it('GitHub: a tampered or unsigned report is refused (401); a signed one suspends the key at once; the same report twice acts once', async () => {
    const gh = githubKeys();
    const svc = await startService({ env: { KEYLEDGER_GITHUB_SCANNING_KEYS_FILE: gh.file, KEYLEDGER_LEAK_ACTION: 'suspend' } });
    started.push(svc);
    const leaked = (await call(svc.url, svc.rootKey, 'POST', '/v1/keys', { consumerId: 'acme', scopes: ['orders:read'] })).body;
    const url = 'https://github.com/octo/app/blob/0123abc/config.js';
    const body = JSON.stringify([
      { token: leaked.secret, type: 'keyledger_api_key', url, source: 'content' },
      { token: 'kl_live_notARealKeyAtAll000000000', type: 'keyledger_api_key', url, source: 'content' },
    ]);
    const signature = sign('sha256', Buffer.from(body), gh.privateKey).toString('base64');
    const signed = { 'github-public-key-identifier': gh.keyId, 'github-public-key-signature': signature };

    expect((await postGithub(svc, body, {})).status).toBe(401);
    expect((await postGithub(svc, body.replace('octo', 'otco'), signed)).status).toBe(401);
    expect((await postGithub(svc, body, { ...signed, 'github-public-key-identifier': 'ff'.repeat(32) })).status).toBe(401);
    expect((await postGithub(svc, body, { ...signed, 'github-public-key-signature': 'bm90IGEgc2lnbmF0dXJl' })).status).toBe(401);
    expect(await verifyCode(svc, leaked.secret)).toBe('VALID');
    expect(await events(svc, 'KeyLeakReported')).toHaveLength(0);

    const answer = await postGithub(svc, body, signed);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual([
      { token_hash: createHash('sha256').update(leaked.secret).digest('hex'), token_type: 'keyledger_api_key', label: 'true_positive' },
      { token_hash: createHash('sha256').update('kl_live_notARealKeyAtAll000000000').digest('hex'), token_type: 'keyledger_api_key', label: 'false_positive' },
    ]);
    // At once: the answer came after the suspension was applied on this instance.
    expect(await verifyCode(svc, leaked.secret)).toBe('SUSPENDED');

    expect((await postGithub(svc, body, signed)).status).toBe(200);
    const reported = await events(svc, 'KeyLeakReported');
    expect(reported).toHaveLength(1);
    expect(reported[0]!.data).toMatchObject({ keyId: leaked.id, reporter: 'github', url, source: 'content', action: 'suspend' });
    expect(JSON.stringify(reported)).not.toContain(leaked.secret);
    const history = (await call(svc.url, svc.rootKey, 'GET', `/v1/keys/${leaked.id}/history`)).body.entries as { type: string }[];
    expect(history.filter((entry) => entry.type === 'KeySuspended')).toHaveLength(1);
  });

  it('generic report behind leaks:write revokes with the revoke setting; twice acts once', async () => {
    const svc = await startService({ env: { KEYLEDGER_LEAK_ACTION: 'revoke' } });
    started.push(svc);
    const leaked = (await call(svc.url, svc.rootKey, 'POST', '/v1/keys', { consumerId: 'acme', scopes: ['orders:read'] })).body;
    const reporter = (await call(svc.url, svc.rootKey, 'POST', '/v1/keys', { consumerId: 'ops', permissions: ['leaks:write'] })).body;
    const report = { token: leaked.secret, url: 'https://pastebin.example/abc', reporter: 'scanner-x' };
    const first = await call(svc.url, reporter.secret, 'POST', '/v1/leaks', report);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ label: 'true_positive', keyId: leaked.id, action: 'revoke', replayed: false });
    expect(await verifyCode(svc, leaked.secret)).toBe('REVOKED');
    const again = await call(svc.url, reporter.secret, 'POST', '/v1/leaks', report);
    // Revoked now: still ours (true positive), nothing more to do.
    expect(again.body).toMatchObject({ label: 'true_positive', keyId: leaked.id });
    expect(await events(svc, 'KeyLeakReported')).toHaveLength(1);
    expect(await events(svc, 'KeyRevoked')).toHaveLength(1);
    const junk = await call(svc.url, reporter.secret, 'POST', '/v1/leaks', { token: 'sk_live_something_else' });
    expect(junk.body).toMatchObject({ label: 'false_positive', keyId: null });
    // Without a key file every GitHub report is refused.
    expect((await postGithub(svc, '[]', { 'github-public-key-identifier': 'x', 'github-public-key-signature': 'eA==' })).status).toBe(401);
  });
});
