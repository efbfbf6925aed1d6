/**
 * The packages as users get them, outside this repository: `pnpm pack` each publishable package,
 * install the tarballs with npm into an empty folder in the system temp directory (their
 * dependencies come from the npm registry, or npm's cache when it has them), then
 *   - import the SDK, the schemas and the service from a plain ESM script,
 *   - type-check a TypeScript file that uses the client, the verifier and the fastify plugin
 *     (request.keyledger typed through module augmentation), against the shipped .d.ts files,
 *   - run `npx keyledger serve` from the installed service until /readyz answers, and use the
 *     installed SDK against it with the root key it printed.
 * Needs `pnpm build` first (the root `pnpm test` does). The install takes about a minute here
 * (better-sqlite3 compiles from source; npm_config_nodedir=/usr points it at the Node headers).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = ['schemas', 'sdk', 'service'] as const;
const INSTALL_TIMEOUT_MS = 8 * 60_000;

let work: string;
let app: string;
const tarballs: Record<string, string> = {};
let serve: ChildProcess | undefined;

/** npm's environment: the system Node headers for native builds when they are there (no download). */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
  if (!env.npm_config_nodedir && existsSync('/usr/include/node/node.h')) env.npm_config_nodedir = '/usr';
  // Whatever the workspace configured for pnpm must not steer this install.
  delete env.npm_config_prefix;
  return env;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'keyledger-packed-'));
  app = join(work, 'app');
  mkdirSync(app);
  const packed = join(work, 'tarballs');
  for (const pkg of PACKAGES) {
    const dir = join(ROOT, 'packages', pkg);
    if (!existsSync(join(dir, 'dist', 'index.js'))) throw new Error(`packages/${pkg}/dist is missing: run \`pnpm build\` first`);
    await run('pnpm', ['pack', '--pack-destination', packed], { cwd: dir, timeout: 60_000 });
  }
  for (const file of readdirSync(packed)) tarballs[/^keyledger-(\w+)-/.exec(file)![1]!] = join(packed, file);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'keyledger-user', private: true, type: 'module' }, null, 2)}\n`);
  const started = Date.now();
  await run(
    'npm',
    ['install', '--prefer-offline', '--no-package-lock', ...PACKAGES.map((pkg) => tarballs[pkg]!), 'fastify@^5', '@types/node@^20'],
    { cwd: app, env: npmEnv(), timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
  );
  console.log(`npm install of the packed tarballs (+ fastify, @types/node) into ${app}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  if (serve?.pid !== undefined && serve.exitCode === null) process.kill(-serve.pid, 'SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed packages, installed with npm outside the repository', () => {
  it('each tarball holds its build, types, README and LICENSE, and no workspace: dependency', async () => {
    for (const pkg of PACKAGES) {
      const { stdout } = await run('tar', ['-tzf', tarballs[pkg]!]);
      const files = stdout.split('\n');
      for (const file of ['package/package.json', 'package/README.md', 'package/LICENSE', 'package/dist/index.js', 'package/dist/index.d.ts']) {
        expect(files, `${pkg}: ${file}`).toContain(file);
      }
      expect(files.filter((f) => f.startsWith('package/src/') || f.startsWith('package/test/') || f.endsWith('.map'))).toEqual([]);
      const { stdout: manifest } = await run('tar', ['-xOzf', tarballs[pkg]!, 'package/package.json']);
      expect(manifest).not.toContain('workspace:');
      const json = JSON.parse(manifest) as { license?: string; engines?: { node?: string }; exports?: unknown; types?: string };
      expect(json.license).toBe('Apache-2.0');
      expect(json.engines?.node).toBeTruthy();
      expect(json.types).toBe('./dist/index.d.ts');
    }
  });

  it('a plain ESM script imports the SDK (and its fastify entry), the schemas and the service', async () => {
    writeFileSync(
      join(app, 'imports.mjs'),
      `import { createClient, createVerifier, KeyledgerApiError, KeyledgerVerifierError } from '@keyledger/sdk';
import { keyledgerFastify } from '@keyledger/sdk/fastify';
import { parseKey } from '@keyledger/schemas';
import { createKeyledger, loadConfig } from '@keyledger/service';
console.log(JSON.stringify([createClient, createVerifier, KeyledgerApiError, KeyledgerVerifierError, keyledgerFastify, parseKey, createKeyledger, loadConfig].map((f) => typeof f)));
`,
    );
    const { stdout } = await run(process.execPath, ['imports.mjs'], { cwd: app });
    expect(JSON.parse(stdout)).toEqual(Array(8).fill('function'));
  });

  it('a TypeScript file using the client, the verifier and the fastify plugin type-checks against the shipped types', async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
        files: ['gateway.ts'],
      }),
    );
    writeFileSync(
      join(app, 'gateway.ts'),
      `import Fastify from 'fastify';
import { createClient, createVerifier, KeyledgerApiError, KeyledgerVerifierError, type VerifyResult } from '@keyledger/sdk';
import { keyledgerFastify } from '@keyledger/sdk/fastify';

const client = createClient({ baseUrl: 'http://127.0.0.1:8080', token: 'kl_live_x' });
const issued = await client.keys.issue({ consumerId: 'acme', scopes: ['orders:read'] });
const secret: string | null = issued.secret;
const result: VerifyResult = await client.verify({ key: secret ?? '', scopes: ['orders:read'] });
if (result.valid) {
  const consumer: string = result.consumerId;
  console.log(consumer);
}
try {
  await client.keys.revoke(issued.id);
} catch (error) {
  if (error instanceof KeyledgerApiError) console.log(error.status, error.problem.type);
}

const verifier = createVerifier({ client, readyTimeoutMs: 5000 });
try {
  await verifier.ready();
} catch (error) {
  if (error instanceof KeyledgerVerifierError) console.log(error.reason, error.permission);
}

const app = Fastify();
await app.register(keyledgerFastify, { verifier, scopes: { 'GET /orders/:id': ['orders:read'] }, publicRoutes: ['/health'] });
app.get('/orders/:id', async (request) => {
  // Typed by the plugin's module augmentation: the verified key, or undefined on public routes.
  const consumerId: string | undefined = request.keyledger?.consumerId;
  const scopes: readonly string[] | undefined = request.keyledger?.scopes;
  // @ts-expect-error -- a consumer id is a string, not a number: request.keyledger is not \`any\`
  const wrong: number | undefined = request.keyledger?.consumerId;
  return { consumerId, scopes, wrong };
});
// @ts-expect-error -- the plugin's options are checked: a verifier is required
await app.register(keyledgerFastify, { scopes: ['x'] });
`,
    );
    const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).catch((error: { stdout?: string; code?: number }) => error);
    expect((result as { stdout?: string }).stdout ?? '').toBe('');
    expect((result as { code?: number }).code ?? 0).toBe(0);
  });

  it('`npx keyledger serve` from the installed service answers /readyz; its printed root key works with the installed SDK', async () => {
    const dataDir = join(work, 'data');
    serve = spawn('npx', ['--no-install', 'keyledger', 'serve'], {
      cwd: app,
      env: { ...npmEnv(), HOST: '127.0.0.1', PORT: '0', KEYLEDGER_DATA_DIR: dataDir, KEYLEDGER_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: npx runs the service as a child; both are stopped together.
      detached: true,
    });
    let output = '';
    serve.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    serve.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => serve!.once('exit', (code) => resolve(code)));

    const port = await eventually(`"keyledger listening" from npx keyledger serve:\n${output}`, () => {
      if (serve!.exitCode !== null) throw new Error(`npx keyledger serve exited with ${serve!.exitCode}:\n${output}`);
      const match = /"port":(\d+)[^\n]*"msg":"keyledger listening"/.exec(output);
      return match ? Number(match[1]) : undefined;
    }, 60_000);
    const readyz = await eventually('/readyz 200', async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return response?.status === 200 ? response.status : undefined;
    }, 20_000);
    expect(readyz).toBe(200);

    const rootKey = /^\s+(kl_live_[0-9A-Za-z]{28})\s*$/m.exec(output)?.[1];
    expect(rootKey, output).toBeDefined();
    writeFileSync(
      join(app, 'use.mjs'),
      `import { createClient } from '@keyledger/sdk';
const kl = createClient({ baseUrl: process.argv[2], token: process.argv[3] });
const issued = await kl.keys.issue({ consumerId: 'acme', scopes: ['orders:read'] });
const result = await kl.verify({ key: issued.secret, scopes: ['orders:read'] });
console.log(JSON.stringify({ code: result.code, consumerId: result.consumerId }));
await kl.close();
`,
    );
    const { stdout } = await run(process.execPath, ['use.mjs', `http://127.0.0.1:${port}`, rootKey!], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({ code: 'VALID', consumerId: 'acme' });

    process.kill(-serve.pid!, 'SIGTERM');
    const code = await exited;
    console.log(`npx keyledger serve stopped with exit code ${code}`);
  }, 120_000);
});
