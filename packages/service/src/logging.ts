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
