import { describe, expect, it } from 'vitest';
import {
  BASE62,
  CHECKSUM_LENGTH,
  checksumOf,
  encodeBase62,
  isValidPrefix,
  isWellFormedKey,
  keyHint,
  MAX_KEY_LENGTH,
  parseKey,
  RANDOM_LENGTH,
} from '../src/index.js';

const RANDOM = '4GxQm2Xw9bLp0RkTz8aB3c';
const keyWith = (prefix: string, random = RANDOM) => `${prefix}_${random}${checksumOf(prefix, random)}`;
const VALID = keyWith('kl_live');

describe('encodeBase62 / checksumOf', () => {
  it('encodes fixed-width, most significant digit first', () => {
    expect(encodeBase62(0, 3)).toBe('000');
    expect(encodeBase62(61, 1)).toBe('z');
    expect(encodeBase62(62, 2)).toBe('10');
    expect(encodeBase62(62 * 62 - 1, 2)).toBe('zz');
    // The widest CRC32 still fits in the checksum width.
    expect(encodeBase62(0xffffffff, CHECKSUM_LENGTH)).toMatch(new RegExp(`^[${BASE62}]{${CHECKSUM_LENGTH}}$`));
    expect(encodeBase62(0xffffffff, CHECKSUM_LENGTH)).not.toBe(encodeBase62(0, CHECKSUM_LENGTH));
  });

  it('the checksum depends on prefix and random part', () => {
    expect(checksumOf('kl_live', RANDOM)).toHaveLength(CHECKSUM_LENGTH);
    expect(checksumOf('kl_live', RANDOM)).toBe(checksumOf('kl_live', RANDOM));
    expect(checksumOf('kl_test', RANDOM)).not.toBe(checksumOf('kl_live', RANDOM));
    expect(checksumOf('kl_live', `${RANDOM.slice(1)}x`)).not.toBe(checksumOf('kl_live', RANDOM));
  });
});

describe('parseKey', () => {
  it('splits a well-formed key', () => {
    expect(parseKey(VALID)).toEqual({ prefix: 'kl_live', random: RANDOM, checksum: checksumOf('kl_live', RANDOM) });
    expect(isWellFormedKey(VALID)).toBe(true);
  });

  it('accepts any valid prefix, including several parts', () => {
    for (const prefix of ['k', 'kl_test', 'acme_prod_v2', 'a1_b2_c3', 'x'.repeat(32)]) {
      expect(parseKey(keyWith(prefix))?.prefix, prefix).toBe(prefix);
    }
  });

  it('rejects a wrong checksum', () => {
    const wrong = VALID.slice(0, -1) + (VALID.endsWith('0') ? '1' : '0');
    expect(parseKey(wrong)).toBeNull();
    // A valid checksum of another prefix is still wrong.
    expect(parseKey(`kl_live_${RANDOM}${checksumOf('kl_test', RANDOM)}`)).toBeNull();
  });

  it('rejects a body one character short or long', () => {
    expect(parseKey(keyWith('kl_live', RANDOM.slice(1)))).toBeNull();
    expect(parseKey(keyWith('kl_live', `${RANDOM}a`))).toBeNull();
    expect(parseKey(VALID.slice(0, -1))).toBeNull();
    expect(parseKey(`${VALID}0`)).toBeNull();
    expect(VALID.length - 'kl_live_'.length).toBe(RANDOM_LENGTH + CHECKSUM_LENGTH);
  });

  it('rejects bad prefixes even with a matching checksum', () => {
    for (const prefix of ['KL_live', 'kl-live', 'kl__live', 'kl_live_', '1kl', 'kl live', 'x'.repeat(33), 'klé']) {
      expect(parseKey(keyWith(prefix)), prefix).toBeNull();
      expect(isValidPrefix(prefix), prefix).toBe(false);
    }
    expect(parseKey(`_${RANDOM}${checksumOf('', RANDOM)}`)).toBeNull();
    expect(parseKey(`${RANDOM}${checksumOf('', RANDOM)}`)).toBeNull();
  });

  it('rejects characters outside base62 in the body', () => {
    const bad = `kl_live_${RANDOM.slice(0, -1)}-`;
    expect(parseKey(`${bad}${checksumOf('kl_live', `${RANDOM.slice(0, -1)}-`)}`)).toBeNull();
    expect(parseKey(` ${VALID}`)).toBeNull();
    expect(parseKey(`${VALID}\n`)).toBeNull();
  });

  it('rejects a 10 kB string without looking further, and anything longer than the maximum', () => {
    expect(parseKey(VALID + 'a'.repeat(10_240))).toBeNull();
    expect(parseKey('kl_live_' + 'a'.repeat(10_240))).toBeNull();
    expect(parseKey('x'.repeat(MAX_KEY_LENGTH + 1))).toBeNull();
  });

  it('rejects non-strings without throwing', () => {
    for (const value of [undefined, null, 42, true, {}, [], Buffer.from(VALID), { toString: () => VALID }]) {
      expect(parseKey(value)).toBeNull();
      expect(isWellFormedKey(value)).toBe(false);
    }
  });

  it('rejects the empty string and bare separators', () => {
    for (const value of ['', '_', '__', 'kl_live_', 'kl_live']) expect(parseKey(value), value).toBeNull();
  });
});

describe('keyHint', () => {
  it('shows the prefix and the last four characters only', () => {
    expect(keyHint(VALID)).toBe(`kl_live_…${VALID.slice(-4)}`);
    expect(keyHint(VALID)).not.toContain(RANDOM);
  });
});
