/**
 * The cache key of a presented key: its SHA-256 digest, as the service stores it. The verifier
 * never keeps a plaintext key in memory longer than the call that carried it.
 */
import * as crypto from 'node:crypto';

type OneShotHash = (algorithm: string, data: string, encoding: 'base64') => string;
// crypto.hash (Node >= 20.12) skips the Hash object and is markedly faster on the hot path.
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

export const digestOf: (key: string) => string = oneShot
  ? (key) => oneShot('sha256', key, 'base64')
  : (key) => crypto.createHash('sha256').update(key).digest('base64');
