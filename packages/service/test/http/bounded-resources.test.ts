/**
 * Resource bounds of the HTTP service, each proven on real sockets against a real keyledger
 * (SQLite file, real projections) listening on a loopback port: the request timeout cuts a
 * trickled body, connections past the cap are refused, readers that never read keep the server's
 * buffered bytes bounded and are closed, a revoked/suspended/expired `events:read` key loses its
 * open stream within one event, and the stream caps answer 429 / 503 with Retry-After.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/support/eventually.js';
import { expectProblem, type Harness, startHarness } from './harness.js';
import { collectUntilClosed, listenOnLoopback, openSocket, parseResponse, rawExchange } from './real-socket.js';

let h: Harness | undefined;
const sockets: Socket[] = [];
const aborts: AbortController[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const controller of aborts.splice(0)) controller.abort();
  await h?.close();
  h = undefined;
});

async function start(env: Record<string, string>): Promise<{ h: Harness; port: number }> {
  h = await startHarness({ KEYLEDGER_SQLITE_SYNCHRONOUS: 'NORMAL', ...env });
  return { h, port: await listenOnLoopback(h) };
}

const getRequest = (path: string, key: string | null, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${key ? `Authorization: Bearer ${key}\r\n` : ''}${extra}\r\n`;

/** Opens an event stream with fetch; resolves once the `: connected` comment arrived. */
async function openStream(port: number, key: string) {
  const controller = new AbortController();
  aborts.push(controller);
  const response = await fetch(`http://127.0.0.1:${port}/v1/events/stream`, {
    headers: { authorization: `Bearer ${key}` },
    signal: controller.signal,
  });
  if (response.status !== 200) {
    const refused = await response.text();
    return {
      response,
      abort: () => controller.abort(),
      untilEnded: async (): Promise<string> => refused,
      readFor: async (_ms: number): Promise<void> => undefined,
      text: async () => refused,
    };
  }
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let received = '';
  let ended = false;
  const readMore = async () => {
    const { value, done } = await reader.read();
    if (done) ended = true;
    else received += decoder.decode(value, { stream: true });
  };
  while (!received.includes(': connected')) await readMore();
  return {
    response,
    abort: () => controller.abort(),
    /** Reads until the server ends the stream; rejects after `ms`. */
    async untilEnded(ms: number): Promise<string> {
      const deadline = Date.now() + ms;
      while (!ended) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`stream still open after ${ms} ms; received:\n${received.slice(-500)}`);
        await Promise.race([readMore(), new Promise((resolve) => setTimeout(resolve, left))]);
      }
      return received;
    },
    /** Reads whatever arrives within `ms`. */
    async readFor(ms: number): Promise<void> {
      if (ended) return;
      await Promise.race([readMore(), new Promise((resolve) => setTimeout(resolve, ms))]);
    },
    text: async () => received,
  };
}

