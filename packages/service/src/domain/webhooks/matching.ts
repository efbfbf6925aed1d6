/**
 * Which events an endpoint wants: its event type patterns (`*` = any characters) and its
 * consumer / plan filters. Pure; the consumer and plan of an event that does not carry them
 * (a key event naming only its key) are looked up by the caller.
 */
import type { WebhookState } from './state.js';

export function typeMatches(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => globMatches(pattern, type));
}

/** `*` matches any run of characters (none included); everything else matches itself. */
export function globMatches(pattern: string, text: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === text;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!text.startsWith(first) || text.length < first.length + last.length || !text.endsWith(last)) return false;
  let at = first.length;
  const end = text.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const found = text.indexOf(middle, at);
    if (found === -1 || found + middle.length > end) return false;
    at = found + middle.length;
  }
  return true;
}

export interface EventOwner {
  consumerId: string | null;
  planId: string | null;
}

export function ownerMatches(filters: WebhookState['filters'], owner: EventOwner): boolean {
  if (filters.consumerIds.length > 0 && (owner.consumerId === null || !filters.consumerIds.includes(owner.consumerId))) return false;
  if (filters.planIds.length > 0 && (owner.planId === null || !filters.planIds.includes(owner.planId))) return false;
  return true;
}
