// An orders API behind the keyledger fastify plugin.
//
//   KEYLEDGER_URL=http://127.0.0.1:8080 KEYLEDGER_TOKEN=<key with keys:verify, keys:read, events:read> pnpm start
//
// Without KEYLEDGER_URL it starts a throwaway keyledger service itself (built: `pnpm build`),
// issues two demo keys and prints curl commands to try. Whatever stops it from serving (no token,
// a token keyledger refuses or that lacks a permission, keyledger unreachable, the port taken)
// is printed as one line, and the process exits non-zero.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import Fastify from 'fastify';
import { createClient, createVerifier, KeyledgerVerifierError } from '@keyledger/sdk';
import { keyledgerFastify } from '@keyledger/sdk/fastify';

const PORT = Number(process.env.PORT ?? 3000);
const READY_TIMEOUT_MS = Number(process.env.KEYLEDGER_READY_TIMEOUT_MS ?? 10_000);

/** A reason to stop, printed as it is. */
class StartError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

let localKeyledger: ChildProcess | undefined;

async function startLocalKeyledger(): Promise<{ url: string; token: string }> {
  const entry = fileURLToPath(new URL('../../../packages/service/dist/cli/main.js', import.meta.url));
  if (!existsSync(entry)) throw new StartError('keyledger is not built: run `pnpm build` at the repository root first (or set KEYLEDGER_URL)');
  const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const random = [...randomBytes(22)].map((b) => BASE62[b % 62]).join('');
  // keyledger's key format: prefix, 22 random base62 chars, 6 base62 chars of CRC32 (a bootstrap key).
  let crc = crc32(`kl_live_${random}`) >>> 0;
  let checksum = '';
  for (let i = 0; i < 6; i++, crc = Math.floor(crc / 62)) checksum = BASE62[crc % 62] + checksum;
  const rootKey = `kl_live_${random}${checksum}`;
  const child = spawn(process.execPath, [entry, 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', KEYLEDGER_DATA_DIR: mkdtempSync(join(tmpdir(), 'keyledger-example-')), KEYLEDGER_ROOT_KEY: rootKey, KEYLEDGER_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  localKeyledger = child;
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('exit', (code) => reject(new StartError(`the throwaway keyledger exited with ${code}: ${err.trim() || 'no message'}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /"port":(\d+)[^\n]*"msg":"keyledger listening"/.exec(out);
      if (match) resolve(Number(match[1]));
    });
  });
  return { url: `http://127.0.0.1:${port}`, token: rootKey };
}

async function keyledgerToUse(): Promise<{ url: string; token: string }> {
  const url = process.env.KEYLEDGER_URL;
  if (!url) return startLocalKeyledger();
  const token = process.env.KEYLEDGER_TOKEN;
  if (!token) throw new StartError('KEYLEDGER_URL is set but KEYLEDGER_TOKEN is not: give it a keyledger key with keys:verify, keys:read and events:read', 2);
  return { url, token };
}

async function main(): Promise<void> {
  const keyledger = await keyledgerToUse();
  const client = createClient({ baseUrl: keyledger.url, token: keyledger.token });
  const verifier = createVerifier({ client, readyTimeoutMs: READY_TIMEOUT_MS });
  try {
    // Before taking traffic: a bad token or an unreachable keyledger stops the start here.
    await verifier.ready();
  } catch (error) {
    await verifier.close();
    await client.close();
    if (error instanceof KeyledgerVerifierError) throw new StartError(`cannot verify keys with keyledger at ${keyledger.url}: ${error.message}`);
    throw error;
  }

  const orders = [
    { id: '1', item: 'keyboard', total: 49 },
    { id: '2', item: 'monitor', total: 199 },
  ];

  const app = Fastify({ logger: false });
  // Registered at the root: the hook guards every route, also routes added after it.
  await app.register(keyledgerFastify, {
    verifier,
    scopes: { 'GET /orders': ['orders:read'], 'GET /orders/:id': ['orders:read'] },
    publicRoutes: ['/health'],
  });
  app.get('/health', async () => ({ ok: true }));
  // request.keyledger is typed by @keyledger/sdk/fastify (the verified key on guarded routes).
  app.get('/orders', async (request) => ({ consumer: request.keyledger?.consumerId, orders }));
  app.get<{ Params: { id: string } }>('/orders/:id', async (request, reply) => {
    const order = orders.find((o) => o.id === request.params.id);
    if (!order) return reply.code(404).type('application/problem+json').send({ type: 'about:blank', title: 'Not Found', status: 404 });
    return order;
  });
  app.addHook('onClose', async () => {
    await verifier.close();
    await client.close();
  });

  try {
    await app.listen({ port: PORT, host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    if ((error as { code?: string }).code === 'EADDRINUSE') throw new StartError(`port ${PORT} is already in use: set PORT to a free one`);
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : PORT;
  console.log(`orders API on http://127.0.0.1:${port} (keys verified by ${keyledger.url})`);

  if (!process.env.KEYLEDGER_URL) {
    const reader = await client.keys.issue({ consumerId: 'cons_demo', name: 'demo reader', scopes: ['orders:read'], rateLimit: { limit: 5, windowSeconds: 60 } });
    const other = await client.keys.issue({ consumerId: 'cons_demo', name: 'no scopes' });
    console.log(`\ntry:\n  curl -i http://127.0.0.1:${port}/orders -H 'Authorization: Bearer ${reader.secret}'   # 200 (5/min, then 429)`);
    console.log(`  curl -i http://127.0.0.1:${port}/orders -H 'x-api-key: ${other.secret}'   # 403: lacks orders:read`);
    console.log(`  curl -i http://127.0.0.1:${port}/orders   # 401`);
    console.log(`  revoke it, and the next call is 401 at once:\n  curl -X POST ${keyledger.url}/v1/keys/${reader.id}/revoke -H 'Authorization: Bearer ${keyledger.token}'`);
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
}

process.on('exit', () => localKeyledger?.kill());
try {
  await main();
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`example-gateway: ${message.split('\n')[0]}\n`);
  process.exit(error instanceof StartError ? error.exitCode : 1);
}
