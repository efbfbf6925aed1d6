/**
 * First start: an empty ledger gets a root key with the `admin` permission, printed once to
 * stdout (or taken from KEYLEDGER_ROOT_KEY, for automation). The root key's id is fixed, so
 * instances that start together on one PostgreSQL database create it exactly once.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import { type IssueKeyRequest, keyHint, parseKey } from '@keyledger/schemas';
import type { Logger } from 'pino';
import { digestKey, generateKey } from '../domain/key-material.js';
import { HOST_OPERATOR_AUTHORITY, KeyDomainError, SYSTEM_AUTHORITY } from '../domain/keys/index.js';
import type { KeyProjection } from '../projections/key-projection.js';
import { WrongExpectedRevisionError } from '../store/errors.js';
import { AppError } from './errors.js';
import { deterministicKeyId } from './ids.js';
import { SECRET_FILE_MODE, writeSecretFile } from './secret-file.js';
import type { KeyCommands } from './key-commands.js';

export const ROOT_CONSUMER = 'keyledger-root';
const SYSTEM = { actor: { kind: 'system' as const, id: 'bootstrap' }, authority: SYSTEM_AUTHORITY, requestId: null, sourceAddress: null };

/** What a root key is: an admin management key of keyledger's own consumer. */
function rootKeyRequest(name: string): IssueKeyRequest {
  return {
    consumerId: ROOT_CONSUMER,
    name: name.slice(0, 200),
    environment: 'live',
    kind: 'management',
    scopes: [],
    endpoints: [],
    networks: [],
    permissions: ['admin'],
    meta: {},
  };
}

export class RootKeyError extends Error {
  override name = 'RootKeyError';
}

/** Returns the plaintext root key when this call created one from scratch (to be printed once). */
export async function ensureRootKey(options: {
  commands: KeyCommands;
  keys: KeyProjection;
  rootKey: string | undefined;
  prefix: string;
  logger: Logger;
}): Promise<string | null> {
  const { commands, keys, rootKey, logger } = options;
  let material;
  let keyId;
  if (rootKey !== undefined) {
    if (!parseKey(rootKey)) {
      throw new RootKeyError('KEYLEDGER_ROOT_KEY is not a well-formed keyledger key (prefix, 22 random and 6 checksum base62 characters)');
    }
    const digest = digestKey(rootKey);
    if (keys.getByDigest(digest)) return null;
    material = { plaintext: rootKey, digest, hint: keyHint(rootKey) };
    keyId = deterministicKeyId('root', digest);
  } else {
    if (keys.size > 0) return null;
    material = generateKey(options.prefix);
    keyId = deterministicKeyId('root', 'bootstrap');
  }
  try {
    await commands.issue(rootKeyRequest('root'), SYSTEM, { keyId, material });
  } catch (error) {
    // Another instance bootstrapped at the same moment: its root key stands, ours was never written.
    // The command handler retries a lost append, and the retry then finds the key: KEY_EXISTS.
    const lostRace =
      error instanceof WrongExpectedRevisionError ||
      (error instanceof KeyDomainError && error.code === 'KEY_EXISTS') ||
      (error instanceof AppError && error.status === 409);
    if (lostRace) {
      logger.info('root key already created by another instance');
      return null;
    }
    throw error;
  }
  logger.info({ keyId }, 'root key created');
  return rootKey === undefined ? material.plaintext : null;
}

/** Bytes of a generated server secret, and the fewest a stored one may have. */
export const SERVER_SECRET_BYTES = 32;

export class ServerSecretError extends Error {
  override name = 'ServerSecretError';
}

/**
 * The secret from which idempotently issued keys are derived. Prefer KEYLEDGER_SECRET (shared
 * by all instances); on SQLite one is generated once into the data directory; otherwise each
 * process has its own, and a replay on another process answers without the plaintext.
 *
 * A stored secret that is empty or short (a crash while an older version wrote it) stops the
 * start: deriving keys from it would answer every idempotent issue with an error.
 */
export function resolveServerSecret(options: { configured: string | undefined; file: string | undefined; logger: Logger }): Buffer {
  if (options.configured) return Buffer.from(options.configured, 'utf8');
  if (options.file) {
    const stored = readServerSecret(options.file);
    if (stored) return stored;
    const secret = randomBytes(SERVER_SECRET_BYTES);
    try {
      writeSecretFile(options.file, secret.toString('base64url'), { exclusive: true });
    } catch (error) {
      // Another process on the same data directory wrote it first: use theirs.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readServerSecret(options.file) as Buffer;
      throw error;
    }
    return secret;
  }
  options.logger.warn('KEYLEDGER_SECRET is not set: idempotent replays of issue/rotate on another instance will not return the plaintext key');
  return randomBytes(SERVER_SECRET_BYTES);
}

/** The stored secret, or null when there is no file; throws ServerSecretError on a bad one. */
function readServerSecret(file: string): Buffer | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const secret = Buffer.from(text, 'base64url');
  if (!/^[A-Za-z0-9_-]*$/.test(text) || secret.length < SERVER_SECRET_BYTES) {
    throw new ServerSecretError(
      `the server secret file ${file} is ${text.length === 0 ? 'empty' : `not ${SERVER_SECRET_BYTES} base64url bytes`}: ` +
        'restore it from a backup, or delete it to generate a new one (keys issued with an Idempotency-Key before then can no longer be replayed with their plaintext), or set KEYLEDGER_SECRET',
    );
  }
  // Tighten a file left readable by others (written by an older version).
  chmodSync(file, SECRET_FILE_MODE);
  return secret;
}

export interface RootKeyReset {
  keyId: string;
  /** The new admin key's plaintext: print it once, never log it. */
  secret: string;
  /** Admin keys revoked because the operator asked for it (`--revoke-previous`). */
  revoked: string[];
}

/**
 * Break-glass: the operator on the host, who can open the store directly, mints a new admin key.
 * It is an ordinary ledger event whose actor is `host-operator`, so the history shows who did it
 * and when. With `revokePrevious`, every other active admin key is revoked afterwards (a leaked
 * root key); the new key is issued first, so the last-admin rule never stands in the way.
 */
export async function resetRootKey(options: {
  commands: KeyCommands;
  keys: KeyProjection;
  prefix: string;
  operator: string;
  revokePrevious: boolean;
  now?: () => Date;
}): Promise<RootKeyReset> {
  const ctx = {
    actor: { kind: 'host-operator' as const, id: 'host-operator' },
    authority: HOST_OPERATOR_AUTHORITY,
    requestId: null,
    sourceAddress: null,
  };
  const at = (options.now ?? (() => new Date()))();
  const issued = await options.commands.issue(rootKeyRequest(`root (reset by ${options.operator} at ${at.toISOString()})`), ctx);
  if (issued.secret === null) throw new RootKeyError('the new admin key was written but its secret could not be returned');
  const revoked: string[] = [];
  if (options.revokePrevious) {
    for (const state of options.keys.activeAdminKeys(at.getTime())) {
      if (state.id === issued.key.id) continue;
      await options.commands.revoke(state.id, `revoked by root-key reset (${options.operator})`, ctx);
      revoked.push(state.id);
    }
  }
  return { keyId: issued.key.id, secret: issued.secret, revoked };
}
