// An orders API behind the keyledger fastify plugin.
//
//   KEYLEDGER_URL=http://127.0.0.1:8080 KEYLEDGER_TOKEN=<key with keys:verify, keys:read, events:read> pnpm start
//
// Without KEYLEDGER_URL it starts a throwaway keyledger service itself (built: `pnpm build`),
// issues two demo keys and prints curl commands to try.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { createClient, createVerifier, keyledgerFastify } from '@keyledger/sdk';

const PORT = Number(process.env.PORT ?? 3000);

async function startLocalKeyledger() {
  const entry = fileURLToPath(new URL('../../packages/service/dist/cli/main.js', import.meta.url));
  const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const random = [...randomBytes(22)].map((b) => BASE62[b % 62]).join('');
  // keyledger's key format: prefix, 22 random base62 chars, 6 base62 chars of CRC32 (a bootstrap key).
  let crc = crc32(`kl_live_${random}`) >>> 0;
  let checksum = '';
  for (let i = 0; i < 6; i++, crc = Math.floor(crc / 62)) checksum = BASE62[crc % 62] + checksum;
  const rootKey = `kl_live_${random}${checksum}`;
  const child = spawn(process.execPath, [entry, 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', KEYLEDGER_DATA_DIR: mkdtempSync(join(tmpdir(), 'keyledger-example-')), KEYLEDGER_ROOT_KEY: rootKey, KEYLEDGER_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.on('exit', () => child.kill());
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`keyledger exited with ${code}; run \`pnpm build\` first`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /"port":(\d+)[^\n]*"msg":"keyledger listening"/.exec(out);
      if (match) resolve(Number(match[1]));
    });
  });
  return { url: `http://127.0.0.1:${port}`, token: rootKey };
}

const keyledger = process.env.KEYLEDGER_URL
  ? { url: process.env.KEYLEDGER_URL, token: process.env.KEYLEDGER_TOKEN ?? '' }
  : await startLocalKeyledger();

const client = createClient({ baseUrl: keyledger.url, token: keyledger.token });
const verifier = createVerifier({ client });

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
app.get('/orders', async (request) => ({ consumer: request.keyledger.consumerId, orders }));
app.get('/orders/:id', async (request, reply) => {
  const order = orders.find((o) => o.id === request.params.id);
  if (!order) return reply.code(404).type('application/problem+json').send({ type: 'about:blank', title: 'Not Found', status: 404 });
  return order;
});
app.addHook('onClose', async () => {
  await verifier.close();
  await client.close();
});

await verifier.ready();
await app.listen({ port: PORT, host: '127.0.0.1' });
console.log(`orders API on http://127.0.0.1:${PORT} (keys verified by ${keyledger.url})`);

if (!process.env.KEYLEDGER_URL) {
  const reader = await client.keys.issue({ consumerId: 'cons_demo', name: 'demo reader', scopes: ['orders:read'], rateLimit: { limit: 5, windowSeconds: 60 } });
  const other = await client.keys.issue({ consumerId: 'cons_demo', name: 'no scopes' });
  console.log(`\ntry:\n  curl -i http://127.0.0.1:${PORT}/orders -H 'Authorization: Bearer ${reader.secret}'   # 200 (5/min, then 429)`);
  console.log(`  curl -i http://127.0.0.1:${PORT}/orders -H 'x-api-key: ${other.secret}'   # 403: lacks orders:read`);
  console.log(`  curl -i http://127.0.0.1:${PORT}/orders   # 401`);
  console.log(`  revoke it, and the next call is 401 at once:\n  curl -X POST ${keyledger.url}/v1/keys/${reader.id}/revoke -H 'Authorization: Bearer ${keyledger.token}'`);
}

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void app.close().then(() => process.exit(0)));
