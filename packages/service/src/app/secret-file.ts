/**
 * Files that hold secrets (the server secret, signing keys): owner-only (0600) in an owner-only
 * directory, and written atomically, so a crash mid-write leaves either no file or the whole one,
 * never an empty or truncated secret that a later start would take for a real one.
 *
 * Atomic means: write a temp file in the same directory, fsync it, move it into place, fsync the
 * directory (so the new name itself survives a power loss).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const SECRET_FILE_MODE = 0o600;
export const SECRET_DIR_MODE = 0o700;

export interface WriteSecretFileOptions {
  /**
   * true: fail with EEXIST when the file exists (two processes creating the same secret at once:
   * exactly one wins and the other reads the winner's). false (default): replace it.
   */
  exclusive?: boolean;
}

/** Writes `contents` to `file` atomically with mode 0600; creates the directory 0700 if missing. */
export function writeSecretFile(file: string, contents: string | Uint8Array, options: WriteSecretFileOptions = {}): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: SECRET_DIR_MODE });
  const temp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', SECRET_FILE_MODE);
  try {
    try {
      // The umask may have narrowed the mode further, never widened it; fix it exactly anyway.
      chmodSync(temp, SECRET_FILE_MODE);
      const bytes = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link() refuses an existing target atomically; rename() replaces it atomically.
    if (options.exclusive) linkSync(temp, file);
    else renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
  fsyncDirectory(dir);
}

/** Makes a directory entry change (create, rename) durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
