/**
 * The process manager that finishes a consumer's closure: every key of a closed consumer is
 * revoked, one KeyRevoked per key, caused by the ConsumerClosed event.
 *
 * It keeps no state of its own. What is left to do is read from the projections (closed consumers
 * with keys that are not revoked yet), so a crash at any point loses nothing: the next start finds
 * the same work. Each revocation carries an idempotency key derived from the closure event and the
 * key id, so a revocation repeated after a crash, or by two instances at once, is written once.
 * Verify treats the keys of a closed consumer as revoked from the closure itself (key-policy.ts):
 * this only records it per key, for the history and for the keys' own state.
 */
import type { Logger } from 'pino';
import type { ConsumerState } from '../domain/consumers/index.js';
import { DomainError } from '../domain/errors.js';
import { SYSTEM_AUTHORITY } from '../domain/keys/index.js';
import type { ConsumerReadModel } from '../projections/consumer-plan-projections.js';
import type { KeyProjection } from '../projections/key-projection.js';
import type { CommandContext } from './command-context.js';
import type { KeyCommands } from './key-commands.js';

export interface ConsumerClosureOptions {
  consumers: ConsumerReadModel;
  keys: KeyProjection;
  commands: Pick<KeyCommands, 'revoke'>;
  logger: Logger;
  /** The id of the consumer's ConsumerClosed event, read from its stream when resuming after a restart. */
  closedEventIdOf?: (consumerId: string) => Promise<string | null>;
  /** Back-off after a failed pass (the store was down, say). Default 1000 ms. */
  retryMs?: number;
}

export class ConsumerClosure {
  readonly #pending = new Map<string, string>();
  #running: Promise<void> | undefined;
  #stopped = false;
  #unsubscribe: (() => void) | undefined;
  #retry: NodeJS.Timeout | undefined;

  constructor(private readonly options: ConsumerClosureOptions) {}

  /** Call once the projections have caught up: picks up closures a crash left unfinished, then follows new ones. */
  start(): void {
    this.#unsubscribe = this.options.consumers.onChange((state, event) => {
      if (state.status === 'closed' && event.type === 'ConsumerClosed') this.#enqueue(state.id, event.id);
    });
    for (const consumer of this.options.consumers.all()) {
      if (consumer.status === 'closed') this.#enqueue(consumer.id, null);
    }
  }

  /** Resolves when nothing is left to do (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#retry);
    await this.#running?.catch(() => undefined);
  }

  #enqueue(consumerId: string, closedEventId: string | null): void {
    if (this.#stopped) return;
    const known = this.#pending.get(consumerId);
    this.#pending.set(consumerId, closedEventId ?? known ?? '');
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.size > 0 && !this.#stopped) {
      const [consumerId, closedEventId] = this.#pending.entries().next().value as [string, string];
      this.#pending.delete(consumerId);
      const consumer = this.options.consumers.get(consumerId);
      if (!consumer || consumer.status !== 'closed') continue;
      try {
        // Resumed after a restart: the revocations still name the closure that caused them.
        const cause = closedEventId || ((await this.options.closedEventIdOf?.(consumerId)) ?? null);
        await this.#revokeKeysOf(consumer, cause);
      } catch (error) {
        this.options.logger.error({ err: error, consumerId }, 'revoking the keys of a closed consumer failed; retrying');
        this.#retry = setTimeout(() => this.#enqueue(consumerId, closedEventId || null), this.options.retryMs ?? 1000);
        this.#retry.unref();
      }
    }
  }

  async #revokeKeysOf(consumer: ConsumerState, closedEventId: string | null): Promise<void> {
    let revoked = 0;
    const refused = new Set<string>();
    for (;;) {
      // Each pass re-reads: a key issued (or revoked) meanwhile is seen on the next pass. Management
      // keys are keyledger's own operators' keys, not the consumer's access: they are left alone.
      const open = this.options.keys
        .list({ consumerId: consumer.id, limit: 10_000 }, new Date())
        .items.filter((key) => key.kind === 'consumer' && !key.revoked && !refused.has(key.id));
      if (open.length === 0) break;
      for (const key of open) {
        if (this.#stopped) return;
        try {
          await this.options.commands.revoke(key.id, `consumer ${consumer.id} closed${consumer.closedReason ? `: ${consumer.closedReason}` : ''}`, this.#context(consumer, closedEventId, key.id));
          revoked++;
        } catch (error) {
          // Revoked meanwhile by someone else (this projection had not seen it yet): nothing left to do.
          if (!(error instanceof DomainError)) throw error;
          refused.add(key.id);
        }
      }
    }
    if (revoked > 0) this.options.logger.info({ consumerId: consumer.id, keys: revoked }, 'revoked the keys of a closed consumer');
  }

  #context(consumer: ConsumerState, closedEventId: string | null, keyId: string): CommandContext {
    return {
      actor: { kind: 'system', id: 'consumer-closure' },
      authority: SYSTEM_AUTHORITY,
      requestId: null,
      sourceAddress: null,
      // Derived from the closure and the key: the same revocation, however often it is attempted, is one event.
      idempotencyKey: `consumer-closed:${consumer.id}:${consumer.revision}:${keyId}`,
      requestHash: `consumer-closed:${consumer.id}:${consumer.revision}:${keyId}`,
      causationId: closedEventId,
      correlationId: closedEventId,
    };
  }
}

