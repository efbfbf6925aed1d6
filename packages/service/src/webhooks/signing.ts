/**
 * Webhook signing per the Standard Webhooks specification, with its reference library
 * (`standardwebhooks`): `webhook-id` (the ledger event id, so receivers deduplicate),
 * `webhook-timestamp` and `webhook-signature` (v1, HMAC-SHA256 of `id.timestamp.body`).
 *
 * The signing secret is never stored: it is HMAC-SHA256(server secret, endpoint id, salt), the
 * salt being random and recorded with the endpoint. Every instance with the same
 * KEYLEDGER_SECRET derives the same secret, so any instance can sign any delivery; the create
 * answer shows it once. Changing KEYLEDGER_SECRET changes every endpoint's secret (documented).
 */
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';

export function deriveWebhookSecret(serverSecret: Buffer, endpointId: string, salt: string): string {
  const bytes = createHmac('sha256', serverSecret).update(`webhook-signing-secret\n${endpointId}\n${salt}`, 'utf8').digest();
  return `${WEBHOOK_SECRET_PREFIX}${bytes.toString('base64')}`;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function signDelivery(secret: string, messageId: string, at: Date, body: string): SignedHeaders {
  const signature = new Webhook(secret).sign(messageId, at, body);
  return { 'webhook-id': messageId, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
}
