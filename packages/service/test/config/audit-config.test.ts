/** The transparency log's settings: a signing key from the environment or the data directory, validated at start. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateNoteKeyPair } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { AuditKeyError, resolveAuditKey } from '../../src/audit/signing-key.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('audit configuration', () => {
  it('defaults: a key file in the data directory, a checkpoint every 500 ms, any witness', () => {
    const config = loadConfig({ KEYLEDGER_DATA_DIR: '/srv/kl' });
    expect(config.audit).toEqual({ signingKey: undefined, keyFile: '/srv/kl/audit-signing-key', origin: undefined, checkpointIntervalMs: 500, witnesses: [] });
  });

  it('takes a signing key, an origin, a cadence and witness keys from the environment', () => {
    const pair = generateNoteKeyPair('example.com/log');
    const config = loadConfig({
      KEYLEDGER_AUDIT_SIGNING_KEY: pair.signerKey,
      KEYLEDGER_AUDIT_ORIGIN: 'example.com/log',
      KEYLEDGER_AUDIT_CHECKPOINT_INTERVAL_MS: '250',
      KEYLEDGER_AUDIT_WITNESSES: 'w1+00000000+AA, w2+00000000+AA',
    });
    expect(config.audit).toMatchObject({ signingKey: pair.signerKey, origin: 'example.com/log', checkpointIntervalMs: 250, witnesses: ['w1+00000000+AA', 'w2+00000000+AA'] });
    expect(resolveAuditKey({ configured: config.audit.signingKey, origin: config.audit.origin, file: '/nonexistent', create: false }).verifierKey).toBe(pair.verifierKey);
  });

  it.each([
    ['KEYLEDGER_AUDIT_SIGNING_KEY', 'not a key'],
    ['KEYLEDGER_AUDIT_ORIGIN', 'has spaces'],
    ['KEYLEDGER_AUDIT_CHECKPOINT_INTERVAL_MS', '0'],
  ])('%s=%s is refused, naming the setting', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('creates the key file 0600 once, and refuses an origin other than the key names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-audit-key-'));
    try {
      const file = join(dir, 'audit-signing-key');
      const created = resolveAuditKey({ configured: undefined, origin: 'mine.example/log', file, create: true });
      expect(created.origin).toBe('mine.example/log');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toMatch(/^PRIVATE\+KEY\+mine\.example\/log\+[0-9a-f]{8}\+/);
      expect(resolveAuditKey({ configured: undefined, origin: undefined, file, create: true }).verifierKey).toBe(created.verifierKey);
      expect(() => resolveAuditKey({ configured: undefined, origin: 'other/log', file, create: true })).toThrow(AuditKeyError);
      expect(() => resolveAuditKey({ configured: undefined, origin: undefined, file: join(dir, 'missing'), create: false })).toThrow(/no audit signing key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
