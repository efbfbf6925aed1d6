/**
 * One HTTP exchange with the service over undici: a keep-alive connection pool, a wall-clock
 * timeout per attempt, the caller's abort signal, JSON in and out, and every failure turned into
 * a typed error (KeyledgerApiError for an answer, KeyledgerNetworkError/TimeoutError for none).
 * Retrying is the client's job (retry.ts); this module makes exactly one attempt.
 */
import { type Dispatcher, Pool } from 'undici';
import { failedBeforeSending, KeyledgerApiError, KeyledgerNetworkError, KeyledgerTimeoutError } from './errors.js';
import type { Problem } from './types.js';

export interface TransportOptions {
  baseUrl: string;
  token: string;
  timeoutMs: number;
  connections?: number;
  /** Bring your own undici dispatcher (Agent, Pool, MockAgent...); the transport then does not close it. */
  dispatcher?: Dispatcher;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Query = Record<string, string | number | undefined>;

export interface HttpRequest {
  method: HttpMethod;
  path: string;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The Accept header; JSON (and problem+json) unless said otherwise. */
  accept?: string;
  timeoutMs?: number;
}

export interface HttpResponse<T> {
  status: number;
  headers: Record<string, string | undefined>;
  body: T;
}

export interface StreamRequest {
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  signal: AbortSignal;
}

export interface StreamResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: AsyncIterable<Buffer>;
}

export class Transport {
  readonly #origin: string;
  readonly #basePath: string;
  readonly #authorization: string;
  readonly #timeoutMs: number;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(options: TransportOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new TypeError(`baseUrl is not a URL: ${JSON.stringify(options.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('baseUrl must be an http(s) URL');
    if (!options.token) throw new TypeError('token is required');
    if (!(options.timeoutMs > 0)) throw new TypeError('timeoutMs must be a positive number');
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#authorization = `Bearer ${options.token}`;
    this.#timeoutMs = options.timeoutMs;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? new Pool(this.#origin, {
      connections: options.connections ?? 16,
      // Connecting is bounded like the whole call; a connect timeout provably sent nothing.
      connect: { timeout: options.timeoutMs },
      keepAliveTimeout: 30_000,
    });
  }

  /** One attempt; resolves only with a 2xx answer. */
  async send<T>(request: HttpRequest): Promise<HttpResponse<T>> {
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const hasBody = request.body !== undefined;
    let status: number;
    let headers: Record<string, string | undefined>;
    let text: string;
    try {
      const response = await this.#dispatcher.request({
        origin: this.#origin,
        path: this.#pathWithQuery(request.path, request.query),
        method: request.method,
        headers: {
          authorization: this.#authorization,
          accept: request.accept ?? 'application/json, application/problem+json',
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
          ...request.headers,
        },
        body: hasBody ? JSON.stringify(request.body) : undefined,
        signal,
      });
      status = response.statusCode;
      headers = flattenHeaders(response.headers);
      text = await response.body.text();
    } catch (error) {
      throw classifyFailure(error, request.signal, timeout, timeoutMs);
    }
    if (status < 200 || status >= 300) throw apiError(status, headers, text);
    // Text answers (a usage report as text/csv) are returned as they are.
    if (headers['content-type']?.startsWith('text/')) return { status, headers, body: text as T };
    return { status, headers, body: parseJson(text, status, headers) as T };
  }

  /**
   * Opens a long-lived streaming GET (text/event-stream). The timeout bounds only the wait for
   * the response headers; liveness afterwards is the caller's to judge (heartbeats).
   */
  async openStream(request: StreamRequest): Promise<StreamResponse> {
    // undici's headersTimeout bounds the wait here (reported by its error code), not a signal.
    const noTimeoutSignal = new AbortController().signal;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#dispatcher.request({
        origin: this.#origin,
        path: this.#pathWithQuery(request.path, request.query),
        method: 'GET',
        headers: { authorization: this.#authorization, accept: 'text/event-stream', ...request.headers },
        signal: request.signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: 0,
      });
    } catch (error) {
      throw classifyFailure(error, request.signal, noTimeoutSignal, this.#timeoutMs);
    }
    const headers = flattenHeaders(response.headers);
    if (response.statusCode !== 200) {
      let text = '';
      try {
        text = await response.body.text();
      } catch {
        /* the status says enough */
      }
      throw apiError(response.statusCode, headers, text);
    }
    return { status: response.statusCode, headers, body: response.body };
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  #pathWithQuery(path: string, query: Query | undefined): string {
    let full = `${this.#basePath}${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [name, value] of Object.entries(query)) {
        if (value !== undefined) params.set(name, String(value));
      }
      const encoded = params.toString();
      if (encoded) full += `?${encoded}`;
    }
    return full;
  }
}

/** Caller aborts pass through untouched; everything else becomes a network or timeout error. */
function classifyFailure(error: unknown, callerSignal: AbortSignal | undefined, timeout: AbortSignal, timeoutMs: number): unknown {
  if (callerSignal?.aborted) return callerSignal.reason ?? error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new KeyledgerTimeoutError(timeoutMs, { cause: error, ambiguous: false });
  if (timeout.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new KeyledgerTimeoutError(timeoutMs, { cause: error, ambiguous: true });
  }
  const message = error instanceof Error ? error.message : String(error);
  const notSent = failedBeforeSending(error);
  return new KeyledgerNetworkError(`${notSent ? 'could not connect' : 'connection failed'}: ${message}`, { cause: error, ambiguous: !notSent });
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(raw)) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return headers;
}

function parseJson(text: string, status: number, headers: Record<string, string | undefined>): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    // A 2xx that is not JSON means something between us and the service answered.
    throw new KeyledgerNetworkError(`response ${status} is not JSON (content-type ${headers['content-type'] ?? 'none'})`, {
      cause: error,
      ambiguous: true,
    });
  }
}

function apiError(status: number, headers: Record<string, string | undefined>, text: string): KeyledgerApiError {
  const retryAfter = headers['retry-after'] !== undefined && /^\d+$/.test(headers['retry-after']) ? Number(headers['retry-after']) : undefined;
  return new KeyledgerApiError(problemFrom(status, text), headers['x-request-id'], retryAfter);
}

/** The problem+json body, or one made up from the status when something else answered (a proxy). */
export function problemFrom(status: number, text: string): Problem {
  try {
    const parsed = JSON.parse(text) as Partial<Problem> | null;
    if (parsed && typeof parsed === 'object' && typeof parsed.type === 'string' && typeof parsed.title === 'string') {
      return { ...parsed, type: parsed.type, title: parsed.title, status: typeof parsed.status === 'number' ? parsed.status : status };
    }
  } catch {
    /* not JSON: fall through */
  }
  const detail = text.trim().slice(0, 500);
  return { type: 'about:blank', title: `HTTP ${status}`, status, ...(detail ? { detail } : {}) };
}
