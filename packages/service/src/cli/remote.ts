/**
 * Commands that talk to a running service through the SDK: `--url` / `--token` (or
 * KEYLEDGER_URL / KEYLEDGER_TOKEN), one client per command, and every failure the SDK reports
 * turned into one line a person can act on (a refused token, an unreachable or malformed URL, a
 * problem answer with its detail). `keys` uses it; `consumers` and `plans` plug in the same way:
 *
 *   const cmd = remoteCommand(parent.command('list'), 'list keys').action(remoteAction(async (client, options) => ...));
 */
import { createClient, KeyledgerApiError, KeyledgerNetworkError, type KeyledgerClient } from '@keyledger/sdk';
import type { Command } from 'commander';
import { CliError } from './errors.js';

export interface RemoteOptions {
  url?: string;
  token?: string;
  json?: boolean;
  timeout?: string;
}

/** Adds the options every SDK-backed command takes. */
export function remoteCommand(command: Command): Command {
  return command
    .option('--url <url>', 'the service, e.g. http://127.0.0.1:8080 (default: KEYLEDGER_URL)')
    .option('--token <key>', 'an API key with the permissions the command needs (default: KEYLEDGER_TOKEN)')
    .option('--timeout <ms>', 'per request, in milliseconds', '10000')
    .option('--json', 'print JSON for scripts instead of a table', false);
}

/** Where to reach the service; a missing or malformed setting is a usage error (exit 2). */
export function remoteTarget(options: RemoteOptions, env: NodeJS.ProcessEnv = process.env): { url: string; token: string; timeoutMs: number } {
  const url = options.url ?? env.KEYLEDGER_URL;
  const token = options.token ?? env.KEYLEDGER_TOKEN;
  if (!url) throw new CliError('no service to talk to: pass --url or set KEYLEDGER_URL', 2);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--url '${url}' is not a URL (e.g. http://127.0.0.1:8080)`, 2);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`--url '${url}' must be an http:// or https:// URL`, 2);
  if (!token) throw new CliError('no API key: pass --token or set KEYLEDGER_TOKEN', 2);
  const timeoutMs = Number(options.timeout ?? 10_000);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new CliError(`--timeout '${options.timeout}' is not a positive number of milliseconds`, 2);
  return { url, token, timeoutMs };
}

/** Runs `body` with a client for the command's target, closing it afterwards. */
export async function withClient<T>(options: RemoteOptions, body: (client: KeyledgerClient) => Promise<T>): Promise<T> {
  const target = remoteTarget(options);
  // Few retries: a person is waiting, and a refused connection will not heal in a second.
  const client = createClient({ baseUrl: target.url, token: target.token, timeoutMs: target.timeoutMs, retries: 1 });
  try {
    return await body(client);
  } catch (error) {
    throw remoteFailure(error, target.url);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Exit code 3: the service answered with a problem (refused, not found, conflict...); 4: it could not be reached. */
export const EXIT_REFUSED = 3;
export const EXIT_UNREACHABLE = 4;

export function remoteFailure(error: unknown, url: string): unknown {
  if (error instanceof CliError) return error;
  if (error instanceof KeyledgerApiError) {
    if (error.status === 401) return new CliError(`${url} refused the API key (401): check --token / KEYLEDGER_TOKEN`, EXIT_REFUSED);
    if (error.status === 403) return new CliError(`the API key may not do this (403${error.problem.detail ? `: ${error.problem.detail}` : ''})`, EXIT_REFUSED);
    const fields = error.fieldErrors.map((field) => `${field.path} ${field.message}`).join('; ');
    return new CliError(`${error.status} ${error.problem.title}${error.problem.detail ? `: ${error.problem.detail}` : ''}${fields ? ` (${fields})` : ''}`, EXIT_REFUSED);
  }
  if (error instanceof KeyledgerNetworkError) {
    const code = findCode(error);
    return new CliError(`cannot reach ${url}${code ? ` (${code})` : `: ${error.message}`}; is the service running there?`, EXIT_UNREACHABLE);
  }
  return error;
}

function findCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof candidate.code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(candidate.code)) return candidate.code;
    current = Array.isArray(candidate.errors) && candidate.errors.length > 0 ? candidate.errors[0] : candidate.cause;
  }
  return undefined;
}
