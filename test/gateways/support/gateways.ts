/**
 * Real gateways for the forward-auth tests and benchmark: Debian's nginx and Caddy started as
 * child processes on loopback ports, each with the config from examples/<gateway>/ (ports and
 * the gateway credential filled in), in front of the example upstream (examples/nginx/upstream.mjs).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
export const NGINX_CONF = join(EXAMPLES, 'nginx', 'nginx.conf');
export const CADDYFILE = join(EXAMPLES, 'caddy', 'Caddyfile');
export const UPSTREAM = join(EXAMPLES, 'nginx', 'upstream.mjs');

export interface RunningProcess {
  url: string;
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (nginx and Caddy cannot be told to pick one themselves). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Fails with the install hint when a gateway binary is missing (.ci/run installs them). */
export function requireBinary(name: 'nginx' | 'caddy'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') throw new Error(`${name} is not installed: apt-get install -y ${name === 'nginx' ? 'nginx-light' : 'caddy'} (.ci/run does this)`);
  return path;
}

function track(child: ChildProcess, name: string): { output(): string; exited: Promise<void>; stop(): Promise<void> } {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        console.log(`${name} did not stop on SIGTERM; killing it`);
        child.kill('SIGKILL');
      }, 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until something accepts HTTP on the port (any status), or the process exits. */
async function waitForHttp(url: string, exited: Promise<void>, output: () => string, name: string, timeoutMs = 15_000): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${name} exited before listening:\n${output()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${name} did not listen on ${url} within ${timeoutMs} ms:\n${output()}`);
}

export async function startUpstream(): Promise<RunningProcess> {
  const child = spawn(process.execPath, [UPSTREAM], { env: { PATH: process.env.PATH ?? '', PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tracked = track(child, 'upstream');
  const port = await new Promise<number>((resolve, reject) => {
    const onData = () => {
      const match = /listening on port (\d+)/.exec(tracked.output());
      if (match) resolve(Number(match[1]));
    };
    child.stdout!.on('data', onData);
    void tracked.exited.then(() => reject(new Error(`upstream exited:\n${tracked.output()}`)));
  });
  return { url: `http://127.0.0.1:${port}`, port, output: tracked.output, stop: tracked.stop };
}

export interface GatewayOptions {
  /** Where keyledger listens (host:port). */
  keyledger: string;
  /** Where the upstream API listens (host:port). */
  upstream: string;
  /** The gateway's management key (keys:verify). */
  gatewayKey: string;
  /** Text replacements applied to the example config after the ports (e.g. fail open). */
  edit?: (config: string) => string;
}

function replaceOnce(text: string, search: string, replacement: string, file: string): string {
  if (!text.includes(search)) throw new Error(`${file} no longer contains '${search}'; update test/gateways/support/gateways.ts`);
  return text.replace(search, replacement);
}

/** nginx with examples/nginx/nginx.conf; the credential file is written 0600, as the README says. */
export async function startNginx(options: GatewayOptions): Promise<RunningProcess> {
  const binary = requireBinary('nginx');
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  let config = readFileSync(NGINX_CONF, 'utf8');
  config = replaceOnce(config, 'listen 127.0.0.1:8000;', `listen 127.0.0.1:${port};`, NGINX_CONF);
  config = replaceOnce(config, 'server 127.0.0.1:8080;', `server ${options.keyledger};`, NGINX_CONF);
  config = replaceOnce(config, 'server 127.0.0.1:9000;', `server ${options.upstream};`, NGINX_CONF);
  if (options.edit) config = options.edit(config);
  writeFileSync(join(dir, 'nginx.conf'), config);
  const credential = join(dir, 'gateway-credential.conf');
  writeFileSync(credential, `proxy_set_header Keyledger-Authorization "Bearer ${options.gatewayKey}";\n`, { mode: 0o600 });
  chmodSync(credential, 0o600);
  const child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tracked = track(child, 'nginx');
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/_probe`, tracked.exited, tracked.output, 'nginx').catch(async (error) => {
    await tracked.stop();
    throw error;
  });
  return {
    url,
    port,
    output: tracked.output,
    async stop() {
      await tracked.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Caddy with examples/caddy/Caddyfile; addresses and the credential come from the environment it reads. */
export async function startCaddy(options: GatewayOptions): Promise<RunningProcess> {
  const binary = requireBinary('caddy');
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-caddy-'));
  const port = await freePort();
  let config = readFileSync(CADDYFILE, 'utf8');
  if (options.edit) config = options.edit(config);
  writeFileSync(join(dir, 'Caddyfile'), config);
  const child = spawn(binary, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      GATEWAY_PORT: String(port),
      KEYLEDGER_ADDRESS: options.keyledger,
      UPSTREAM_ADDRESS: options.upstream,
      KEYLEDGER_GATEWAY_KEY: options.gatewayKey,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tracked = track(child, 'caddy');
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/_probe`, tracked.exited, tracked.output, 'caddy').catch(async (error) => {
    await tracked.stop();
    throw error;
  });
  return {
    url,
    port,
    output: tracked.output,
    async stop() {
      await tracked.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
