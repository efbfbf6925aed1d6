import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  EVENT_LEAF_FORMAT,
  leafHashOfEvent,
  leafHashOfPublicView,
  leafOfEvent,
  newSealSalt,
  sealEvent,
  toHex,
  type LoggableEvent,
} from '../../src/index.js';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const DIGEST = 'a'.repeat(64);
const SALT = new Uint8Array(16).fill(7);

const revoked: LoggableEvent = {
  id: '0b6f3f0e-1d2c-4c55-9e39-3f2a1f0b9a11',
  stream: 'key-key_3kTz8Qm2Xw9bLp0R',
  revision: 3,
  type: 'KeyRevoked',
  data: { reason: 'leaked', keyId: 'key_3kTz8Qm2Xw9bLp0R' },
  metadata: { schemaVersion: 1, actor: { kind: 'key', id: 'key_admin0000000000001' }, occurredAt: '2026-12-01T10:00:00.000Z' },
};

const issued: LoggableEvent = {
  id: '5d1c7a52-8c1e-4c3b-a8b4-6f0e2d9c1b77',
  stream: 'key-key_3kTz8Qm2Xw9bLp0R',
  revision: 0,
  type: 'KeyIssued',
  data: { keyId: 'key_3kTz8Qm2Xw9bLp0R', digest: DIGEST, hint: 'kl_live_4Gx...', scopes: ['orders:read'] },
  metadata: { schemaVersion: 2, idempotencyKey: 'order-42', requestHash: 'r'.repeat(64), occurredAt: '2026-12-01T09:00:00.000Z' },
};

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units, as the RFC 8785 §3.2.3 example', () => {
    const input = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    // (Compared as text: JSON.parse would move the integer-like key '1' to the front.)
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
        '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serialises numbers and literals as the RFC 8785 §3.2.2 example, with no whitespace', () => {
    const input = { numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001], literals: [null, true, false], string: '\u20ac$\u000f\nA\'B"\\\\"/' };
    expect(canonicalJson(input)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  });

  it('does not depend on the order keys were written in, and refuses what JSON cannot hold', () => {
    expect(canonicalJson({ b: { y: 1, x: 2 }, a: [] })).toBe(canonicalJson({ a: [], b: { x: 2, y: 1 } }));
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/NaN/);
    expect(() => canonicalJson({ n: Number.POSITIVE_INFINITY })).toThrow(/Infinity/);
  });
});

describe('the leaf of an event', () => {
  it('is the canonical JSON of format, id, stream, revision, type, data and metadata', () => {
    // Written by hand from the format in leaf.ts, not produced by the code under test.
    const expected =
      `{"data":{"keyId":"key_3kTz8Qm2Xw9bLp0R","reason":"leaked"},"id":"0b6f3f0e-1d2c-4c55-9e39-3f2a1f0b9a11","leaf":"${EVENT_LEAF_FORMAT}",` +
      '"metadata":{"actor":{"id":"key_admin0000000000001","kind":"key"},"occurredAt":"2026-12-01T10:00:00.000Z","schemaVersion":1},' +
      '"revision":3,"stream":"key-key_3kTz8Qm2Xw9bLp0R","type":"KeyRevoked"}';
    expect(text(leafOfEvent(revoked))).toBe(expected);
    expect(toHex(leafHashOfEvent(revoked))).toBe(createHash('sha256').update(Buffer.concat([Buffer.of(0), Buffer.from(expected)])).digest('hex'));
  });

  it('changes with every part of the event', () => {
    const base = toHex(leafHashOfEvent(revoked));
    const variants: LoggableEvent[] = [
      { ...revoked, id: 'another-id' },
      { ...revoked, stream: 'key-key_other00000000000' },
      { ...revoked, revision: 4 },
      { ...revoked, type: 'KeySuspended' },
      { ...revoked, data: { ...(revoked.data as object), reason: 'leaked!' } },
      { ...revoked, metadata: { ...(revoked.metadata as object), occurredAt: '2026-12-01T10:00:00.001Z' } },
    ];
    const hashes = variants.map((event) => toHex(leafHashOfEvent(event)));
    expect(new Set([base, ...hashes]).size).toBe(variants.length + 1);
  });

  it('refuses an event without a proper revision', () => {
    expect(() => leafOfEvent({ ...revoked, revision: -1 })).toThrow(/revision/);
    expect(() => leafOfEvent({ ...revoked, revision: 1.5 })).toThrow(/revision/);
  });
});

