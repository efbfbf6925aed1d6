/**
 * The log's Ed25519 signing key, kept outside the database: whoever can write the database still
 * cannot sign a history the key holder never saw. It comes from KEYLEDGER_AUDIT_SIGNING_KEY (a
 * `PRIVATE+KEY+<origin>+<id>+<base64>` string, the Go note encoding; set the same one on every
 * instance of a PostgreSQL installation) or from `<data dir>/audit-signing-key`, created 0600
 * atomically on first start. The key's name is the log's origin.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  decodeSignerKey,
  generateNoteKeyPair,
  isValidKeyName,
  keyIdHex,
  NoteError,
  noteKeyPairFromSeed,
  noteSignerFromKey,
  noteVerifierFromKey,
  type NoteSigner,
  type NoteVerifier,
} from '@keyledger/schemas';
import { SECRET_FILE_MODE, writeSecretFile } from '../app/secret-file.js';

export interface AuditKey {
  origin: string;
  /** The secret `PRIVATE+KEY+...` string (handed to the integrator's worker thread; never logged). */
  signerKey: string;
  signer: NoteSigner;
  verifier: NoteVerifier;
  /** `<origin>+<hex id>+<base64>`: public, what clients and witnesses pin. */
  verifierKey: string;
  keyIdHex: string;
}

export class AuditKeyError extends Error {
  override name = 'AuditKeyError';
}

export const AUDIT_KEY_FILE = 'audit-signing-key';

/** The key from a signer key string; throws AuditKeyError naming what is wrong. */
export function auditKeyFromSignerKey(signerKey: string, where: string): AuditKey {
  try {
    const decoded = decodeSignerKey(signerKey.trim());
    const signer = noteSignerFromKey(signerKey.trim());
    const { verifierKey } = noteKeyPairFromSeed(decoded.name, decoded.key, decoded.type);
    return { origin: decoded.name, signerKey: signerKey.trim(), signer, verifier: noteVerifierFromKey(verifierKey), verifierKey, keyIdHex: keyIdHex(decoded.keyId) };
  } catch (error) {
    if (error instanceof NoteError) throw new AuditKeyError(`${where} is not an audit signing key (PRIVATE+KEY+<origin>+<id>+<base64>): ${error.message}`);
    throw error;
  }
}

/** A default origin: unique per installation (a witness tracks one tree per origin). */
export function defaultOrigin(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '').slice(0, 64) || 'host';
  return `keyledger/${host}/${randomBytes(4).toString('hex')}`;
}

/**
 * Resolves the signing key: the configured one, else the data directory's file, else (when
 * `create`) a new key written there exclusively (two processes starting together agree on one).
 */
export function resolveAuditKey(options: { configured: string | undefined; origin: string | undefined; file: string; create: boolean }): AuditKey {
  let key: AuditKey | undefined;
  if (options.configured) key = auditKeyFromSignerKey(options.configured, 'KEYLEDGER_AUDIT_SIGNING_KEY');
  else key = readKeyFile(options.file);
  if (!key) {
    if (!options.create) throw new AuditKeyError(`no audit signing key: ${options.file} does not exist and KEYLEDGER_AUDIT_SIGNING_KEY is not set`);
    const origin = options.origin ?? defaultOrigin();
    if (!isValidKeyName(origin)) throw new AuditKeyError(`KEYLEDGER_AUDIT_ORIGIN '${origin}' is not a valid key name (no spaces, no '+')`);
    const pair = generateNoteKeyPair(origin);
    try {
      writeSecretFile(options.file, `${pair.signerKey}\n`, { exclusive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    key = readKeyFile(options.file) as AuditKey;
  }
  if (options.origin !== undefined && options.origin !== key.origin) {
    throw new AuditKeyError(`KEYLEDGER_AUDIT_ORIGIN is '${options.origin}' but the audit signing key is for origin '${key.origin}'`);
  }
  return key;
}

function readKeyFile(file: string): AuditKey | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const key = auditKeyFromSignerKey(text, `the audit signing key file ${file}`);
  chmodSync(file, SECRET_FILE_MODE);
  return key;
}
