/**
 * Failing loudly, early: what `verifier.ready()` rejects with, and the default `onError`.
 *
 * A gateway that starts with a wrong token, a token short of a permission, or no keyledger to
 * talk to must learn it at start-up, in one sentence, not as a silent hang or a 503 on every
 * request. `ready()` rejects with a KeyledgerVerifierError whose `reason` names the cause.
 */
import { checksumOf } from '@keyledger/schemas';
import type { KeyledgerClient } from '../client.js';
import { KeyledgerApiError, KeyledgerNetworkError } from '../errors.js';

export type VerifierFailureReason = 'UNAUTHORIZED' | 'MISSING_PERMISSION' | 'UNREACHABLE';

export class KeyledgerVerifierError extends Error {
  override readonly name = 'KeyledgerVerifierError';
  /** UNAUTHORIZED: the token is not a key keyledger accepts. MISSING_PERMISSION: see `permission`. UNREACHABLE: no answer in time. */
  readonly reason: VerifierFailureReason;
  /** The permission the token lacks, for MISSING_PERMISSION. */
  readonly permission: string | undefined;

  constructor(reason: VerifierFailureReason, message: string, options: { cause?: unknown; permission?: string } = {}) {
    super(message, { cause: options.cause });
    this.reason = reason;
    this.permission = options.permission;
  }
}

/** What the verifier's token needs, and what each permission is for. */
export const VERIFIER_PERMISSIONS = 'keys:verify, events:read and keys:read';

/** Turns a failed call made for `purpose` into the reason the verifier cannot work, or undefined if it is not one. */
export function readinessFailure(error: unknown, permission: string): KeyledgerVerifierError | undefined {
  if (error instanceof KeyledgerVerifierError) return error;
  if (error instanceof KeyledgerApiError) {
    if (error.status === 401) {
      return new KeyledgerVerifierError('UNAUTHORIZED', `keyledger refused the verifier's token (401 ${error.problem.title}): it is not a valid, active keyledger key`, { cause: error });
    }
    if (error.status === 403) {
      return new KeyledgerVerifierError('MISSING_PERMISSION', `the verifier's token lacks the ${permission} permission (403); it needs ${VERIFIER_PERMISSIONS}`, { cause: error, permission });
    }
  }
  return undefined;
}

export function unreachable(timeoutMs: number, cause: unknown): KeyledgerVerifierError {
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new KeyledgerVerifierError('UNREACHABLE', `keyledger did not answer within ${timeoutMs} ms${why}`, { cause });
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A well-formed key that belongs to nobody: verifying it charges nothing and answers NOT_FOUND. */
export function probeKey(): string {
  let random = '';
  for (let i = 0; i < 22; i++) random += BASE62[Math.floor(Math.random() * 62)];
  return `kl_probe_${random}${checksumOf('kl_probe', random)}`;
}

/**
 * Checks the token once: keys:verify (a verify of a key nobody has) is required, keys:read (a key
 * that does not exist) only makes caching work, so its lack is reported, not fatal.
 */
export async function checkToken(client: KeyledgerClient, signal: AbortSignal, onError: (error: unknown) => void): Promise<{ canReadKeys: boolean }> {
  try {
    await client.verify({ key: probeKey() }, { signal });
  } catch (error) {
    throw readinessFailure(error, 'keys:verify') ?? error;
  }
  try {
    await client.keys.get('key_0000000000000000000000', { signal });
  } catch (error) {
    if (error instanceof KeyledgerApiError && error.status === 404) return { canReadKeys: true };
    const failure = readinessFailure(error, 'keys:read');
    if (failure?.reason === 'MISSING_PERMISSION') {
      onError(new KeyledgerVerifierError('MISSING_PERMISSION', `${failure.message}; without keys:read only NOT_FOUND and REVOKED answers are cached`, { cause: error, permission: 'keys:read' }));
      return { canReadKeys: false };
    }
    throw failure ?? error;
  }
  return { canReadKeys: true };
}

/**
 * The default `onError`: one line on stderr per kind of failure (a 403 from the feed, a refused
 * connection, ...), then silence for that kind, so an outage is visible without flooding the log.
 * Verification carries on remotely (or fails closed) whatever is logged here.
 */
export function logOncePerKind(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): (error: unknown) => void {
  const seen = new Set<string>();
  return (error) => {
    const kind = kindOf(error);
    if (seen.has(kind)) return;
    seen.add(kind);
    const message = error instanceof Error ? error.message : String(error);
    write(`keyledger verifier: ${message} (verifying remotely meanwhile; later errors of this kind are not logged)`);
  };
}

function kindOf(error: unknown): string {
  if (error instanceof KeyledgerVerifierError) return `${error.name}:${error.reason}:${error.permission ?? ''}`;
  if (error instanceof KeyledgerApiError) return `${error.name}:${error.status}`;
  if (error instanceof KeyledgerNetworkError) {
    const code = (error.cause as { code?: unknown } | undefined)?.code;
    return `${error.name}:${typeof code === 'string' ? code : ''}`;
  }
  return error instanceof Error ? error.name : typeof error;
}
