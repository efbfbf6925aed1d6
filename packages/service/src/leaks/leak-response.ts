/**
 * What keyledger does when one of its keys is reported leaked (by GitHub's secret scanning or
 * any scanner): a token that is not one of ours (bad format, bad checksum, unknown digest) is a
 * false positive; one of ours is a true positive, and when it still works (not revoked or
 * expired) it gets a KeyLeakReported event and the configured action: notify only (the event is
 * the notification: webhooks, SSE), suspend, or revoke.
 *
 * Once per report: the report id derives from the key and where it was found, the event id from
 * the report, and the action runs as an idempotent command keyed by the report. The same report
 * twice (GitHub retries; several instances) writes one event and acts once, and a report whose
 * action was interrupted (crash between the event and the command) completes on its retry.
 *
 * The plaintext is only hashed, never stored or logged: events carry the key id.
 */
import { createHash } from 'node:crypto';
import { type LeakAction, parseKey, validateEventData } from '@keyledger/schemas';
import type { Logger } from 'pino';
import { AppError } from '../app/errors.js';
import { systemMetadata } from '../app/command-context.js';
import { deterministicUuid } from '../app/ids.js';
import type { CommandContext, KeyCommands } from '../app/key-commands.js';
import { DomainError } from '../domain/errors.js';
import { SYSTEM_AUTHORITY } from '../domain/keys/authority.js';
import { digestKey } from '../domain/key-material.js';
import type { KeyState } from '../domain/keys/state.js';
import { keyStatusAt } from '../domain/keys/status.js';
import type { EventStore } from '../store/port.js';

export interface LeakReport {
  token: string;
  url: string | null;
  source: string | null;
  reporter: string;
  tokenType: string | null;
}

export interface LeakOutcome {
  label: 'true_positive' | 'false_positive';
  keyId: string | null;
  reportId: string | null;
  action: LeakAction | null;
  replayed: boolean;
}

export interface LeakResponderOptions {
  store: EventStore;
  keys: { getByDigest(digest: string): KeyState | undefined };
  commands: Pick<KeyCommands, 'suspend' | 'revoke'>;
  /** The action for a key: its plan's leak action, else the installation's setting. */
  actionFor: (key: KeyState) => LeakAction;
  logger: Logger;
}

export const leakStream = (keyId: string) => `leak-${keyId}`;

export function leakReportId(keyId: string, report: Pick<LeakReport, 'url' | 'reporter'>): string {
  const hash = createHash('sha256').update(`${keyId}\0${report.reporter}\0${report.url ?? ''}`).digest('hex');
  return `leak_${hash.slice(0, 32)}`;
}

export class LeakResponder {
  constructor(private readonly options: LeakResponderOptions) {}

  async report(report: LeakReport): Promise<LeakOutcome> {
    const none: LeakOutcome = { label: 'false_positive', keyId: null, reportId: null, action: null, replayed: false };
    if (parseKey(report.token) === null) return none;
    const key = this.options.keys.getByDigest(digestKey(report.token));
    if (!key) return none;
    const status = keyStatusAt(key, Date.now());
    if (status === 'revoked' || status === 'expired') return { ...none, label: 'true_positive', keyId: key.id };
    const reportId = leakReportId(key.id, report);
    const action = this.options.actionFor(key);
    const eventId = deterministicUuid('leak', reportId);
    const data = {
      keyId: key.id,
      consumerId: key.consumerId,
      planId: key.planId,
      reportId,
      reporter: report.reporter.slice(0, 100),
      url: report.url?.slice(0, 2000) ?? null,
      source: report.source?.slice(0, 100) ?? null,
      tokenType: report.tokenType?.slice(0, 100) ?? null,
      action,
    };
    validateEventData('KeyLeakReported', data);
    const appended = await this.options.store.appendToStream(
      leakStream(key.id),
      [{ id: eventId, type: 'KeyLeakReported', data, metadata: systemMetadata('KeyLeakReported', 'leak-response', new Date()) }],
      { expectedRevision: 'any' },
    );
    this.options.logger.warn({ keyId: key.id, reportId, reporter: data.reporter, url: data.url, action, replayed: appended.replayed }, 'key reported leaked');
    if (action !== 'notify') await this.#act(key.id, action, reportId, eventId);
    return { label: 'true_positive', keyId: key.id, reportId, action, replayed: appended.replayed };
  }

  async #act(keyId: string, action: 'suspend' | 'revoke', reportId: string, causationId: string): Promise<void> {
    const ctx: CommandContext = {
      actor: { kind: 'system', id: 'leak-response' },
      authority: SYSTEM_AUTHORITY,
      requestId: null,
      sourceAddress: null,
      idempotencyKey: `leak-${reportId}`,
      requestHash: `${action}:${reportId}`,
      causationId,
      correlationId: reportId,
    };
    const reason = `reported leaked (${reportId})`;
    try {
      if (action === 'suspend') await this.options.commands.suspend(keyId, reason, ctx);
      else await this.options.commands.revoke(keyId, reason, ctx);
    } catch (error) {
      // Already suspended / revoked by someone else, or the last admin key: the event still says it leaked.
      // A 422: this report was acted on before under another action setting; once is enough.
      if (error instanceof DomainError || (error instanceof AppError && error.status === 422)) {
        this.options.logger.warn({ keyId, action, reason: error.message }, 'leak action not applied');
        return;
      }
      throw error;
    }
  }
}
