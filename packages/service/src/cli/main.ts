#!/usr/bin/env node
/**
 * The `keyledger` command. commander parses the arguments (a well-kept library for a solved
 * problem); each subcommand is a thin shell around the service modules. Every failure a user can
 * cause ends the process with one line on stderr (cli/errors.ts), never a stack.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { createKeyledger, type Keyledger } from '../app/keyledger.js';
import { loadConfig } from '../config/config.js';
import { createLogger, tolerateClosedStdout, writeStdout } from '../logging.js';
import { CliError, exitWithFailure } from './errors.js';
import { rootKeyBlock } from './root-key-block.js';
import { registerRootKeyCommands } from './root-key.js';
import { registerAuditCommands } from './audit.js';
import { registerKeyCommands } from './keys.js';
import { registerConsumerCommands } from './consumers.js';
import { registerAuditReplayCommands } from './audit-replay.js';
import { registerLedgerCommands } from './ledger-commands.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('keyledger')
  .description('Event-sourced API key lifecycle service')
  .version(version, '-v, --version', 'print the version')
  .exitOverride()
  .configureOutput({
    // commander's own usage errors: one line, prefixed like every other error of ours.
    outputError: (text, write) => write(`keyledger: ${text.replace(/^error: /, '').trimEnd()} (see keyledger --help)\n`),
  });

program
  .command('serve', { isDefault: true })
  .description('run the HTTP service (SQLite in KEYLEDGER_DATA_DIR, or PostgreSQL with KEYLEDGER_DATABASE_URL)')
  .action(serve);

program
  .command('openapi')
  .description('print the OpenAPI document emitted by the routes (to stdout, or to a file with --out)')
  .option('-o, --out <file>', 'write it to this file instead of stdout')
  .action(async (options: { out?: string }) => {
    // `keyledger openapi | head` closes stdout early: that is the reader's choice, not a failure.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
    const dir = mkdtempSync(join(tmpdir(), 'keyledger-openapi-'));
    let document: string;
    try {
      const config = loadConfig({ KEYLEDGER_DATA_DIR: dir, KEYLEDGER_LOG_LEVEL: 'silent' });
      const service = await createKeyledger(config, createLogger('silent'), { background: false });
      await service.app.ready();
      document = `${JSON.stringify(service.app.swagger(), null, 2)}\n`;
      await service.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (options.out === undefined) process.stdout.write(document);
    else writeFileSync(resolve(options.out), document);
  });

registerRootKeyCommands(program, (message, code = 1) => exitWithFailure(new CliError(message, code)));
registerAuditCommands(program);
registerKeyCommands(program);
registerConsumerCommands(program);
registerAuditReplayCommands(program);
registerLedgerCommands(program, version);

async function serve(): Promise<void> {
  // Before anything is written: a closed stdout must neither crash the service nor stall its shutdown.
  tolerateClosedStdout();
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  let service: Keyledger;
  try {
    service = await createKeyledger(config, logger, { deferRootKey: true });
  } catch (error) {
    logger.debug({ err: error }, 'keyledger failed to start');
    exitWithFailure(error);
  }
  let rootKey: string | null;
  try {
    if (service.metricsApp && config.metrics.listen) {
      await service.metricsApp.listen(config.metrics.listen);
      const metricsAddress = service.metricsApp.server.address();
      const metricsPort = typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : config.metrics.listen.port;
      logger.info({ port: metricsPort, host: config.metrics.listen.host }, 'keyledger metrics listening');
    }
    await service.app.listen({ port: config.port, host: config.host });
    // Only now that the port is bound: a start that cannot listen creates no key nobody saw.
    rootKey = await service.bootstrapRootKey();
  } catch (error) {
    logger.debug({ err: error }, 'keyledger failed to start');
    await service.close().catch(() => undefined);
    exitWithFailure(error);
  }
  // Never a log line: stdout, once; before "keyledger listening", which tells scripts the start is complete.
  // Not awaited: a stdout nobody reads must not hold up the start.
  if (rootKey) {
    void writeStdout(rootKeyBlock(rootKey)).then((shown) => {
      if (shown) return;
      // Never the key itself: stderr may well end up in a log.
      process.stderr.write(
        'keyledger: stdout is closed, so the new root key could not be shown; it cannot be shown again. ' +
          "Run 'keyledger root-key reset' on this host to mint another.\n",
      );
    });
  }
  const address = service.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info({ port, host: config.host, backend: service.store.backend, instanceId: config.instanceId }, 'keyledger listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    await service.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // --help and --version end through here too, with exit code 0; commander has printed them.
  if (error instanceof CommanderError) process.exit(error.exitCode);
  exitWithFailure(error);
}
