/**
 * Headers that make writes safe to repeat. One Idempotency-Key is chosen per logical call and
 * reused by each of its retries, so the server records the first outcome once and replays it.
 */
import { randomUUID } from 'node:crypto';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** The caller's key (checked against the server's rule before sending), or a fresh UUID. */
export function idempotencyKeyFor(callerKey: string | undefined): string {
  if (callerKey === undefined) return randomUUID();
  if (!IDEMPOTENCY_KEY.test(callerKey)) {
    throw new TypeError('idempotencyKey must be 1-200 visible ASCII characters');
  }
  return callerKey;
}

/** `If-Match` from an ETag (`"3"`, passed as is) or a revision number (3 -> `"3"`). */
export function ifMatchHeader(ifMatch: string | number): string {
  if (typeof ifMatch === 'number') {
    if (!Number.isSafeInteger(ifMatch) || ifMatch < 0) throw new TypeError('ifMatch must be a non-negative integer revision');
    return `"${ifMatch}"`;
  }
  return ifMatch;
}
