/**
 * Errors the SDK throws. An API error (the service answered with a problem) is kept apart from a
 * network error (no answer), because only the latter may be retried, and a network error says
 * whether the request may have reached the server (`ambiguous`), which decides whether a
 * non-idempotent call such as verify may be sent again.
 */
import type { Problem } from './types.js';

/** The service answered with a non-2xx status; `problem` is its RFC 9457 body. */
export class KeyledgerApiError extends Error {
  override readonly name = 'KeyledgerApiError';
  readonly status: number;
  readonly problem: Problem;
  /** The problem `type` URI: stable, safe to switch on. */
  readonly type: string;
  /** The `x-request-id` the service logged this request under, when it sent one. */
  readonly requestId: string | undefined;
  /** `Retry-After` in seconds, when the service sent one. */
  readonly retryAfter: number | undefined;

  constructor(problem: Problem, requestId?: string, retryAfter?: number) {
    super(`${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}`);
    this.status = problem.status;
    this.problem = problem;
    this.type = problem.type;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }

  /** The failing fields of a validation problem (`body.scopes.0`, ...), empty otherwise. */
  get fieldErrors(): { path: string; message: string }[] {
    return this.problem.errors ?? [];
  }
}

/** No usable answer arrived: connection refused, reset, DNS failure, malformed response. */
export class KeyledgerNetworkError extends Error {
  override readonly name: string = 'KeyledgerNetworkError';
  override readonly cause: unknown;
  /** True when the request may have reached the server (it may have been executed). */
  readonly ambiguous: boolean;

  constructor(message: string, options: { cause?: unknown; ambiguous: boolean }) {
    super(message, { cause: options.cause });
    this.cause = options.cause;
    this.ambiguous = options.ambiguous;
  }
}

/** The call took longer than its timeout; the server may still have executed it. */
export class KeyledgerTimeoutError extends KeyledgerNetworkError {
  override readonly name: string = 'KeyledgerTimeoutError';
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options: { cause?: unknown; ambiguous?: boolean } = {}) {
    super(`request timed out after ${timeoutMs} ms`, { cause: options.cause, ambiguous: options.ambiguous ?? true });
    this.timeoutMs = timeoutMs;
  }
}

/** The event feed received something that is not a keyledger event; resuming would skip it. */
export class KeyledgerProtocolError extends Error {
  override readonly name = 'KeyledgerProtocolError';
}

/**
 * Error codes raised before any byte of the request could be written: the server cannot have
 * seen the request, so even a charging call (verify) may be sent again.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Whether a transport failure happened before the request could have been sent. */
export function failedBeforeSending(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
  // Happy-eyeballs connects report every address's failure at once.
  if (error instanceof AggregateError) return error.errors.length > 0 && error.errors.every(failedBeforeSending);
  return false;
}
