/**
 * For receivers of keyledger webhooks: checks a delivery's Standard Webhooks signature
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the endpoint's `whsec_` secret,
 * using the specification's reference library, and returns the parsed body. Deduplicate on
 * `webhook-id` (the ledger event id): delivery is at least once.
 */
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { LedgerEvent } from './types.js';

export class WebhookSignatureError extends Error {
  override name = 'WebhookSignatureError';
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const bag = headers as Record<string, string | string[] | undefined>;
  const value = bag[name] ?? bag[name.toLowerCase()] ?? Object.entries(bag).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Verifies and parses one delivery. `body` must be the raw body as received (not re-serialised
 * JSON). Throws WebhookSignatureError when a header is missing, the signature does not match, or
 * the timestamp is more than 5 minutes off (replayed deliveries).
 */
export function verifyWebhook<T = LedgerEvent>(secret: string, body: string | Buffer, headers: HeaderBag): T {
  const wanted = { 'webhook-id': header(headers, 'webhook-id'), 'webhook-timestamp': header(headers, 'webhook-timestamp'), 'webhook-signature': header(headers, 'webhook-signature') };
  for (const [name, value] of Object.entries(wanted)) if (value === undefined) throw new WebhookSignatureError(`missing ${name} header`);
  try {
    return new Webhook(secret).verify(body, wanted as Record<string, string>) as T;
  } catch (error) {
    if (error instanceof WebhookVerificationError) throw new WebhookSignatureError(error.message);
    throw error;
  }
}
