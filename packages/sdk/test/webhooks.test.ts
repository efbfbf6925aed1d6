/** verifyWebhook: accepts what a Standard Webhooks signer produced, refuses anything altered or missing. */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookSignatureError } from '../src/index.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const body = JSON.stringify({ id: '0190a6f1-0000-8000-8000-000000000001', type: 'KeyRevoked', stream: 'key-key_x', data: { keyId: 'key_x' } });

function signed(at = new Date(), payload = body) {
  return {
    'webhook-id': '0190a6f1-0000-8000-8000-000000000001',
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign('0190a6f1-0000-8000-8000-000000000001', at, payload),
  };
}

describe('verifyWebhook', () => {
  it('returns the parsed body of a correctly signed delivery (plain headers or a Headers object)', () => {
    expect(verifyWebhook(secret, body, signed())).toMatchObject({ type: 'KeyRevoked' });
    expect(verifyWebhook(secret, Buffer.from(body), new Headers(signed()))).toMatchObject({ type: 'KeyRevoked' });
  });

  it('refuses a tampered body, another secret, a stale timestamp and a missing header', () => {
    expect(() => verifyWebhook(secret, body.replace('KeyRevoked', 'KeyIssued'), signed())).toThrow(WebhookSignatureError);
    expect(() => verifyWebhook(`whsec_${randomBytes(32).toString('base64')}`, body, signed())).toThrow(WebhookSignatureError);
    expect(() => verifyWebhook(secret, body, signed(new Date(Date.now() - 3600_000)))).toThrow(WebhookSignatureError);
    const { 'webhook-signature': _dropped, ...unsigned } = signed();
    expect(() => verifyWebhook(secret, body, unsigned)).toThrow(/webhook-signature/);
  });
});
