/**
 * API key format: `<prefix>_<22 base62 random chars><6 base62 CRC32 chars>`, e.g.
 * `kl_live_4Gx...`. 22 base62 characters carry 130 bits of randomness (NIST SP 800-63B asks
 * >= 112 for a fast one-way hash to be enough). The checksum lets gateways and secret scanners
 * reject look-alikes offline, as GitHub's tokens do, and `_` keeps double-click selecting the
 * whole key. The prefix tells environments apart.
 */
import { crc32 } from 'node:zlib';

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const RANDOM_LENGTH = 22;
export const CHECKSUM_LENGTH = 6;
/** Longest key we will even look at; anything longer is malformed without further work. */
export const MAX_KEY_LENGTH = 128;

const PREFIX = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const BODY = /^[0-9A-Za-z]+$/;

export function encodeBase62(value: number, width: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

export function checksumOf(prefix: string, random: string): string {
  return encodeBase62(crc32(`${prefix}_${random}`) >>> 0, CHECKSUM_LENGTH);
}

export function isValidPrefix(prefix: string): boolean {
  return prefix.length <= 32 && PREFIX.test(prefix);
}

export interface ParsedKey {
  prefix: string;
  random: string;
  checksum: string;
}

/** Splits and checks a presented key; null when the format or checksum is wrong. Never throws. */
export function parseKey(key: unknown): ParsedKey | null {
  if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH) return null;
  const split = key.lastIndexOf('_');
  if (split <= 0) return null;
  const prefix = key.slice(0, split);
  const body = key.slice(split + 1);
  if (body.length !== RANDOM_LENGTH + CHECKSUM_LENGTH || !BODY.test(body) || !isValidPrefix(prefix)) return null;
  const random = body.slice(0, RANDOM_LENGTH);
  const checksum = body.slice(RANDOM_LENGTH);
  return checksumOf(prefix, random) === checksum ? { prefix, random, checksum } : null;
}

/** True when the key has the right shape and checksum (no lookup: a gateway can call this offline). */
export function isWellFormedKey(key: unknown): key is string {
  return parseKey(key) !== null;
}

/** A display hint that identifies a key to a person without revealing it: prefix and last 4. */
export function keyHint(key: string): string {
  const split = key.lastIndexOf('_');
  return `${key.slice(0, split + 1)}…${key.slice(-4)}`;
}