describe('sealed private fields', () => {
  it('an event with private fields cannot be made a leaf without a salt', () => {
    expect(() => leafOfEvent(issued)).toThrow(/data\.digest, metadata\.idempotencyKey, metadata\.requestHash.*salt/);
    expect(() => leafOfEvent(issued, { salt: new Uint8Array(8) })).toThrow(/at least 16 bytes/);
  });

  it('the public view leaves them out, and with its seal still gives the same leaf hash', () => {
    const view = sealEvent(issued, { salt: SALT });
    expect(view.data).toEqual({ keyId: 'key_3kTz8Qm2Xw9bLp0R', hint: 'kl_live_4Gx...', scopes: ['orders:read'] });
    expect(view.metadata).toEqual({ schemaVersion: 2, occurredAt: '2026-12-01T09:00:00.000Z' });
    expect(view.sealed?.fields).toEqual(['data.digest', 'metadata.idempotencyKey', 'metadata.requestHash']);
    const viewText = JSON.stringify(view);
    for (const secret of [DIGEST, 'order-42', 'r'.repeat(64)]) expect(viewText).not.toContain(secret);
    expect(toHex(leafHashOfPublicView(view))).toBe(toHex(leafHashOfEvent(issued, { salt: SALT })));
  });

  it('the seal is SHA-256(salt || canonical private values)', () => {
    const hidden = '{"data":{"digest":"' + DIGEST + '"},"metadata":{"idempotencyKey":"order-42","requestHash":"' + 'r'.repeat(64) + '"}}';
    const expected = createHash('sha256').update(SALT).update(hidden).digest('base64');
    expect(sealEvent(issued, { salt: SALT }).sealed?.hash).toBe(expected);
  });

  it('a changed digest, a changed idempotency key or another salt changes the leaf', () => {
    const base = toHex(leafHashOfEvent(issued, { salt: SALT }));
    const otherDigest = { ...issued, data: { ...(issued.data as object), digest: 'b'.repeat(64) } };
    const otherKey = { ...issued, metadata: { ...(issued.metadata as object), idempotencyKey: 'order-43' } };
    expect(toHex(leafHashOfEvent(otherDigest, { salt: SALT }))).not.toBe(base);
    expect(toHex(leafHashOfEvent(otherKey, { salt: SALT }))).not.toBe(base);
    expect(toHex(leafHashOfEvent(issued, { salt: newSealSalt() }))).not.toBe(base);
    expect(newSealSalt()).toHaveLength(16);
  });

  it('a leaf made under other private field lists stays reproducible with those lists', () => {
    const options = { salt: SALT, privateDataFields: ['hint'], privateMetadataFields: [] };
    const view = sealEvent(issued, options);
    expect(view.sealed?.fields).toEqual(['data.hint']);
    expect((view.data as Record<string, unknown>).digest).toBe(DIGEST);
    expect(toHex(leafHashOfPublicView(view))).toBe(toHex(leafHashOfEvent(issued, options)));
    expect(toHex(leafHashOfEvent(issued, options))).not.toBe(toHex(leafHashOfEvent(issued, { salt: SALT })));
  });

  it('an event without private fields needs no salt and carries no seal', () => {
    expect(sealEvent(revoked).sealed).toBeUndefined();
    // A private field that is undefined is absent, as it is once the store has written the event.
    const withUndefined = { ...revoked, metadata: { ...(revoked.metadata as object), idempotencyKey: undefined } };
    expect(toHex(leafHashOfEvent(withUndefined))).toBe(toHex(leafHashOfEvent(revoked)));
    expect(toHex(leafHashOfEvent(revoked, { salt: SALT }))).toBe(toHex(leafHashOfEvent(revoked)));
  });
});
