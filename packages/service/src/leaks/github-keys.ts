/**
 * GitHub's secret scanning partner protocol signs each report: `Github-Public-Key-Signature` is
 * a base64 ECDSA P-256 / SHA-256 signature (DER) over the raw request body, made with the key
 * named by `Github-Public-Key-Identifier`. GitHub publishes its keys at
 * https://api.github.com/meta/public_keys/secret_scanning; this service does not fetch them
 * (no outbound calls from the ledger), the operator saves that document to a file
 * (KEYLEDGER_GITHUB_SCANNING_KEYS_FILE), read at start.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface GithubKeys {
  /** True when the signature over `body` verifies with the named key. Never throws. */
  verify(keyIdentifier: string, signatureBase64: string, body: Buffer): boolean;
  readonly size: number;
}

interface KeysDocument {
  public_keys?: { key_identifier?: unknown; key?: unknown }[];
}

export function parseGithubKeys(text: string): GithubKeys {
  const document = JSON.parse(text) as KeysDocument;
  if (!Array.isArray(document.public_keys)) throw new Error('not a GitHub public keys document: no public_keys array');
  const keys = new Map<string, KeyObject>();
  for (const entry of document.public_keys) {
    if (typeof entry.key_identifier !== 'string' || typeof entry.key !== 'string') throw new Error('a public key entry lacks key_identifier or key');
    const key = createPublicKey(entry.key);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error(`key ${entry.key_identifier} is not an ECDSA P-256 key`);
    }
    keys.set(entry.key_identifier, key);
  }
  return {
    size: keys.size,
    verify(keyIdentifier, signatureBase64, body) {
      const key = keys.get(keyIdentifier);
      if (!key || !/^[A-Za-z0-9+/]+={0,2}$/.test(signatureBase64)) return false;
      try {
        return verify('sha256', body, { key, dsaEncoding: 'der' }, Buffer.from(signatureBase64, 'base64'));
      } catch {
        return false;
      }
    },
  };
}

export function loadGithubKeys(file: string): GithubKeys {
  return parseGithubKeys(readFileSync(file, 'utf8'));
}
