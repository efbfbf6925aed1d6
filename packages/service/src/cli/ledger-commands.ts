/**
 * Commands over a whole store: `export`, `import`, `migrate` and `projections rebuild`. Each opens
 * the store directly (cli/store-options.ts), shows progress on stderr (cli/progress.ts) and prints
 * its summary on stdout (a table, or --json).
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, chmodSync, renameSync, existsSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ExportFileError } from '../audit/export-format.js';
import { exportLedger } from '../audit/export.js';
import { importLedger, StoreNotEmptyError } from '../audit/import.js';
import { migrateLedger } from '../audit/migrate.js';
import { rebuildProjections } from '../projections/rebuild.js';
import { CliError } from './errors.js';
import { print, renderRecord, renderTable } from './output.js';
import { startProgress } from './progress.js';
import { openConfiguredStore, openStore, sqliteDatabaseOf, type StoreOptions, storeCommand, storeConfig } from './store-options.js';

interface CommonOptions extends StoreOptions {
  json?: boolean;
  progress?: boolean;
}

function common(command: Command): Command {
  return storeCommand(command).option('--json', 'print the summary as JSON', false).option('--no-progress', 'no progress bar on stderr');
}

/** Lines to a stream, in chunks, waiting when it is full. */
function lineWriter(stream: Writable): { write: (line: string) => Promise<void>; flush: () => Promise<void> } {
  let buffer: string[] = [];
  let size = 0;
  const flush = async () => {
    if (buffer.length === 0) return;
    const chunk = buffer.join('');
    buffer = [];
    size = 0;
    if (!stream.write(chunk)) await once(stream, 'drain');
  };
  return {
    async write(line) {
      buffer.push(`${line}\n`);
      size += line.length + 1;
      if (size >= 1 << 16) await flush();
    },
    flush,
  };
}

function linesOf(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Number.POSITIVE_INFINITY });
}

