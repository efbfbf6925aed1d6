/**
 * Starts the real, built keyledger service as a child process (node packages/service/dist/...)
 * on a free port, with its own data directory, PostgreSQL schema or Redis prefix as asked.
 * End-to-end tests talk to it over real HTTP. Run `pnpm build` first (the root `pnpm test` does).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checksumOf } from '@keyledger/schemas';

export const SERVICE_ENTRY = fileURLToPath(new URL('../../packages/service/dist/cli/main.js', import.meta.url));

export interface ServiceProcess {
  url: string;
  port: number;
  rootKey: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  /** Extra environment, e.g. KEYLEDGER_DATABASE_URL / KEYLEDGER_DATABASE_SCHEMA / KEYLEDGER_REDIS_URL. */
  env?: Record<string, string>;
  /** Reuse a data directory (restart tests); a fresh temp dir otherwise. */
  dataDir?: string;
  /** Root key to bootstrap with (KEYLEDGER_ROOT_KEY); a fresh well-formed one otherwise. */
  rootKey?: string;
  port?: number;
  timeoutMs?: number;
  /** Extra node flags before the entry, e.g. `--cpu-prof` (bench/profile-verify.ts). */
  nodeArgs?: string[];
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A well-formed key (valid checksum) for bootstrapping, made without the service's code. */
export function makeTestKey(prefix = 'kl_live'): string {
  const bytes = randomBytes(22);
  let random = '';
  for (const byte of bytes) random += BASE62[byte % 62];
  return `${prefix}_${random}${checksumOf(prefix, random)}`;
}

export async function startService(options: StartOptions = {}): Promise<ServiceProcess> {
  if (!existsSync(SERVICE_ENTRY)) throw new Error(`${SERVICE_ENTRY} is missing: run \`pnpm build\` first`);
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'keyledger-e2e-'));
  const rootKey = options.rootKey ?? makeTestKey();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), SERVICE_ENTRY, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(options.port ?? 0),
      KEYLEDGER_DATA_DIR: dataDir,
      KEYLEDGER_ROOT_KEY: rootKey,
      KEYLEDGER_LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started service behind.
      child.kill('SIGKILL');
      reject(new Error(`service did not start within ${options.timeoutMs ?? 20_000} ms:\n${output}`));
    }, options.timeoutMs ?? 20_000);
    const onData = () => {
      const match = /"port":(\d+)[^\n]*"msg":"keyledger listening"/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code} before listening:\n${output}`));
    });
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    rootKey,
    dataDir,
    child,
    output: () => output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}
