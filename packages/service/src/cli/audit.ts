/**
 * `keyledger audit ...`: the transparency log from the command line.
 *
 *   audit verify   recomputes the log from the store (--data-dir / --database-url, defaulting like
 *                  serve) and names every broken thing. Exit 0: everything holds; 1: something is
 *                  broken; 2: it could not verify (no ledger, no key, a bad setting).
 *   audit witness  a separate witness process for a running service (--log <url> --state <file>).
 *                  Exit 3: it refused a checkpoint (a split view / rewritten history); 1: an error.
 *
 * Other audit subcommands attach to the same group with auditCommand(program).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { noteVerifierFromKey } from '@keyledger/schemas';
import type { Command } from 'commander';
import { openAuditLogStore } from '../audit/log-store.js';
import { AuditKeyError, resolveAuditKey } from '../audit/signing-key.js';
import { verifyAuditLog, type VerifyReport } from '../audit/verify-log.js';
import { httpWitnessApi, witnessIdentity, witnessRound, WitnessRefusal, type WitnessOutcome } from '../audit/witness.js';
import { openEventStore } from '../store/open-store.js';
import { CliError } from './errors.js';
import { type StoreOptions, storeCommand, storeConfig } from './store-options.js';

/** The `audit` command group, created on first use (so several modules can add subcommands). */
export function auditCommand(program: Command): Command {
  return (
    program.commands.find((command) => command.name() === 'audit') ??
    program.command('audit').description('the transparency log: verify it, witness it, replay history')
  );
}

interface VerifyCommandOptions extends StoreOptions {
  publicKey?: string;
  json?: boolean;
}

interface WitnessCommandOptions {
  log: string;
  state: string;
  token?: string;
  logKey?: string;
  name?: string;
  interval: string;
  once?: boolean;
}

export function registerAuditCommands(program: Command): void {
  const audit = auditCommand(program);
  storeCommand(audit.command('verify'))
    .description('recompute the transparency log from the ledger and check every leaf, node and signed checkpoint (exit 0: all holds, 1: broken, 2: cannot verify)')
    .option('--public-key <key>', "the log's verifier key to trust (<origin>+<id>+<base64>, or a file holding it); default: the service's own signing key")
    .option('--json', 'print the report as JSON', false)
    .action(async (options: VerifyCommandOptions) => {
      const report = await runVerify(options);
      if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else process.stdout.write(formatReport(report));
      process.exitCode = report.ok ? 0 : 1;
    });

  audit
    .command('witness')
    .description('witness a running keyledger log: cosign each checkpoint consistent with the last one cosigned; refuse (exit 3) a split view')
    .requiredOption('--log <url>', 'the service, e.g. http://127.0.0.1:8080')
    .requiredOption('--state <file>', "the witness's state file (its key is kept beside it, 0600)")
    .option('--token <key>', 'a keyledger key with audit:read (default: KEYLEDGER_TOKEN)')
    .option('--log-key <key>', "the log's verifier key to pin (default: fetched on first contact and pinned)")
    .option('--name <name>', "the witness's key name when its key is created (default: witness/<host>)")
    .option('--interval <ms>', 'pause between checkpoints', '1000')
    .option('--once', 'handle the latest checkpoint once and exit', false)
    .action(async (options: WitnessCommandOptions) => runWitness(options));
}

async function runVerify(options: VerifyCommandOptions): Promise<VerifyReport> {
  const config = storeConfig(options);
  if (config.database.kind === 'sqlite' && !existsSync(config.database.file)) {
    throw new CliError(`no ledger at ${config.database.file}: pass --data-dir (or --database-url)`, 2);
  }
  let trustedVerifierKey: string;
  if (options.publicKey) {
    const given = existsSync(options.publicKey) ? readFileSync(options.publicKey, 'utf8').trim() : options.publicKey.trim();
    trustedVerifierKey = given;
  } else {
    try {
      trustedVerifierKey = resolveAuditKey({ configured: config.audit.signingKey, origin: undefined, file: config.audit.keyFile, create: false }).verifierKey;
    } catch (error) {
      if (error instanceof AuditKeyError) throw new CliError(`${error.message}; pass --public-key <key>`, 2);
      throw error;
    }
  }
  let trusted;
  try {
    trusted = noteVerifierFromKey(trustedVerifierKey);
  } catch (error) {
    throw new CliError(`--public-key is not a log verifier key: ${(error as Error).message}`, 2);
  }
  const store = await openEventStore(config.database).catch((error: Error) => {
    throw new CliError(`cannot open the ledger: ${error.message}`, 2);
  });
  try {
    const log = await openAuditLogStore(config.database);
    try {
      return await verifyAuditLog({ store, log, trusted, trustedVerifierKey });
    } finally {
      await log.close();
    }
  } finally {
    await store.close();
  }
}

export function formatReport(report: VerifyReport): string {
  const lines = report.problems.map((problem) => `BROKEN ${problem.kind}: ${problem.detail}`);
  const summary = `${report.treeSize} leaves, ${report.events} events, ${report.checkpoints} signed checkpoints${report.pendingEvents > 0 ? `, ${report.pendingEvents} events not integrated yet` : ''}`;
  lines.push(report.ok ? `ok: the log holds (${summary})` : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} (${summary})`);
  return `${lines.join('\n')}\n`;
}

async function runWitness(options: WitnessCommandOptions): Promise<void> {
  const interval = Number(options.interval);
  if (!Number.isInteger(interval) || interval < 10) throw new CliError('--interval must be a whole number of milliseconds, at least 10', 2);
  try {
    new URL(options.log);
  } catch {
    throw new CliError(`--log '${options.log}' is not a URL`, 2);
  }
  const stateFile = resolve(options.state);
  const identity = witnessIdentity(stateFile, options.name);
  const api = httpWitnessApi(options.log, options.token ?? process.env.KEYLEDGER_TOKEN);
  const log = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  log({ msg: 'witness started', witnessKey: identity.verifierKey, log: options.log, state: stateFile });
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  for (;;) {
    let outcome: WitnessOutcome;
    try {
      outcome = await witnessRound({ api, stateFile, identity, ...(options.logKey ? { logKey: options.logKey } : {}) });
    } catch (error) {
      if (error instanceof WitnessRefusal) throw new CliError(`witness refused: ${error.message}`, 3);
      if (options.once) throw new CliError(`witness round failed: ${(error as Error).message}`, 1);
      log({ level: 'warn', msg: 'witness round failed; retrying', err: (error as Error).message });
      await new Promise((done) => setTimeout(done, interval));
      if (stopping) return;
      continue;
    }
    if (outcome.kind === 'refused') {
      process.stderr.write(
        `keyledger: witness REFUSED the checkpoint of size ${outcome.treeSize} (${outcome.status}): ${outcome.reason}; ` +
          'the log showed a history that does not extend the one this witness cosigned (split view or rewritten history)\n',
      );
      log({ level: 'error', msg: 'checkpoint refused', treeSize: outcome.treeSize, status: outcome.status, reason: outcome.reason });
      process.exit(3);
    }
    log({ msg: outcome.kind === 'cosigned' ? 'cosigned' : 'unchanged', treeSize: outcome.treeSize });
    if (options.once || stopping) return;
    await new Promise((done) => setTimeout(done, interval));
    if (stopping) return;
  }
}
