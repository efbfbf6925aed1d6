/**
 * A small TCP proxy between a client and the service, to cut chosen connections mid-stream the way
 * a network fault does (both sockets destroyed, no HTTP goodbye). Connections are tagged by what
 * the client sent on them, e.g. the event feed's `GET /v1/events/stream`.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  url: string;
  /** Destroys every open connection on which the client sent `marker`; returns how many. */
  cut(marker: string): number;
  /** While set, a connection that sends `marker` is destroyed before it reaches the service. */
  refuse(marker: string | undefined): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  sent: string;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let refused: string | undefined;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const pair: Pair = { client, upstream, sent: '' };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      // Only the request lines matter for tagging; keep the start of each chunk, bounded.
      pair.sent = (pair.sent + chunk.toString('latin1', 0, Math.min(chunk.length, 256))).slice(-4096);
      if (refused !== undefined && pair.sent.includes(refused)) {
        drop();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    cut(marker) {
      let count = 0;
      for (const pair of [...pairs]) {
        if (!pair.sent.includes(marker)) continue;
        count++;
        pairs.delete(pair);
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return count;
    },
    refuse(marker) {
      refused = marker;
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
