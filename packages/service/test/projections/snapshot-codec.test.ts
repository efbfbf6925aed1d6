import { describe, expect, it } from 'vitest';
import type { KeyState } from '../../src/domain/keys/index.js';
import { decodeKeyStates, encodeKeyStates } from '../../src/projections/key-snapshot-codec.js';
import type { SnapshotPart } from '../../src/projections/snapshot-part.js';
import { decodeSnapshot, encodeSnapshot, incompatibility, SNAPSHOT_FORMAT } from '../../src/projections/snapshots.js';

const everyField: KeyState = {
  kind: 'management',
  consumerId: 'acme',
  planId: 'gold',
  name: 'checkout backend — ünïcode',
  environment: 'test',
  digest: 'ab'.repeat(32),
  hint: 'kl_test_…Wx9z',
  scopes: ['orders:read', 'orders:write'],
  endpoints: ['GET /orders/*'],
  permissions: ['keys:read'],
  expiresAt: '2031-01-01T00:00:00.000Z',
  meta: { team: 'payments', nested: { a: [1, 2] } },
  rateLimit: { limit: 100, windowSeconds: 60 },
  quota: { limit: 10_000, period: 'day' },
  rotatedFrom: 'key_0000000000000000prev',
  networks: ['10.0.0.0/8'],
  id: 'key_0123456789abcdefABCD',
  rotatedTo: 'key_0000000000000000next',
  validUntil: '2030-06-02T00:00:00.000Z',
  suspended: true,
  suspendedReason: 'fraud check',
  revoked: true,
  revokedAt: '2030-06-03T00:00:00.000Z',
  revokedReason: 'leaked',
  createdAt: '2030-06-01T00:00:00.000Z',
  updatedAt: '2030-06-03T00:00:00.000Z',
  revision: 7,
};

const bare: KeyState = {
  ...everyField,
  kind: 'consumer',
  id: 'key_0123456789abcdefBARE',
  digest: 'cd'.repeat(32),
  planId: null,
  name: null,
  scopes: [],
  endpoints: [],
  permissions: [],
  expiresAt: null,
  meta: {},
  rateLimit: null,
  quota: null,
  rotatedFrom: null,
  networks: [],
  rotatedTo: null,
  validUntil: null,
  suspended: false,
  suspendedReason: null,
  revoked: false,
  revokedAt: null,
  revokedReason: null,
  updatedAt: everyField.createdAt,
  revision: 0,
};

const part = (name: string, version: number, bytes = Buffer.from(name)): SnapshotPart => ({
  name,
  snapshotVersion: version,
  encodeSnapshot: () => bytes,
  restoreSnapshot: () => undefined,
  reset: () => undefined,
});

describe('key snapshot codec', () => {
  it('given states with every field set and with every field empty, when encoded and decoded, then they come back identical and in order', () => {
    const states = [everyField, bare, { ...bare, id: 'key_0123456789abcdefTHRD', digest: 'ef'.repeat(32), meta: { team: 'payments', nested: { a: [1, 2] } } }];
    const decoded = decodeKeyStates(encodeKeyStates(states));
    expect(decoded).toEqual(states);
    expect(Object.keys(decoded[0]!)).toEqual(Object.keys(everyField));
  });

  it('given many keys sharing values, when decoded, then they share one object per distinct value (no per-key copies)', () => {
    const states = Array.from({ length: 100 }, (_, i) => ({ ...everyField, id: `key_${String(i).padStart(20, '0')}`, meta: { team: 'payments', nested: { a: [1, 2] } } }));
    const decoded = decodeKeyStates(encodeKeyStates(states));
    expect(new Set(decoded.map((s) => s.meta)).size).toBe(1);
    expect(new Set(decoded.map((s) => s.scopes)).size).toBe(1);
  });

  it('given a truncated encoding, when decoded, then it throws instead of returning partial state', () => {
    const bytes = encodeKeyStates([everyField, bare]);
    expect(() => decodeKeyStates(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated|trailing/);
  });
});

describe('snapshot container', () => {
  it('given parts, when encoded and decoded, then the checkpoint and every part come back', () => {
    const decoded = decodeSnapshot(encodeSnapshot('42', [part('keys', 1), part('quota-usage', 3)]));
    expect(decoded).toEqual({ format: SNAPSHOT_FORMAT, checkpoint: '42', parts: [
      { name: 'keys', version: 1, data: Buffer.from('keys') },
      { name: 'quota-usage', version: 3, data: Buffer.from('quota-usage') },
    ] });
    expect(incompatibility(decoded, [part('keys', 1), part('quota-usage', 3)])).toBeUndefined();
  });

  it('given a snapshot of another part version or another set of parts, then it is incompatible and says why', () => {
    const decoded = decodeSnapshot(encodeSnapshot('42', [part('keys', 1)]));
    expect(incompatibility(decoded, [part('keys', 2)])).toMatch(/keys@1.*keys@2/);
    expect(incompatibility(decoded, [part('keys', 1), part('quota-usage', 1)])).toMatch(/quota-usage@1/);
  });

  it('given one flipped byte anywhere, when decoded, then the checksum rejects it', () => {
    const bytes = encodeSnapshot('42', [part('keys', 1, Buffer.alloc(100, 7))]);
    for (const at of [0, 10, 60, bytes.length - 1]) {
      const corrupt = Buffer.from(bytes);
      corrupt[at] = (corrupt[at] as number) ^ 0x01;
      expect(() => decodeSnapshot(corrupt)).toThrow(/checksum|not a keyledger snapshot/);
    }
    expect(() => decodeSnapshot(Buffer.from('garbage'))).toThrow(/not a keyledger snapshot/);
  });
});
