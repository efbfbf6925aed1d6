/** Starts test/support/webhook-receiver.mjs as a child process and reads what it received. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./webhook-receiver.mjs', import.meta.url));

export interface Received {
  at: number;
  status: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Receiver {
  url: string;
  port: number;
  child: ChildProcess;
  setMode(mode: 'ok' | 'fail'): Promise<void>;
  /** Every request received so far (also by earlier receivers on the same log). */
  received(): Received[];
  /** The accepted (2xx) deliveries, deduplicated by webhook-id, in arrival order. */
  accepted(): Received[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startReceiver(options: { log?: string; port?: number; mode?: 'ok' | 'fail' } = {}): Promise<Receiver> {
  const log = options.log ?? join(mkdtempSync(join(tmpdir(), 'keyledger-hook-')), 'received.jsonl');
  const child = spawn(process.execPath, [SCRIPT, log, String(options.port ?? 0), options.mode ?? 'ok'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /"port":(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const received = (): Received[] =>
    existsSync(log)
      ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Received)
      : [];
  return {
    url,
    port,
    child,
    async setMode(mode) {
      await fetch(`${url}/__mode`, { method: 'POST', body: mode });
    },
    received,
    accepted() {
      const seen = new Set<string>();
      return received().filter((r) => r.status < 300 && !seen.has(r.headers['webhook-id'] as string) && seen.add(r.headers['webhook-id'] as string));
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}

export function receiverLog(receiver: Receiver): string {
  return receiver.child.spawnargs[2] as string;
}
