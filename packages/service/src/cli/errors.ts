/**
 * How the CLI reports a failure: one line on stderr naming the cause and what to do, no stack.
 * Mistakes a user can make (a bad setting, a port in use, a second process, a path that does not
 * exist, a database that cannot be reached) get a sentence of their own; anything else is a bug
 * and still gets one line, with its stack left to the debug log.
 */
import { ConfigError } from '../config/config.js';
import { InstanceLockedError } from '../app/instance-lock.js';
import { RootKeyError } from '../app/bootstrap.js';

/** An error whose message is already the sentence to show. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

interface SystemError {
  code?: string;
  syscall?: string;
  path?: string;
  address?: string;
  port?: number;
}

/** The one line to print for `error` (without the `keyledger: ` prefix), and the exit code. */
export function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  // A config error lists every bad setting on its own line; keep them, on one line.
  if (error instanceof ConfigError) return { message: oneLine(error.message), exitCode: 2 };
  if (error instanceof InstanceLockedError || error instanceof RootKeyError) return { message: error.message, exitCode: 1 };
  const system = findSystemError(error);
  if (system) {
    const where = system.path ?? (system.address !== undefined ? `${system.address}${system.port !== undefined ? `:${system.port}` : ''}` : undefined);
    switch (system.code) {
      case 'EADDRINUSE':
        return { message: `${where ?? 'the address'} is already in use by another program; set PORT (or HOST) to a free one`, exitCode: 1 };
      case 'EADDRNOTAVAIL':
        return { message: `cannot listen on ${where ?? 'that address'}: it is not an address of this machine; check HOST`, exitCode: 1 };
      case 'EACCES':
      case 'EPERM':
        return { message: `permission denied: ${where ?? oneLine(messageOf(error))}${system.syscall === 'listen' ? ' (ports below 1024 need privileges; set PORT)' : ''}`, exitCode: 1 };
      case 'ENOENT':
        return { message: `no such file or directory: ${where ?? oneLine(messageOf(error))}`, exitCode: 1 };
      case 'ECONNREFUSED':
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
        return { message: `cannot reach ${where ?? 'the database'} (${system.code}); check KEYLEDGER_DATABASE_URL / KEYLEDGER_REDIS_URL`, exitCode: 1 };
    }
  }
  return { message: oneLine(messageOf(error)), exitCode: 1 };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join('; ')
    .replace(/:;/g, ':');
}

/** The operating system error behind `error`, following `cause` chains (store errors wrap them). */
function findSystemError(error: unknown): SystemError | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as SystemError & { cause?: unknown; errors?: unknown[] };
    if (typeof candidate.code === 'string' && /^E[A-Z]+$/.test(candidate.code)) return candidate;
    // Connection attempts to every address of a host fail together (happy eyeballs).
    if (Array.isArray(candidate.errors) && candidate.errors.length > 0) current = candidate.errors[0];
    else current = candidate.cause;
  }
  return undefined;
}

/** Prints the failure as one line and exits. */
export function exitWithFailure(error: unknown): never {
  const { message, exitCode } = describeFailure(error);
  process.stderr.write(`keyledger: ${message}\n`);
  process.exit(exitCode);
}
