#!/usr/bin/env node
/**
 * The `keyledger` command. commander parses the arguments (a well-kept library for a solved
 * problem); each subcommand is a thin shell around the service modules.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { createKeyledger } from '../app/keyledger.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { createLogger, tolerateClosedStdout, writeStdout } from '../logging.js';
import { registerRootKeyCommands } from './root-key.js';

const program = new Command()
  .name('keyledger')
  .description('Event-sourced API key lifecycle service')
  .showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the HTTP service (SQLite in KEYLEDGER_DATA_DIR, or PostgreSQL with KEYLEDGER_DATABASE_URL)')
  .action(serve);

program
  .command('openapi')
  .description('write the OpenAPI document emitted by the routes')
  .option('-o, --out <file>', 'output file', 'packages/sdk/openapi.json')
  .action(async (options: { out: string }) => {
    const dir = mkdtempSync(join(tmpdir(), 'keyledger-openapi-'));
    try {
      const config = loadConfig({ KEYLEDGER_DATA_DIR: dir, KEYLEDGER_LOG_LEVEL: 'silent' });
      const logger = createLogger('silent');
      const service = await createKeyledger(config, logger);
      await service.app.ready();
      writeFileSync(resolve(options.out), `${JSON.stringify(service.app.swagger(), null, 2)}\n`);
      await service.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

/** A user's mistake: one line on stderr, no stack. */
function fail(message: string, code = 1): never {
  process.stderr.write(`keyledger: ${message}\n`);
  process.exit(code);
}

registerRootKeyCommands(program, fail);

async function serve(): Promise<void> {
  // Before anything is written: a closed stdout must neither crash the service nor stall its shutdown.
  tolerateClosedStdout();
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`keyledger: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let service;
  try {
    service = await createKeyledger(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, 'keyledger failed to start');
    process.stderr.write(`keyledger: failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (service.createdRootKey) {
    // The one place a plaintext key is printed: stdout, once, at bootstrap; never a log line.
    // Not awaited: a stdout nobody reads must not hold up the start.
    void writeStdout(`keyledger root key (shown once, store it safely): ${service.createdRootKey}\n`).then((shown) => {
      if (shown) return;
      // Never the key itself: stderr may well end up in a log.
      process.stderr.write(
        'keyledger: stdout is closed, so the new root key could not be shown; it cannot be shown again. ' +
          'Set KEYLEDGER_ROOT_KEY to bootstrap with a key of your own on a fresh ledger.\n',
      );
    });
  }
  const listen = async (app: { listen(options: { port: number; host: string }): Promise<string> }, where: { host: string; port: number }, what: string) => {
    try {
      await app.listen(where);
    } catch (error) {
      logger.fatal({ err: error }, `keyledger failed to start: cannot listen for ${what}`);
      process.stderr.write(`keyledger: failed to start: cannot listen for ${what} on ${where.host}:${where.port}: ${(error as Error).message}\n`);
      await service.close().catch(() => undefined);
      process.exit(1);
    }
  };
  if (service.metricsApp && config.metrics.listen) {
    await listen(service.metricsApp, config.metrics.listen, '/metrics (KEYLEDGER_METRICS_LISTEN)');
    const metricsAddress = service.metricsApp.server.address();
    const metricsPort = typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : config.metrics.listen.port;
    logger.info({ port: metricsPort, host: config.metrics.listen.host }, 'keyledger metrics listening');
  }
  await listen(service.app, { port: config.port, host: config.host }, 'HTTP (HOST, PORT)');
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

await program.parseAsync(process.argv);
