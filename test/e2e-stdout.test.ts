/**
 * A service whose stdout pipe closes (`keyledger serve | head -1`, a log shipper that went away)
 * keeps serving and still shuts down on SIGTERM: writes to the closed pipe fail with EPIPE, and
 * neither the logger nor the root key banner may turn that into a crash or a stalled exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { makeTestKey, SERVICE_ENTRY } from './support/service-process.js';

/** Generous: a clean shutdown takes well under a second; a hang never ends. */
const EXIT_BOUND_MS = 10_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

interface Started {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string>): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-stdout-'));
  dirs.push(dataDir);
  const port = await freePort();
  const child = spawn(process.execPath, [SERVICE_ENTRY, 'serve'], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), KEYLEDGER_DATA_DIR: dataDir, KEYLEDGER_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, port, stderr: () => stderr, exited };
}

/** Sends SIGTERM and measures how long the process takes to exit (it is killed past the bound). */
async function terminate(started: Started): Promise<{ code: number | null; elapsedMs: number }> {
  const began = performance.now();
  started.child.kill('SIGTERM');
  const timer = setTimeout(() => started.child.kill('SIGKILL'), EXIT_BOUND_MS);
  const { code } = await started.exited;
  clearTimeout(timer);
  return { code, elapsedMs: performance.now() - began };
}

async function healthy(started: Started): Promise<void> {
  await eventually(
    'the service to answer /healthz',
    async () => {
      if (started.child.exitCode !== null) throw new Error(`exited early with ${started.child.exitCode}:\n${started.stderr()}`);
      return fetch(`http://127.0.0.1:${started.port}/healthz`).then(
        (response) => response.status === 200,
        () => false,
      );
    },
    20_000,
  );
}

describe('a closed stdout', () => {
  it('closed before the first write (a fresh ledger prints its root key): keeps serving, exits 0 on SIGTERM', async () => {
    const started = await start({});
    // Our end of the pipe is the only reader: from now on every write to stdout is EPIPE.
    started.child.stdout?.destroy();
    await healthy(started);
    // Request log lines hit the closed pipe too.
    for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${started.port}/v1/keys`)).status).toBe(401);
    await eventually('the warning that the root key could not be shown', () => started.stderr().includes('the new root key could not be shown'), 5_000);
    expect(started.stderr()).not.toMatch(/kl_(?:live|test)_[0-9A-Za-z]{28}/);
    const { code, elapsedMs } = await terminate(started);
    console.log(`closed stdout before the first write: exited ${code} ${elapsedMs.toFixed(0)} ms after SIGTERM`);
    expect(code).toBe(0);
    expect(elapsedMs).toBeLessThan(EXIT_BOUND_MS);
  });

  it('closed after the first line (`serve | head -1`): keeps serving, exits 0 on SIGTERM', async () => {
    const started = await start({ KEYLEDGER_ROOT_KEY: makeTestKey() });
    await new Promise<void>((resolve) => {
      let seen = '';
      started.child.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        if (seen.includes('\n')) {
          started.child.stdout?.destroy();
          resolve();
        }
      });
    });
    await healthy(started);
    for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${started.port}/v1/keys`)).status).toBe(401);
    const { code, elapsedMs } = await terminate(started);
    console.log(`closed stdout after the first line: exited ${code} ${elapsedMs.toFixed(0)} ms after SIGTERM`);
    expect(code).toBe(0);
    expect(elapsedMs).toBeLessThan(EXIT_BOUND_MS);
  });
});
