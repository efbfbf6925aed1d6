import { createHash } from 'node:crypto';
import { BASE62, KeyId, keyHint, parseKey, RANDOM_LENGTH } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import {
  base62FromBytes,
  deriveKey,
  digestKey,
  generateKey,
  KEY_PREFIXES,
  newKeyId,
} from '../../src/domain/key-material.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const SECRET = Buffer.from('a server secret of at least thirty-two characters');

/** Replaces the character at `index` with another base62 character. */
function mutate(key: string, index: number, shift: number): string {
  const current = BASE62.indexOf(key[index]!);
  const replacement = BASE62[(current + shift) % 62]!;
  return key.slice(0, index) + replacement + key.slice(index + 1);
}

/** Pearson's chi-square statistic of character counts against a uniform base62 distribution. */
function chiSquare(text: string): number {
  const counts = new Map<string, number>();
  for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
  const expected = text.length / 62;
  let sum = 0;
  for (const char of BASE62) sum += ((counts.get(char) ?? 0) - expected) ** 2 / expected;
  return sum;
}

describe('KEY_PREFIXES', () => {
  it('are kl_live and kl_test', () => {
    expect(KEY_PREFIXES).toEqual({ live: 'kl_live', test: 'kl_test' });
  });
});

describe('generateKey', () => {
  const keys = Array.from({ length: 1000 }, () => generateKey(KEY_PREFIXES.live));

  it('1,000 keys all parse with the right prefix, are distinct, and have the right digest and hint', () => {
    for (const key of keys) {
      const parsed = parseKey(key.plaintext);
      expect(parsed, key.hint).not.toBeNull();
      expect(parsed!.prefix).toBe('kl_live');
      expect(parsed!.random).toHaveLength(RANDOM_LENGTH);
      expect(key.digest).toBe(sha256(key.plaintext));
      expect(key.hint).toBe(keyHint(key.plaintext));
      expect(key.hint).not.toContain(parsed!.random);
    }
    expect(new Set(keys.map((k) => k.plaintext)).size).toBe(1000);
    expect(new Set(keys.map((k) => k.digest)).size).toBe(1000);
  });

  it('any single changed character of the random part, checksum or prefix fails the checksum', () => {
    for (const { plaintext } of keys.slice(0, 50)) {
      const bodyStart = plaintext.lastIndexOf('_') + 1;
      for (let index = bodyStart; index < plaintext.length; index++) {
        for (const shift of [1, 17, 61]) expect(parseKey(mutate(plaintext, index, shift)), `${index}+${shift}`).toBeNull();
      }
      expect(parseKey(plaintext.replace('kl_live', 'kl_test'))).toBeNull();
    }
  });

  it('draws characters uniformly (no modulo bias towards the first 8 characters)', () => {
    // 220,000 characters: uniform gives a statistic around 61 (+-11); the modulo bias of
    // `byte % 62` gives about 1,400. 160 is beyond any plausible uniform sample.
    const randomParts = Array.from({ length: 10_000 }, () => parseKey(generateKey('kl_live').plaintext)!.random).join('');
    expect(chiSquare(randomParts)).toBeLessThan(160);
  });

  it('uses the prefix it is given and refuses an invalid one', () => {
    expect(parseKey(generateKey('kl_test').plaintext)?.prefix).toBe('kl_test');
    expect(parseKey(generateKey('acme_prod_v2').plaintext)?.prefix).toBe('acme_prod_v2');
    for (const bad of ['', 'KL_live', 'kl-live', 'kl_', '_kl', 'x'.repeat(33)]) {
      expect(() => generateKey(bad), bad).toThrow(RangeError);
      expect(() => generateKey(bad), bad).toThrow(/invalid key prefix/);
    }
  });
});

describe('deriveKey', () => {
  it('is deterministic for the same secret and label, and well formed', () => {
    const a = deriveKey('kl_live', SECRET, 'issue\nactor\nidem-1');
    const b = deriveKey('kl_live', Buffer.from(SECRET), 'issue\nactor\nidem-1');
    expect(a).toEqual(b);
    expect(parseKey(a.plaintext)).not.toBeNull();
    expect(a.digest).toBe(sha256(a.plaintext));
    expect(a.hint).toBe(keyHint(a.plaintext));
  });

  it('differs across labels, secrets and prefixes', () => {
    const labels = Array.from({ length: 500 }, (_, i) => `issue\nactor\nidem-${i}`);
    const byLabel = labels.map((label) => deriveKey('kl_live', SECRET, label).plaintext);
    expect(new Set(byLabel).size).toBe(labels.length);
    const otherSecret = Buffer.from('another server secret, also long enough!');
    expect(deriveKey('kl_live', otherSecret, labels[0]!).plaintext).not.toBe(byLabel[0]);
    const test = parseKey(deriveKey('kl_test', SECRET, labels[0]!).plaintext)!;
    expect(test.prefix).toBe('kl_test');
  });

  it('does not reveal the label in the key', () => {
    const key = deriveKey('kl_live', SECRET, 'AAAAAAAAAAAAAAAAAAAAAA');
    expect(parseKey(key.plaintext)!.random).not.toBe('AAAAAAAAAAAAAAAAAAAAAA');
  });

  it('draws characters uniformly across labels', () => {
    const text = Array.from({ length: 10_000 }, (_, i) => parseKey(deriveKey('kl_live', SECRET, `l${i}`).plaintext)!.random).join('');
    expect(chiSquare(text)).toBeLessThan(160);
  });

  it('refuses a short secret and an invalid prefix', () => {
    expect(() => deriveKey('kl_live', Buffer.alloc(15, 1), 'x')).toThrow(/at least 16 bytes/);
    expect(() => deriveKey('KL', SECRET, 'x')).toThrow(/invalid key prefix/);
  });
});

describe('base62FromBytes', () => {
  it('skips bytes of 248 and above and asks for more blocks until it has enough', () => {
    const blocks = [Buffer.from([255, 248, 0, 61]), Buffer.from([249, 62, 247]), Buffer.from([1, 2, 3])];
    let asked = 0;
    const out = base62FromBytes(5, () => blocks[asked++]!);
    // 0 -> '0', 61 -> 'z', 62 -> '0', 247 -> 247 % 62 = 61 -> 'z', 1 -> '1'
    expect(out).toBe('0z0z1');
    expect(asked).toBe(3);
  });
});

describe('newKeyId', () => {
  it('gives 1,000 distinct ids of key_ and 20 base62 characters, all valid KeyIds', () => {
    const ids = Array.from({ length: 1000 }, () => newKeyId());
    for (const id of ids) {
      expect(id).toMatch(/^key_[0-9A-Za-z]{20}$/);
      expect(KeyId.safeParse(id).success).toBe(true);
    }
    expect(new Set(ids).size).toBe(1000);
  });
});

describe('digestKey', () => {
  it('is the hex SHA-256 of the UTF-8 text', () => {
    expect(digestKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(digestKey('kl_live_x')).toMatch(/^[0-9a-f]{64}$/);
  });
});
