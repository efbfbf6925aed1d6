/**
 * What an event changed, as a change of state: the fields whose values differ between the state
 * before and the state after, for any aggregate (key, consumer, plan). `keyledger audit history`
 * shows these instead of event names; describeRecordedChange (keys/history.ts) says what the event
 * itself carried. Values compare as canonical JSON, so an array or object that only moved keys is
 * unchanged. Bookkeeping fields (revision, updatedAt) and anything that identifies a secret
 * (digest) are never shown.
 */
import { canonicalJson } from '@keyledger/schemas';

export interface FieldChange {
  field: string;
  /** undefined: the field did not exist (the aggregate was created, or the field is new). */
  before: unknown;
  after: unknown;
}

export const HIDDEN_STATE_FIELDS: readonly string[] = ['revision', 'updatedAt', 'digest'];

export function diffStates(before: object | null, after: object | null, hidden: readonly string[] = HIDDEN_STATE_FIELDS): FieldChange[] {
  const left = (before ?? {}) as Record<string, unknown>;
  const right = (after ?? {}) as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(left), ...Object.keys(right)])].filter((field) => !hidden.includes(field)).sort();
  const changes: FieldChange[] = [];
  for (const field of fields) {
    const a = left[field];
    const b = right[field];
    if (same(a, b)) continue;
    changes.push({ field, before: a, after: b });
  }
  return changes;
}

function same(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

/** `field: before -> after`, values as JSON; a created field shows only its value. */
export function formatFieldChange(change: FieldChange): string {
  const show = (value: unknown) => (value === undefined ? '(none)' : JSON.stringify(value));
  return change.before === undefined ? `${change.field}: ${show(change.after)}` : `${change.field}: ${show(change.before)} -> ${show(change.after)}`;
}
