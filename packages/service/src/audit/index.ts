/**
 * The transparency log as the service runs it: opens the log tables, resolves the signing key,
 * checks that it is the key this log has always been signed with, and starts the integrator.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { EventStore } from '../store/port.js';
import { AuditLog } from './audit-log.js';
import { AuditIntegrator, type Integration } from './integrator.js';
import { META_ORIGIN, META_VERIFIER_KEY, openAuditLogStore, type AuditLogStore } from './log-store.js';
import { AuditKeyError, resolveAuditKey, type AuditKey } from './signing-key.js';
import { WORKER_AVAILABLE, WorkerIntegration } from './worker-integration.js';

export { AuditLog } from './audit-log.js';
export { AuditIntegrator, leafOf, type Integration } from './integrator.js';
export * from './log-store.js';
export { AuditKeyError, auditKeyFromSignerKey, resolveAuditKey } from './signing-key.js';
export type { AuditKey } from './signing-key.js';

export interface RunningAudit {
  audit: AuditLog;
  integrator: Integration;
  log: AuditLogStore;
  key: AuditKey;
  close(): Promise<void>;
}

/**
 * Records this key as the log's on first start; afterwards compares. The answer says whether
 * this process may sign: checkpoints signed by two keys would look like a second log to every
 * client and witness, so a key other than the recorded one never signs.
 *
 * `strict` (SQLite: one serving process, so another key can only be a lost or replaced key file)
 * refuses to start. On PostgreSQL an instance with another key (its own data directory, no shared
 * KEYLEDGER_AUDIT_SIGNING_KEY) still integrates and serves proofs, but leaves the signing to the
 * instances that hold the log's key, and says so.
 */
export async function checkRecordedKey(log: AuditLogStore, key: AuditKey, options: { strict?: boolean } = {}): Promise<{ canSign: boolean; verifierKey: string }> {
  const recorded = await log.recordMetaOnce(META_VERIFIER_KEY, key.verifierKey);
  await log.recordMetaOnce(META_ORIGIN, key.origin);
  if (recorded === key.verifierKey) return { canSign: true, verifierKey: recorded };
  const message =
    `the audit signing key (${key.verifierKey}) is not the key this log was signed with (${recorded}): ` +
    "restore the original key (KEYLEDGER_AUDIT_SIGNING_KEY or the data directory's audit-signing-key file); " +
    'with several instances, set the same KEYLEDGER_AUDIT_SIGNING_KEY on each';
  if (options.strict !== false) throw new AuditKeyError(message);
  return { canSign: false, verifierKey: recorded };
}

export async function startAudit(options: { config: Config; store: EventStore; logger: Logger; inThread?: boolean }): Promise<RunningAudit> {
  const { config, store, logger } = options;
  const key = resolveAuditKey({ configured: config.audit.signingKey, origin: config.audit.origin, file: config.audit.keyFile, create: true });
  const log = await openAuditLogStore(config.database);
  try {
    const { canSign, verifierKey } = await checkRecordedKey(log, key, { strict: config.database.kind === 'sqlite' });
    if (!canSign) {
      logger.warn(
        { logKey: verifierKey, ownKey: key.verifierKey },
        'this instance does not hold the audit log\'s signing key: it integrates and serves proofs, but signs no checkpoint; set the same KEYLEDGER_AUDIT_SIGNING_KEY on every instance',
      );
    }
    // PostgreSQL: off the request thread when the built worker exists (see worker-integration.ts).
    // SQLite: in this thread. The file has one write lock; a writer in another thread would
    // fight the appends for it through SQLite's busy-wait backoff (seconds of delay under load),
    // while writes made here simply take turns with them.
    const integrator: Integration =
      WORKER_AVAILABLE && !options.inThread && config.database.kind === 'postgres'
        ? new WorkerIntegration({ data: { database: config.database, signerKey: key.signerKey, checkpointIntervalMs: config.audit.checkpointIntervalMs, signing: canSign }, log, logger })
        : new AuditIntegrator({ store, log, key, checkpointIntervalMs: config.audit.checkpointIntervalMs, logger, signing: canSign });
    const audit = new AuditLog({ log, key, logVerifierKey: verifierKey, store, integrator, witnessKeys: config.audit.witnesses });
    integrator.start();
    return {
      audit,
      integrator,
      log,
      key,
      async close() {
        await integrator.stop();
        await log.close();
      },
    };
  } catch (error) {
    await log.close().catch(() => undefined);
    throw error;
  }
}
