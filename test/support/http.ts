/**
 * A raw HTTP call to the service (global fetch), for tests that must see every status, header
 * and failure exactly as a client would, without the SDK's retries.
 */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: any;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** Abort the call after this long (the answer is then a thrown error, like a dead server). */
  timeoutMs?: number;
}

export async function call(baseUrl: string, token: string, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<HttpAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: keep the text, the caller's assertion will show it.
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
