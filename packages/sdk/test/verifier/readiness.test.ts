/**
 * `verifier.ready()` fails early and names the cause, against a real service process: a token
 * keyledger does not know, tokens short of a permission, and no keyledger at all. The default
 * onError reports each kind of failure once.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createVerifier, type IssueKeyRequest, KeyledgerVerifierError, logOncePerKind, type KeyledgerClient } from '@keyledger/sdk';
import { makeTestKey, type ServiceProcess, startService } from '../../../../test/support/service-process.js';
import { eventually } from '../../../../test/support/eventually.js';

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

async function tokenWith(permissions: string[]): Promise<string> {
  const issued = await admin.keys.issue({ consumerId: 'gateway', name: `gateway ${permissions.join(' ')}`, permissions: permissions as IssueKeyRequest['permissions'] });
  return issued.secret!;
}

async function readyFailure(token: string, options: { baseUrl?: string; readyTimeoutMs?: number; errors?: unknown[] } = {}) {
  const verifier = createVerifier({
    baseUrl: options.baseUrl ?? service.url,
    token,
    readyTimeoutMs: options.readyTimeoutMs ?? 5_000,
    onError: (error) => options.errors?.push(error),
  });
  const started = Date.now();
  try {
    await verifier.ready();
    return { error: undefined, ms: Date.now() - started };
  } catch (error) {
    return { error: error as KeyledgerVerifierError, ms: Date.now() - started };
  } finally {
    await verifier.close();
  }
}

/** A port on which nothing listens (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('verifier.ready() names why it cannot work', () => {
  it('resolves for a token with keys:verify, events:read and keys:read', async () => {
    const { error } = await readyFailure(await tokenWith(['keys:verify', 'events:read', 'keys:read']));
    expect(error).toBeUndefined();
  });

  it('rejects UNAUTHORIZED for a well-formed key keyledger does not know', async () => {
    const { error, ms } = await readyFailure(makeTestKey());
    console.log(`unknown token: rejected after ${ms} ms: ${error?.message}`);
    expect(error).toBeInstanceOf(KeyledgerVerifierError);
    expect(error!.reason).toBe('UNAUTHORIZED');
    expect(error!.message).toMatch(/401/);
  });

  it('rejects MISSING_PERMISSION naming events:read when the token cannot follow the feed', async () => {
    const { error } = await readyFailure(await tokenWith(['keys:verify', 'keys:read']));
    expect(error?.reason).toBe('MISSING_PERMISSION');
    expect(error?.permission).toBe('events:read');
    expect(error?.message).toContain('events:read');
  });

  it('rejects MISSING_PERMISSION naming keys:verify when the token cannot verify', async () => {
    const { error } = await readyFailure(await tokenWith(['events:read', 'keys:read']));
    expect(error?.reason).toBe('MISSING_PERMISSION');
    expect(error?.permission).toBe('keys:verify');
  });

  it('resolves without keys:read but reports once that only refusals are cached', async () => {
    const errors: unknown[] = [];
    const { error } = await readyFailure(await tokenWith(['keys:verify', 'events:read']), { errors });
    expect(error).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect((errors[0] as KeyledgerVerifierError).permission).toBe('keys:read');
  });

  it('rejects UNREACHABLE after the timeout when nothing answers, with the network error', async () => {
    const port = await closedPort();
    const { error, ms } = await readyFailure(makeTestKey(), { baseUrl: `http://127.0.0.1:${port}`, readyTimeoutMs: 1_000 });
    console.log(`unreachable: rejected after ${ms} ms: ${error?.message}`);
    expect(error?.reason).toBe('UNREACHABLE');
    expect(error?.message).toMatch(/1000 ms/);
    expect(error?.message).toMatch(/ECONNREFUSED/);
    expect(ms).toBeGreaterThanOrEqual(900);
  });
});

describe('default onError', () => {
  it('writes one line per kind of failure, then stays quiet for that kind', async () => {
    const lines: string[] = [];
    const onError = logOncePerKind((line) => lines.push(line));
    // Real failures from the service: 401 twice, then a refused connection twice.
    const stranger = createClient({ baseUrl: service.url, token: makeTestKey(), retries: 0 });
    const nowhere = createClient({ baseUrl: `http://127.0.0.1:${await closedPort()}`, token: makeTestKey(), retries: 0 });
    try {
      for (const client of [stranger, stranger, nowhere, nowhere]) {
        await client.events.list({ limit: 1 }).catch(onError);
      }
    } finally {
      await stranger.close();
      await nowhere.close();
    }
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^keyledger verifier: 401/);
    expect(lines[1]).toMatch(/ECONNREFUSED/);
    for (const line of lines) expect(line).not.toContain('\n');
  });

  it('is what a verifier uses when none is given: a feed refused while nobody awaits ready() is reported on stderr, once', async () => {
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      written.push(String(chunk));
      return (original as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    const verifier = createVerifier({ baseUrl: service.url, token: await tokenWith(['keys:verify', 'keys:read']) });
    try {
      await eventually('the feed refusal on stderr', () => written.some((line) => line.startsWith('keyledger verifier:')));
      // Verification still works (remotely), and ready() still names the cause.
      expect((await verifier.verify(makeTestKey())).code).toBe('NOT_FOUND');
      await expect(verifier.ready()).rejects.toThrow(/events:read/);
    } finally {
      await verifier.close();
      process.stderr.write = original;
    }
    const ours = written.filter((line) => line.startsWith('keyledger verifier:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/403/);
  });
});
