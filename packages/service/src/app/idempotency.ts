/**
 * Idempotency as a wrapper around any command spec. With an Idempotency-Key:
 *
 * - every event records the key and a hash of the request, and its id is derived from
 *   (actor, key, place in the decision), so the same request on any instance, at any time, makes
 *   the same ids;
 * - a request whose own events are found in the loaded streams is answered with the streams as
 *   they were after them (the first outcome), writing nothing; found with another request hash,
 *   the key was reused for a different command: 422;
 * - the key reused on another resource derives the same ids in another stream, which the store
 *   refuses as a DuplicateEventIdError: also 422. A concurrent identical retry is the store's
 *   replay (same ids, same streams): written once.
 *
 * Known gap: a first request that decided nothing (no change) writes nothing, so leaves no trace
 * to compare a later reuse of its key against.
 */
import type { EventMetadata } from '@keyledger/schemas';
import { DuplicateEventIdError } from '../store/errors.js';
import type { RecordedEvent } from '../store/port.js';
import type { CommandHandler, CommandSpec, DecidedEvent, Decider, LoadedStream, Replay } from './command-handler.js';
import { foldStream, recordedTime } from './command-handler.js';
import { idempotencyMismatch } from './errors.js';
import { deterministicUuid } from './ids.js';

export interface IdempotencyContext {
  key: string;
  /** Keys are per caller: two callers may use the same key for different requests. */
  actorId: string;
  /** Hash of the canonical request (method, route, params, body). */
  requestHash: string | undefined;
}

/** The spec, made idempotent under `idem` (unchanged without one). */
export function idempotent<State, Result, Event extends DecidedEvent>(
  spec: CommandSpec<State, Result, Event>,
  idem: IdempotencyContext | undefined,
): CommandSpec<State, Result, Event> {
  if (!idem) return spec;
  return {
    ...spec,
    eventId: ({ write, index }) => deterministicUuid(idem.actorId, idem.key, String(write), String(index)),
    metadata: (event, place, now) => ({
      ...spec.metadata(event, place, now),
      idempotencyKey: idem.key,
      ...(idem.requestHash ? { requestHash: idem.requestHash } : {}),
    }),
    findReplay: (streams) => findOwnEvents(streams, idem, spec.decider),
  };
}

/** Runs an idempotent command; a key reused on another resource is a 422. */
export async function handleIdempotently<State, Result, Event extends DecidedEvent>(
  handler: CommandHandler,
  spec: CommandSpec<State, Result, Event>,
  idem: IdempotencyContext | undefined,
): Promise<Result> {
  try {
    return await handler.handle(idempotent(spec, idem));
  } catch (error) {
    // Our ids derive from (actor, key): stored elsewhere means this key served another request.
    if (idem && error instanceof DuplicateEventIdError) throw idempotencyMismatch(idem.key);
    throw error;
  }
}

function findOwnEvents<State>(
  streams: LoadedStream<State>[],
  idem: IdempotencyContext,
  decider: Decider<State>,
): Replay<State> | undefined {
  let last: RecordedEvent | undefined;
  let first: RecordedEvent | undefined;
  const after = streams.map((loaded) => {
    let lastOwn = -1;
    for (const [i, event] of loaded.events.entries()) {
      const meta = event.metadata as Partial<EventMetadata>;
      if (meta.idempotencyKey !== idem.key || meta.actor?.id !== idem.actorId) continue;
      if (meta.requestHash !== idem.requestHash) throw idempotencyMismatch(idem.key);
      lastOwn = i;
      first ??= event;
      // A decision's events are appended in order, so the last stream's last own event is the latest.
      last = event;
    }
    return lastOwn === -1 ? loaded : foldStream(loaded.stream, loaded.events.slice(0, lastOwn + 1), decider);
  });
  if (!first || !last) return undefined;
  return { streams: after, checkpoint: last.checkpoint, originalAt: recordedTime(first) as Date };
}
