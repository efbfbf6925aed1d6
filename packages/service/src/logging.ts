/**
 * Structured logs (pino). Key material is redacted by path as a second line of defence; the
 * first is that no code path logs a presented key or a secret.
 */
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'key',
  'secret',
  '*.key',
  '*.secret',
  'body.key',
  'body.secret',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'keyledger' } }, destination);
}

let stdoutClosed = false;

/**
 * Makes a closed stdout (`keyledger serve | head -1`, a log shipper that went away) harmless. The
 * logger's own destination (pino's) already stops writing on EPIPE; process.stdout, used for the
 * root key banner, does not: without an 'error' listener a write to a closed pipe is an uncaught
 * exception that takes the service down. Other stdout errors still are.
 */
export function tolerateClosedStdout(stdout: NodeJS.WriteStream = process.stdout): void {
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      stdoutClosed = true;
      return;
    }
    throw error;
  });
}

/** Writes to stdout; resolves false when stdout is closed (nothing was shown), never throws for it. */
export function writeStdout(text: string, stdout: NodeJS.WriteStream = process.stdout): Promise<boolean> {
  if (stdoutClosed || stdout.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    stdout.write(text, (error) => resolve(error === undefined || error === null));
  });
}
