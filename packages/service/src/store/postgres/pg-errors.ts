/**
 * Maps node-postgres failures to the port's typed errors. Anything that means "the database cannot
 * answer right now" becomes StoreUnavailableError naming the backend, so callers can retry or
 * report 503 without knowing PostgreSQL error codes.
 */

import { EventStoreError, InvalidAppendError, StoreUnavailableError } from '../errors.js';

const UNAVAILABLE_SYSCALL_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EADDRNOTAVAIL',
]);

/** SQLSTATEs (or classes) that mean the server cannot serve us now, rather than a bug in our SQL. */
const UNAVAILABLE_SQLSTATES: Record<string, string> = {
  '57014': 'statement timeout',
  '57P01': 'server shut down the connection',
  '57P02': 'server crashed',
  '57P03': 'server is not accepting connections yet',
  '53300': 'too many connections',
  '53000': 'insufficient resources',
  '53100': 'disk full',
  '53200': 'out of memory',
  '25P03': 'idle-in-transaction timeout',
  '3D000': 'database does not exist',
  '28000': 'authorization rejected',
  '28P01': 'authentication failed',
};

/** Messages node-postgres uses for failures that carry no code. */
const UNAVAILABLE_MESSAGES = [
  /timeout exceeded when trying to connect/i,
  /connection terminated/i,
  /connection timeout/i,
  /Client has encountered a connection error/i,
  /Cannot use a pool after calling end/i,
];

export function toStoreError(error: unknown): Error {
  if (error instanceof EventStoreError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string') {
    if (UNAVAILABLE_SYSCALL_CODES.has(code)) {
      return new StoreUnavailableError('postgres', `cannot reach the database (${code})`, { cause: error });
    }
    const reason = UNAVAILABLE_SQLSTATES[code];
    if (reason) return new StoreUnavailableError('postgres', `${reason} (${code})`, { cause: error });
    // Class 08: connection exceptions.
    if (code.startsWith('08')) {
      return new StoreUnavailableError('postgres', `connection failure (${code})`, { cause: error });
    }
    // jsonb refuses \u0000 and some escapes that JSON itself allows: the caller's data, not our bug.
    if (code === '22P05' || code === '22025') {
      return new InvalidAppendError(`event data cannot be stored as jsonb: ${message}`, { cause: error });
    }
  }
  if (UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) {
    return new StoreUnavailableError('postgres', message, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
}