export function registerLedgerCommands(program: Command, version: string): void {
  common(program.command('export').description('write the ledger as NDJSON (a header, signed checkpoints, one line per event, a trailer with count and Merkle root)'))
    .option('-o, --out <file>', 'write to this file (created 0600) instead of stdout')
    .action(async (options: CommonOptions & { out?: string }) => {
      const opened = await openStore(options, { mustExist: true });
      const total = await opened.store.countEvents();
      const toFile = options.out !== undefined;
      const target = toFile ? resolve(options.out as string) : undefined;
      if (target && !existsSync(dirname(target))) throw new CliError(`no such file or directory: ${dirname(target)}`);
      const temp = target ? join(dirname(target), `.${basename(target)}.${process.pid}.tmp`) : undefined;
      const stream: Writable = temp ? createWriteStream(temp, { mode: 0o600, flags: 'wx' }) : process.stdout;
      if (!temp) {
        process.stdout.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code === 'EPIPE') process.exit(0);
          throw error;
        });
      }
      const writer = lineWriter(stream);
      const progress = startProgress('export', total, options.progress !== false);
      let summary;
      try {
        summary = await exportLedger({ store: opened.store, log: opened.log, keyledgerVersion: version, write: writer.write, onProgress: (done) => progress.update(done) });
        await writer.flush();
        if (temp && target) {
          stream.end();
          await once(stream, 'finish');
          chmodSync(temp, 0o600);
          renameSync(temp, target);
        }
      } catch (error) {
        if (temp) rmSync(temp, { force: true });
        throw error;
      } finally {
        progress.stop();
        await opened.close();
      }
      // With the export on stdout the summary goes to stderr, so the file stays a clean NDJSON stream.
      const line = `exported ${summary.count} events from ${opened.where}; root hash ${summary.rootHash}; ${summary.checkpoints} signed checkpoints\n`;
      if (toFile) print(options, { ...summary, file: target }, () => line);
      else process.stderr.write(options.json ? `${JSON.stringify(summary)}\n` : line);
    });

  common(program.command('import').description('load an export into an EMPTY store, verifying every line first (a tampered file is refused, naming the line)'))
    .option('-i, --in <file>', 'read this file instead of stdin')
    .action(async (options: CommonOptions & { in?: string }) => {
      let file = options.in === undefined ? undefined : resolve(options.in);
      if (file && !existsSync(file)) throw new CliError(`no such file or directory: ${file}`);
      let spool: string | undefined;
      if (!file) {
        // Two passes need the bytes twice: stdin goes to a private temporary file first.
        spool = mkdtempSync(join(tmpdir(), 'keyledger-import-'));
        file = join(spool, 'export.ndjson');
        await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }));
      }
      const config = storeConfig(options);
      const opened = await openConfiguredStore(config.database, {}, config);
      let progress = startProgress('verify', 0, options.progress !== false);
      try {
        const summary = await importLedger({
          store: opened.store,
          log: opened.log,
          lines: () => linesOf(file as string),
          onVerified: (verified) => {
            progress.stop();
            progress = startProgress('import', verified.count, options.progress !== false);
          },
          onProgress: (_phase, done) => progress.update(done),
        });
        progress.stop();
        const { salts: _salts, header: _header, trailer: _trailer, ...shown } = summary;
        print(options, { ...shown, checkpoints: summary.checkpoints.length, store: opened.where }, () => `imported ${summary.count} events into ${opened.where}; root hash ${summary.rootHash} (equal to the file's); ${summary.checkpoints.length} signed checkpoints verified\n`);
      } catch (error) {
        progress.stop();
        if (error instanceof ExportFileError) throw new CliError(`refused: ${error.message}; nothing was imported`);
        if (error instanceof StoreNotEmptyError) throw new CliError(`${error.message} (${opened.where})`);
        throw error;
      } finally {
        await opened.close();
        if (spool) rmSync(spool, { recursive: true, force: true });
      }
    });

  program
    .command('migrate')
    .description('move an installation from SQLite to PostgreSQL, then verify both sides (counts, tree size, root hash, checkpoints, projections, verify answers)')
    .requiredOption('--from <path>', 'the SQLite data directory or database file')
    .requiredOption('--to <url>', 'the PostgreSQL URL (its schema must hold no events yet)')
    .option('--to-schema <schema>', 'PostgreSQL schema', 'public')
    .option('--json', 'print the checks as JSON', false)
    .option('--no-progress', 'no progress bar on stderr')
    .action(async (options: { from: string; to: string; toSchema: string; json?: boolean; progress?: boolean }) => {
      if (!/^postgres(ql)?:\/\//.test(options.to)) throw new CliError(`--to '${options.to}' must be a postgres:// or postgresql:// URL`, 2);
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.toSchema)) throw new CliError(`--to-schema '${options.toSchema}' must be a lowercase SQL identifier`, 2);
      const source = await openConfiguredStore(sqliteDatabaseOf(options.from), { mustExist: true });
      let target;
      try {
        target = await openConfiguredStore({ kind: 'postgres', url: options.to, schema: options.toSchema });
      } catch (error) {
        await source.close();
        throw error;
      }
      const total = await source.store.countEvents();
      const bars = { copy: startProgress('copy', total, options.progress !== false), verify: undefined as ReturnType<typeof startProgress> | undefined };
      try {
        const summary = await migrateLedger({
          source: source.store,
          target: target.store,
          sourceLog: source.log,
          targetLog: target.log,
          onProgress: (phase, done, all) => {
            if (phase === 'copy') bars.copy.update(done, all);
            else {
              if (!bars.verify) {
                bars.copy.stop();
                bars.verify = startProgress('verify', all, options.progress !== false);
              }
              bars.verify.update(done, all);
            }
          },
        });
        bars.copy.stop();
        bars.verify?.stop();
        print(options, { from: source.where, to: target.where, ...summary }, () =>
          `moved ${summary.events} events from ${source.where} to ${target.where}\n` +
          renderTable(summary.checks, [
            { header: 'CHECK', value: (c) => c.name },
            { header: 'RESULT', value: (c) => (c.ok ? 'ok' : 'DIFFERS') },
            { header: 'SOURCE', value: (c) => c.source },
            { header: 'TARGET', value: (c) => c.target },
          ]),
        );
        if (!summary.ok) throw new CliError('the migrated ledger differs from the source (see the checks above); keep serving from the source', 1);
      } catch (error) {
        bars.copy.stop();
        bars.verify?.stop();
        if (error instanceof StoreNotEmptyError) throw new CliError(`${error.message} (${target.where})`);
        throw error;
      } finally {
        await source.close();
        await target.close();
      }
    });

  const projections = program.command('projections').description('the read models built from the ledger');
  common(projections.command('rebuild').description('rebuild every read model and the snapshot from the log; check the rebuilt state equals the live one'))
    .option('--force', 'save the rebuilt snapshot even when it differs from the live state', false)
    .action(async (options: CommonOptions & { force?: boolean }) => {
      const opened = await openStore(options, { mustExist: true });
      const total = await opened.store.countEvents();
      const progress = startProgress('rebuild', total, options.progress !== false);
      try {
        const summary = await rebuildProjections({
          store: opened.store,
          snapshots: await opened.snapshots(),
          instanceId: `keyledger-cli-${process.pid}`,
          save: options.force ? 'always' : 'when-equal',
          onProgress: (done) => progress.update(done),
        });
        progress.stop();
        const eventsPerSecond = summary.ms > 0 ? Math.round(summary.events / (summary.ms / 1000)) : summary.events;
        print(options, { ...summary, eventsPerSecond, store: opened.where }, () =>
          renderRecord({
            store: opened.where,
            events: summary.events,
            'events/s': eventsPerSecond,
            keys: summary.keys,
            'live state': summary.live === 'restored' ? 'snapshot + tail of the log' : 'the whole log (no usable snapshot)',
            'live digest': summary.liveDigest,
            'rebuilt digest': summary.rebuiltDigest,
            result: summary.equal ? 'equal' : 'DIFFERENT',
            snapshot: summary.saved ? 'replaced by the rebuilt one' : 'left as it was',
          }),
        );
        if (!summary.equal) throw new CliError(`the rebuilt projections differ from the live ones (the snapshot ${summary.saved ? 'was replaced by the rebuilt one' : 'was kept; rerun with --force to replace it'})`, 1);
      } finally {
        progress.stop();
        await opened.close();
      }
    });
}
