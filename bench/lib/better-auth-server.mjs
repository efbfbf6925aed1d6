// The better-auth row of bench/verify.ts: better-auth with its API key plugin on SQLite
// (better-sqlite3, a temp file), `auth.api.verifyApiKey` behind the same fastify POST route as
// the bare row. BENCH_RATE_LIMIT=1 turns on the key's own rate limit (huge, never bites).
// Prints `port=<n>` and `key=<plaintext>` once listening. Bench-only (devDependencies).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiKey } from '@better-auth/api-key';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import Database from 'better-sqlite3';
import Fastify from 'fastify';

const rateLimited = process.env.BENCH_RATE_LIMIT === '1';
const dir = mkdtempSync(join(tmpdir(), 'keyledger-better-auth-'));
const database = new Database(join(dir, 'auth.db'));
database.pragma('journal_mode = WAL');
const auth = betterAuth({
  database,
  secret: 'bench-secret-bench-secret-bench-secret-00',
  baseURL: 'http://127.0.0.1',
  emailAndPassword: { enabled: true },
  // better-auth's own request rate limiter is for its HTTP handler; verifyApiKey is called directly.
  plugins: [apiKey({ rateLimit: { enabled: rateLimited, timeWindow: 3_600_000, maxRequests: 1_000_000_000 } })],
  logger: { disabled: true },
});
const { runMigrations } = await getMigrations(auth.options);
await runMigrations();
const user = await auth.api.signUpEmail({ body: { email: 'bench@example.com', password: 'bench-password-123', name: 'bench' } });
const created = await auth.api.createApiKey({
  body: { userId: user.user.id, rateLimitEnabled: rateLimited, ...(rateLimited ? { rateLimitTimeWindow: 3_600_000, rateLimitMax: 1_000_000_000 } : {}) },
});
const probe = await auth.api.verifyApiKey({ body: { key: created.key } });
if (!probe.valid) throw new Error(`better-auth probe failed: ${JSON.stringify(probe.error)}`);

const app = Fastify({ logger: false });
app.post('/verify', async (request) => {
  const result = await auth.api.verifyApiKey({ body: { key: request.body.key } });
  return { valid: result.valid, code: result.valid ? 'VALID' : result.error?.code ?? 'INVALID', keyId: result.key?.id ?? null };
});
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`key=${created.key}\nport=${app.server.address().port}\n`);
const stop = () => {
  database.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
