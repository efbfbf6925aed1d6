/**
 * `keyledger root-key reset`: the answer to "I lost the root key". Run on the host with access to
 * the store (the data directory, or the database URL): it opens the ledger directly, appends a
 * new admin key as `host-operator` and prints it once. A running service sees the new key within
 * a second (it follows the same ledger).
 */
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { pino } from 'pino';
import { createKeyledger } from '../app/keyledger.js';
import { resetRootKey } from '../app/bootstrap.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { createLogger } from '../logging.js';

interface ResetOptions {
  dataDir?: string;
  databaseUrl?: string;
  databaseSchema?: string;
  revokePrevious?: boolean;
  json?: boolean;
}

export function registerRootKeyCommands(program: Command, fail: (message: string, code?: number) => never): void {
  const rootKey = program.command('root-key').description('break-glass management of the root (admin) key');
  rootKey
    .command('reset')
    .description('append a new admin key to the ledger (actor host-operator) and print it once')
    .option('--data-dir <dir>', 'SQLite data directory (default: KEYLEDGER_DATA_DIR or ./data)')
    .option('--database-url <url>', 'PostgreSQL URL (default: KEYLEDGER_DATABASE_URL)')
    .option('--database-schema <schema>', 'PostgreSQL schema (default: KEYLEDGER_DATABASE_SCHEMA or public)')
    .option('--revoke-previous', 'also revoke every other active admin key (the old one leaked)', false)
    .option('--json', 'print {"keyId","secret","revoked"} as JSON', false)
    .action(async (options: ResetOptions) => {
      const env: NodeJS.ProcessEnv = { ...process.env, KEYLEDGER_LOG_LEVEL: process.env.KEYLEDGER_LOG_LEVEL ?? 'warn' };
      if (options.dataDir) env.KEYLEDGER_DATA_DIR = options.dataDir;
      if (options.databaseUrl) env.KEYLEDGER_DATABASE_URL = options.databaseUrl;
      if (options.databaseSchema) env.KEYLEDGER_DATABASE_SCHEMA = options.databaseSchema;
      // The reset must not mint a second key on a fresh ledger, nor take a configured one.
      delete env.KEYLEDGER_ROOT_KEY;
      let config;
      try {
        config = loadConfig(env);
      } catch (error) {
        if (error instanceof ConfigError) fail(error.message, 2);
        throw error;
      }
      const logger = createLogger(config.logLevel, pino.destination(2));
      const service = await createKeyledger(config, logger, { deferRootKey: true, instanceLock: false, background: false }).catch((error: Error) => fail(`cannot open the ledger: ${error.message}`));
      try {
        const operator = `${safeUser()}@${hostname()}`;
        const reset = await resetRootKey({
          commands: service.commands,
          keys: service.keys,
          prefix: config.keyPrefixes.live,
          operator,
          revokePrevious: options.revokePrevious === true,
        });
        if (options.json) {
          process.stdout.write(`${JSON.stringify(reset)}\n`);
        } else {
          process.stdout.write(
            [
              '',
              '  keyledger: new admin key (shown once, store it safely)',
              '',
              `    ${reset.secret}`,
              '',
              `  key id ${reset.keyId}, recorded in the ledger as host-operator (${operator})`,
              reset.revoked.length > 0 ? `  revoked: ${reset.revoked.join(', ')}` : '  other admin keys were left active (use --revoke-previous to revoke them)',
              '',
            ].join('\n'),
          );
        }
      } finally {
        await service.close();
      }
    });
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
