/**
 * Argument checks shared by every backend, run before anything is written: a bad call never
 * reaches the database, so a half-validated batch can never be half-written.
 */

import { randomUUID } from 'node:crypto';
import { InvalidAppendError } from './errors.js';
import type { AppendOptions, EventValidator, ExpectedRevision, NewEvent, StreamAppend } from './port.js';
import { categoryOf } from './port.js';

export interface PreparedEvent {
  id: string;
  type: string;
  /** JSON text of the payload, as it will be stored. */
  data: string;
  metadata: string;
}

export interface PreparedAppend {
  stream: string;
  category: string;
  expected: ExpectedRevision;
  events: PreparedEvent[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STREAM = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$/;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/;

export function parseExpectedRevision(value: unknown): ExpectedRevision {
  if (value === undefined) return 'any';
  if (value === 'any' || value === 'no_stream' || value === 'stream_exists') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  throw new InvalidAppendError(
    `unknown expected revision ${describe(value)}: use 'any', 'no_stream', 'stream_exists' or a revision >= 0`,
  );
}

export function prepareAppend(
  stream: string,
  events: readonly NewEvent[],
  options: AppendOptions | undefined,
  validate: EventValidator | undefined,
): PreparedAppend {
  if (typeof stream !== 'string' || !STREAM.test(stream)) {
    throw new InvalidAppendError(`invalid stream name ${describe(stream)}`);
  }
  const expected = parseExpectedRevision(options?.expectedRevision);
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidAppendError(`append to '${stream}' needs at least one event`);
  }
  const seen = new Set<string>();
  const prepared = events.map((event, index): PreparedEvent => {
    const where = `event ${index} of the append to '${stream}'`;
    if (typeof event !== 'object' || event === null) throw new InvalidAppendError(`${where} is not an object`);
    if (typeof event.type !== 'string' || !EVENT_TYPE.test(event.type)) {
      throw new InvalidAppendError(`${where} has an invalid type ${describe(event.type)}`);
    }
    const id = event.id ?? randomUUID();
    if (typeof id !== 'string' || !UUID.test(id)) throw new InvalidAppendError(`${where} has an id that is not a UUID`);
    const lowerId = id.toLowerCase();
    if (seen.has(lowerId)) throw new InvalidAppendError(`${where} repeats event id ${lowerId} within the batch`);
    seen.add(lowerId);
    assertJson(event.data, `${where} (${event.type}) data`);
    const metadata = event.metadata ?? {};
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new InvalidAppendError(`${where} metadata must be an object`);
    }
    assertJson(metadata, `${where} (${event.type}) metadata`);
    if (validate) {
      try {
        validate(event.type, event.data);
      } catch (error) {
        throw new InvalidAppendError(`${where} (${event.type}) fails its schema: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    return { id: lowerId, type: event.type, data: JSON.stringify(event.data), metadata: JSON.stringify(metadata) };
  });
  return { stream, category: categoryOf(stream), expected, events: prepared };
}

/** Checks a multi-stream append: at least one stream, each stream once, no event id twice across streams. */
export function prepareMultiAppend(appends: readonly StreamAppend[], validate: EventValidator | undefined): PreparedAppend[] {
  if (!Array.isArray(appends) || appends.length === 0) {
    throw new InvalidAppendError('a multi-stream append needs at least one stream');
  }
  const streams = new Set<string>();
  const ids = new Set<string>();
  return appends.map((append, index) => {
    if (typeof append !== 'object' || append === null) throw new InvalidAppendError(`append ${index} is not an object`);
    const prepared = prepareAppend(append.stream, append.events, { expectedRevision: append.expectedRevision }, validate);
    if (streams.has(prepared.stream)) {
      throw new InvalidAppendError(`stream '${prepared.stream}' appears twice in one multi-stream append; merge its events`);
    }
    streams.add(prepared.stream);
    for (const event of prepared.events) {
      if (ids.has(event.id)) throw new InvalidAppendError(`event id ${event.id} appears in two streams of one multi-stream append`);
      ids.add(event.id);
    }
    return prepared;
  });
}

/**
 * Rejects anything JSON.stringify would silently change or drop (undefined, functions, NaN,
 * Dates, class instances, cycles), so what is read back equals what was appended.
 */
export function assertJson(value: unknown, where: string, path = '$', depth = 0, stack: object[] = []): void {
  if (depth > 64) throw new InvalidAppendError(`${where} nests deeper than 64 levels at ${path}`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidAppendError(`${where} has a non-finite number at ${path}`);
      return;
    case 'object': {
      if (value === null) return;
      if (stack.includes(value)) throw new InvalidAppendError(`${where} is cyclic at ${path}`);
      stack.push(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => assertJson(item, where, `${path}[${i}]`, depth + 1, stack));
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new InvalidAppendError(`${where} has a non-plain object (${proto?.constructor?.name ?? '?'}) at ${path}`);
        }
        for (const [key, item] of Object.entries(value)) assertJson(item, where, `${path}.${key}`, depth + 1, stack);
      }
      stack.pop();
      return;
    }
    default:
      throw new InvalidAppendError(`${where} has a value of type ${typeof value} at ${path}, which is not JSON`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.slice(0, 64)}'`;
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return String(JSON.stringify(value)).slice(0, 64);
  } catch {
    return typeof value;
  }
}
