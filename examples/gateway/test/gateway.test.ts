/**
 * The example gateway as a user runs it (the same entry as `pnpm start`, in a child process):
 * it serves when it can, and otherwise prints one line saying why and exits non-zero, for each
 * way a start can go wrong (no token, an unknown token, a token short of a permission, keyledger
 * unreachable).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type KeyledgerClient } from '@keyledger/sdk';
import { makeTestKey, type ServiceProcess, startService } from '../../../test/support/service-process.js';

const EXAMPLE_DIR = fileURLToPath(new URL('..', import.meta.url));

let service: ServiceProcess;
let admin: KeyledgerClient;

beforeAll(async () => {
  service = await startService();
  admin = createClient({ baseUrl: service.url, token: service.rootKey });
});

afterAll(async () => {
  await admin?.close();
  await service?.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function startExample(env: Record<string, string>): { child: ChildProcess; exited: Promise<Run>; stdout: () => string } {
  // What `pnpm start` runs (tsx src/server.ts), without pnpm's own banner around it.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: EXAMPLE_DIR,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<Run>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, exited, stdout: () => stdout };
}

async function runExample(env: Record<string, string>): Promise<Run> {
  const { child, exited } = startExample(env);
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  const run = await exited;
  clearTimeout(timer);
  return run;
}

async function tokenWith(permissions: ('keys:verify' | 'keys:read' | 'events:read')[]): Promise<string> {
  return (await admin.keys.issue({ consumerId: 'gateway', name: 'example gateway', permissions })).secret!;
}

/** One line on stderr, no stack trace. */
function expectOneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(lines[0]).toMatch(/^example-gateway: /);
  return lines[0]!;
}

describe('examples/gateway refuses to start, in one line, when it cannot verify keys', () => {
  it('no token for the given keyledger: names KEYLEDGER_TOKEN, exit 2', async () => {
    const run = await runExample({ KEYLEDGER_URL: service.url });
    console.log(`no token: exit ${run.code}: ${run.stderr.trim()}`);
    expect(run.code).toBe(2);
    expect(expectOneLine(run.stderr)).toContain('KEYLEDGER_TOKEN');
  });

  it('a token keyledger does not know: says the token was refused (401)', async () => {
    const run = await runExample({ KEYLEDGER_URL: service.url, KEYLEDGER_TOKEN: makeTestKey() });
    console.log(`unknown token: exit ${run.code}: ${run.stderr.trim()}`);
    expect(run.code).toBe(1);
    expect(expectOneLine(run.stderr)).toMatch(/token.*401/);
  });

  it('a token without events:read: names the missing permission', async () => {
    const run = await runExample({ KEYLEDGER_URL: service.url, KEYLEDGER_TOKEN: await tokenWith(['keys:verify', 'keys:read']) });
    console.log(`no events:read: exit ${run.code}: ${run.stderr.trim()}`);
    expect(run.code).toBe(1);
    expect(expectOneLine(run.stderr)).toContain('lacks the events:read permission');
  });

  it('keyledger unreachable: gives up after KEYLEDGER_READY_TIMEOUT_MS and says so', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const started = Date.now();
    const run = await runExample({ KEYLEDGER_URL: `http://127.0.0.1:${port}`, KEYLEDGER_TOKEN: makeTestKey(), KEYLEDGER_READY_TIMEOUT_MS: '1500' });
    console.log(`unreachable: exit ${run.code} after ${Date.now() - started} ms: ${run.stderr.trim()}`);
    expect(run.code).toBe(1);
    expect(expectOneLine(run.stderr)).toMatch(/did not answer within 1500 ms.*ECONNREFUSED/);
  });
});

describe('examples/gateway serving', () => {
  it('with a working token: guards /orders and lets a key with orders:read through', async () => {
    const { child, exited, stdout } = startExample({ KEYLEDGER_URL: service.url, KEYLEDGER_TOKEN: await tokenWith(['keys:verify', 'keys:read', 'events:read']) });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`example did not start: ${stdout()}`)), 20_000);
        child.stdout!.on('data', () => {
          const match = /orders API on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout());
          if (match) {
            clearTimeout(timer);
            resolve(Number(match[1]));
          }
        });
        void exited.then((run) => reject(new Error(`example exited with ${run.code}: ${run.stderr}`)));
      });
      const reader = await admin.keys.issue({ consumerId: 'acme', name: 'reader', scopes: ['orders:read'] });
      const anonymous = await fetch(`http://127.0.0.1:${port}/orders`);
      expect(anonymous.status).toBe(401);
      const allowed = await fetch(`http://127.0.0.1:${port}/orders`, { headers: { authorization: `Bearer ${reader.secret}` } });
      expect(allowed.status).toBe(200);
      // The handler read request.keyledger (typed through @keyledger/sdk/fastify).
      expect(((await allowed.json()) as { consumer: string }).consumer).toBe('acme');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
