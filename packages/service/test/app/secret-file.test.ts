/**
 * Secret files: written whole or not at all (temp file, fsync, rename/link, fsync of the
 * directory), 0600 whatever the umask, in a directory created 0700; and the server secret is
 * checked at start, so an empty or short one stops the start naming the file.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveServerSecret, SERVER_SECRET_BYTES, ServerSecretError } from '../../src/app/bootstrap.js';
import { writeSecretFile } from '../../src/app/secret-file.js';

const logger = pino({ level: 'silent' });
const mode = (path: string) => statSync(path).mode & 0o777;

let dir: string;
let umask: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyledger-secret-'));
  // The widest umask there is: the modes must come from the code, not from the environment.
  umask = process.umask(0);
});
afterEach(() => {
  process.umask(umask);
  rmSync(dir, { recursive: true, force: true });
});

describe('writeSecretFile', () => {
  it('writes the contents 0600 into a new 0700 directory and leaves no temp file', () => {
    const file = join(dir, 'nested', 'signing-key');
    writeSecretFile(file, 'first');
    expect(readFileSync(file, 'utf8')).toBe('first');
    expect(mode(file)).toBe(0o600);
    expect(mode(join(dir, 'nested'))).toBe(0o700);
    expect(readdirSync(join(dir, 'nested'))).toEqual(['signing-key']);
  });

  it('replaces an existing file atomically (a new inode, never a truncated old one)', () => {
    const file = join(dir, 'secret');
    writeSecretFile(file, 'first');
    const before = statSync(file).ino;
    writeSecretFile(file, new Uint8Array(Buffer.from('second')));
    expect(readFileSync(file, 'utf8')).toBe('second');
    expect(statSync(file).ino).not.toBe(before);
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['secret']);
  });

  it('exclusive: refuses to replace an existing file and leaves it as it was', () => {
    const file = join(dir, 'secret');
    writeSecretFile(file, 'winner', { exclusive: true });
    expect(() => writeSecretFile(file, 'loser', { exclusive: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(readFileSync(file, 'utf8')).toBe('winner');
    expect(readdirSync(dir)).toEqual(['secret']);
  });
});

describe('resolveServerSecret', () => {
  it('generates a 32-byte secret once, 0600, and reads the same one back', () => {
    const file = join(dir, 'data', 'server-secret');
    const first = resolveServerSecret({ configured: undefined, file, logger });
    expect(first.length).toBe(SERVER_SECRET_BYTES);
    expect(mode(file)).toBe(0o600);
    expect(mode(join(dir, 'data'))).toBe(0o700);
    expect(resolveServerSecret({ configured: undefined, file, logger }).equals(first)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['short', 'c2hvcnQ'],
    ['not base64url', `${'a'.repeat(40)}!!`],
  ])('an %s stored secret stops the start with a message naming the file', (_what, contents) => {
    const file = join(dir, 'server-secret');
    writeFileSync(file, contents, { mode: 0o600 });
    let error: unknown;
    try {
      resolveServerSecret({ configured: undefined, file, logger });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ServerSecretError);
    expect((error as Error).message).toContain(file);
    // Nothing was overwritten: the operator decides (restore or delete).
    expect(readFileSync(file, 'utf8')).toBe(contents);
  });

  it('tightens a stored secret left readable by others to 0600', () => {
    mkdirSync(join(dir, 'old'));
    const file = join(dir, 'old', 'server-secret');
    writeFileSync(file, Buffer.alloc(32, 1).toString('base64url'), { mode: 0o644 });
    resolveServerSecret({ configured: undefined, file, logger });
    expect(mode(file)).toBe(0o600);
  });
});
