/**
 * Commands come from validated requests, but a domain that trusted that would write whatever a
 * future caller passes. Every decider checks each event it decides against the event's schema
 * (keeping malformed data out of the ledger for good, naming the offending field) and refuses
 * text that some backend could not store as given.
 */
import { eventSchemas, type EventType } from '@keyledger/schemas';
import { DomainError } from './errors.js';

/** Returns the problems with `event`, or null when it may be written. */
export function eventProblems(event: { type: EventType; data: unknown }): string | null {
  const result = eventSchemas[event.type].safeParse(event.data);
  if (!result.success) {
    return result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
  }
  const badText = findUnstorableText(event.data, []);
  if (badText !== null) return `${badText.join('.')}: must be well-formed Unicode text without NUL characters`;
  return null;
}

/** A lone UTF-16 surrogate (half of a pair) or a NUL character. */
const UNSTORABLE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\u0000/;

/**
 * The schemas accept any JS string, but PostgreSQL's jsonb refuses lone surrogates and NUL, so
 * such an event would be accepted by one backend and fail on another. Returns the path of the
 * first offending string (object keys included), or null.
 */
function findUnstorableText(value: unknown, path: (string | number)[]): (string | number)[] | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : null;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findUnstorableText(item, [...path, index]);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (UNSTORABLE.test(key)) return [...path, '(key)'];
      const found = findUnstorableText(item, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

/** The decided events, each checked; the first problem refuses the command (INVALID_ARGUMENT). */
export function validated<E extends { type: EventType; data: unknown }>(events: E[]): E[] {
  for (const event of events) {
    const problems = eventProblems(event);
    if (problems !== null) throw new DomainError('INVALID_ARGUMENT', problems);
  }
  return events;
}

/** Drops repeats, keeping the first occurrence's position. */
export function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
