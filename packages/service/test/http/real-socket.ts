/**
 * Real TCP for the HTTP tests that `inject` cannot reach: timeouts, connection caps, node-level
 * parse errors and backpressure only exist on a socket.
 */
import { connect, type Socket } from 'node:net';
import type { Harness } from './harness.js';

/** Puts the harness's app on a real port on loopback; returns the port. */
export async function listenOnLoopback(h: Harness): Promise<number> {
  await h.service.app.listen({ port: 0, host: '127.0.0.1' });
  const address = h.service.app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return address.port;
}

export interface RawResponse {
  /** Everything the server sent before it closed the connection (or the wait ended). */
  raw: string;
  status: number | null;
  headers: Record<string, string>;
  body: string;
  /** true when the server closed the connection within the wait. */
  closed: boolean;
  elapsedMs: number;
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Collects what the server sends on `socket` until it closes the connection, or `waitMs` passes. */
export function collectUntilClosed(socket: Socket, waitMs: number): Promise<RawResponse> {
  const started = Date.now();
  return new Promise((resolve) => {
    let raw = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...parseResponse(raw), raw, closed, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.on('end', () => finish(true));
  });
}

/** Sends `request` as is on a new connection and collects the answer (the server is expected to close). */
export async function rawExchange(port: number, request: string, waitMs = 5_000): Promise<RawResponse> {
  const socket = await openSocket(port);
  const collected = collectUntilClosed(socket, waitMs);
  socket.write(request);
  const response = await collected;
  socket.destroy();
  return response;
}

/** Status, headers and (de-chunked when needed) body of the first response in `raw`. */
export function parseResponse(raw: string): { status: number | null; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return { status: null, headers: {}, body: '' };
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
  return { status: Number.isNaN(status) ? null : status, headers, body };
}

function dechunk(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts).toString('utf8');
}