describe('HTTP server bounds', () => {
  it('a trickled body is cut by the request timeout with a 408 problem', async () => {
    const { h, port } = await start({ KEYLEDGER_REQUEST_TIMEOUT_MS: '1500', KEYLEDGER_HEADERS_TIMEOUT_MS: '1000' });
    const socket = await openSocket(port);
    sockets.push(socket);
    const collected = collectUntilClosed(socket, 15_000);
    socket.write(
      `POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.rootKey}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    // One byte every 200 ms: the connection never idles, the request never completes.
    const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
    const response = await collected;
    clearInterval(trickle);
    console.log(`trickled body: connection closed=${response.closed} after ${response.elapsedMs} ms (request timeout 1500 ms)`);
    expect(response.closed).toBe(true);
    expect(response.status).toBe(408);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(response.body).type).toBe('https://keyledger.dev/problems/request-timeout');
  });

  it('connections past KEYLEDGER_MAX_CONNECTIONS are refused; a freed slot is usable again', async () => {
    const { h, port } = await start({ KEYLEDGER_MAX_CONNECTIONS: '4' });
    const held: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = await openSocket(port);
      sockets.push(socket);
      held.push(socket);
      // A keep-alive request answered on each: the server really holds these connections.
      const answered = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8'))));
      socket.write(getRequest('/healthz', null));
      expect(await answered).toMatch(/^HTTP\/1\.1 200/);
    }
    const extra = await rawExchange(port, getRequest('/healthz', null), 3_000);
    console.log(`5th connection with a cap of 4: closed=${extra.closed} after ${extra.elapsedMs} ms, ${extra.raw.length} bytes answered`);
    expect(extra.closed).toBe(true);
    expect(extra.raw).toBe('');

    held[0]!.destroy();
    await eventually('a connection admitted again', async () => (await rawExchange(port, getRequest('/healthz', null, 'Connection: close\r\n'), 3_000)).status === 200);
    expect(h.service.app.server.maxConnections).toBe(4);
  });
});

describe('event stream bounds', () => {
  it('readers that never read keep the buffered bytes bounded, and are closed as too far behind with a final frame', async () => {
    const { h, port } = await start({
      KEYLEDGER_SSE_STALL_TIMEOUT_MS: '2000',
      KEYLEDGER_SSE_MAX_STREAMS: '100',
      KEYLEDGER_SSE_MAX_STREAMS_PER_CREDENTIAL: '100',
    });
    // About 6 MB of ledger: more than loopback's kernel buffers take per connection (~4 MB here).
    const filler = 'x'.repeat(3900);
    const keysIssued = 1400;
    for (let i = 0; i < keysIssued; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => h.issue({ consumerId: `c${(i + j) % 20}`, meta: { filler } })));
    }

    const serverSockets = new Set<Socket>();
    h.service.app.server.on('connection', (socket: Socket) => serverSockets.add(socket));
    const serverBuffered = () => [...serverSockets].reduce((sum, socket) => sum + (socket.destroyed ? 0 : socket.writableLength), 0);

    // One of the readers uses a key of its own, so the test can tell when its stream was closed.
    const lateKey = await h.issue({ consumerId: 'late', permissions: ['events:read'] });
    const readers = 40;
    const clients: Socket[] = [];
    for (let i = 0; i < readers; i++) {
      const socket = await openSocket(port);
      sockets.push(socket);
      clients.push(socket);
      socket.pause(); // never reads: the kernel buffers fill, then the server's
      socket.write(getRequest('/v1/events/stream', i === 0 ? lateKey.secret : h.rootKey));
    }
    let maxBuffered = 0;
    let maxPerSocket = 0;
    const sampler = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, serverBuffered());
      for (const socket of serverSockets) maxPerSocket = Math.max(maxPerSocket, socket.writableLength);
    }, 20);
    await eventually('every reader admitted', () => h.service.app.eventStreams.opened === readers, 30_000);
    // The stall timeout (2 s) closes the streams. One reader reads as soon as its stream was
    // closed (within the close grace) and finds out why.
    await eventually('the late reader closed', () => h.service.app.eventStreams.openFor(lateKey.id) === 0, 15_000);
    const late = collectUntilClosed(clients[0]!, 10_000);
    clients[0]!.resume();
    const lateResponse = await late;
    const lateBody = parseResponse(lateResponse.raw).body;
    expect(lateBody.endsWith(': closed: reader too far behind; reconnect with Last-Event-ID\n\n')).toBe(true);
    await eventually('every stalled stream closed', () => h.service.app.eventStreams.size === 0, 15_000);
    // The close grace (5 s) drops the sockets of those that still do not read.
    await eventually('every server socket closed', () => [...serverSockets].every((socket) => socket.destroyed), 15_000);
    clearInterval(sampler);
    console.log(
      `${readers} non-reading SSE clients on a ledger of ${keysIssued} events (~${((keysIssued * 4300) / 1e6).toFixed(1)} MB): ` +
        `max bytes buffered in the server's sockets ${maxBuffered} in all (${(maxBuffered / 1e6).toFixed(2)} MB), ${maxPerSocket} on one socket; ` +
        `after the stall timeout and close grace: ${serverBuffered()} bytes, ${h.service.app.eventStreams.size} open streams`,
    );
    expect(maxPerSocket).toBeLessThan(128 * 1024);
    expect(maxBuffered).toBeLessThan(readers * 128 * 1024);
    expect(serverBuffered()).toBe(0);
  }, 90_000);

  it.each([
    ['revoked', 'revoke'],
    ['suspended', 'suspend'],
  ] as const)('an events:read key that is %s loses its open stream within one event', async (status, action) => {
    const { h, port } = await start({});
    const reader = await h.issue({ consumerId: 'ops', permissions: ['events:read'] });
    const stream = await openStream(port, reader.secret);
    expect(stream.response.status).toBe(200);
    const changed = await h.call('POST', `/v1/keys/${reader.id}/${action}`, { body: { reason: 'test' } });
    expect(changed.status, changed.text).toBe(200);
    const text = await stream.untilEnded(5_000);
    expect(text).toContain(`: closed: credential ${status}`);
    expect(h.service.app.eventStreams.size).toBe(0);
  });

  it('an expired events:read key loses its stream at the next key event', async () => {
    const { h, port } = await start({});
    const reader = await h.issue({ consumerId: 'ops', permissions: ['events:read'], expiresAt: new Date(Date.now() + 1_500).toISOString() });
    const stream = await openStream(port, reader.secret);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    await h.issue({ consumerId: 'someone-else' });
    expect(await stream.untilEnded(5_000)).toContain(': closed: credential expired');
  });

  it('an open event stream outlives the request, headers, keep-alive and connection timeouts', async () => {
    const timeouts = {
      KEYLEDGER_REQUEST_TIMEOUT_MS: '1000',
      KEYLEDGER_HEADERS_TIMEOUT_MS: '1000',
      KEYLEDGER_KEEP_ALIVE_TIMEOUT_MS: '1000',
      KEYLEDGER_CONNECTION_TIMEOUT_MS: '1000',
    };
    const { h, port } = await start(timeouts);
    const stream = await openStream(port, h.rootKey);
    // Quiet for three times every timeout (the heartbeat is 15 s away), then a new event arrives.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(h.service.app.eventStreams.size).toBe(1);
    const issued = await h.issue({ consumerId: 'late-news' });
    await eventually('the new event on the open stream', async () => {
      await stream.readFor(50);
      return (await stream.text()).includes(issued.id);
    });
  });

  it('caps streams per credential (429) and in all (503), with Retry-After; a freed slot is usable again', async () => {
    const { h, port } = await start({ KEYLEDGER_SSE_MAX_STREAMS: '3', KEYLEDGER_SSE_MAX_STREAMS_PER_CREDENTIAL: '2' });
    const other = await h.issue({ consumerId: 'ops', permissions: ['events:read'] });
    const third = await h.issue({ consumerId: 'ops', permissions: ['events:read'] });
    const first = await openStream(port, h.rootKey);
    await openStream(port, h.rootKey);

    const perCredential = await rawExchange(port, getRequest('/v1/events/stream', h.rootKey, 'Connection: close\r\n'));
    expect(perCredential.status).toBe(429);
    expect(perCredential.headers['retry-after']).toMatch(/^\d+$/);
    expectProblem({ status: 429, headers: perCredential.headers, body: JSON.parse(perCredential.body), text: perCredential.body }, 429, 'rate-limited');

    expect((await openStream(port, other.secret)).response.status).toBe(200);
    const global = await rawExchange(port, getRequest('/v1/events/stream', third.secret, 'Connection: close\r\n'));
    expect(global.status).toBe(503);
    expect(global.headers['retry-after']).toMatch(/^\d+$/);
    expectProblem({ status: 503, headers: global.headers, body: JSON.parse(global.body), text: global.body }, 503, 'unavailable');

    first.abort();
    await eventually('open streams = 2', () => h.service.app.eventStreams.size === 2);
    expect((await openStream(port, third.secret)).response.status).toBe(200);
  });

  it('HEAD /v1/events/stream answers at once, with the same authentication as GET', async () => {
    const { h, port } = await start({});
    const head = await fetch(`http://127.0.0.1:${port}/v1/events/stream`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${h.rootKey}` },
      signal: AbortSignal.timeout(5_000),
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await head.text()).toBe('');
    expect(h.service.app.eventStreams.size).toBe(0);
    const anonymous = await fetch(`http://127.0.0.1:${port}/v1/events/stream`, { method: 'HEAD', signal: AbortSignal.timeout(5_000) });
    expect(anonymous.status).toBe(401);
  });
});
