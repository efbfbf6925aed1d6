/** Typed errors of the event store port. Every backend throws these and only these for the cases below. */

import type { ExpectedRevision } from './port.js';

export class EventStoreError extends Error {
  override name = 'EventStoreError';
}

/** The stream was not at the expected revision. `actual` is -1 when the stream does not exist. */
export class WrongExpectedRevisionError extends EventStoreError {
  override name = 'WrongExpectedRevisionError';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: number,
  ) {
    super(
      `stream '${stream}': expected revision ${String(expected)}, actual ${actual === -1 ? 'no_stream' : actual}`,
    );
  }
}

/** Some event id of the batch is already stored, but not as an exact replay of this batch. */
export class DuplicateEventIdError extends EventStoreError {
  override name = 'DuplicateEventIdError';
  constructor(readonly eventId: string, readonly stream: string) {
    super(`event id ${eventId} is already stored and the batch appended to '${stream}' is not an exact replay of it`);
  }
}

/** The caller's arguments are invalid: nothing was written. */
export class InvalidAppendError extends EventStoreError {
  override name = 'InvalidAppendError';
}

/** A checkpoint string that this store did not issue. */
export class InvalidCheckpointError extends EventStoreError {
  override name = 'InvalidCheckpointError';
  constructor(
    readonly checkpoint: string,
    message = `invalid checkpoint '${checkpoint.slice(0, 64)}'`,
  ) {
    super(message);
  }
}

/**
 * A well-formed checkpoint past everything this store has written: it cannot have been issued by
 * this store (a checkpoint from another database, a restored backup, or made up). Reading after it
 * would silently skip every event up to it, so readAll refuses it instead.
 */
export class CheckpointBeyondHeadError extends InvalidCheckpointError {
  override name = 'CheckpointBeyondHeadError';
  constructor(checkpoint: string) {
    super(checkpoint, `checkpoint '${checkpoint.slice(0, 64)}' is beyond the head of the log: this store never issued it`);
  }
}

/** Read arguments the store cannot honour (a bad revision, count, direction or filter): nothing was read. */
export class InvalidReadError extends EventStoreError {
  override name = 'InvalidReadError';
}

/** The backend cannot be reached or did not answer in time. */
export class StoreUnavailableError extends EventStoreError {
  override name = 'StoreUnavailableError';
  constructor(
    readonly backend: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${backend} event store unavailable: ${message}`, options);
  }
}

export class StoreClosedError extends EventStoreError {
  override name = 'StoreClosedError';
  constructor() {
    super('event store is closed');
  }
}
