/** The delivery worker's pure pieces: back-off, event ownership for filters, bodies, private targets, derived secrets. */
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/store/port.js';
import { deliveryBody, ownerOf, retryDelayMs } from '../../src/webhooks/delivery-worker.js';
import { deriveWebhookSecret, signDelivery } from '../../src/webhooks/signing.js';
import { assertPublicTarget, isPrivateAddress } from '../../src/webhooks/target-policy.js';

const event: RecordedEvent = {
  id: '0190a6f1-0000-8000-8000-000000000001',
  stream: 'key-key_0123456789abcdefAB',
  category: 'key',
  revision: 0,
  type: 'KeyIssued',
  data: { keyId: 'key_0123456789abcdefAB', consumerId: 'acme', planId: null, digest: 'ab'.repeat(32) },
  metadata: { occurredAt: '2030-06-01T12:00:00.000Z', idempotencyKey: 'k', requestHash: 'h' },
  checkpoint: '42',
  recordedAt: new Date('2030-06-01T12:00:00.000Z'),
};

describe('webhook delivery rules', () => {
  it('backs off exponentially with jitter in [c/2, c], capped', () => {
    expect(retryDelayMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(retryDelayMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(retryDelayMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(retryDelayMs(40, 1000, 60_000, () => 0)).toBe(30_000);
  });

  it("owns an event by its own consumer and plan, else by its key's", () => {
    expect(ownerOf(event, () => ({ consumerId: 'x', planId: 'pro' }))).toEqual({ consumerId: 'acme', planId: 'pro' });
    const revoked = { ...event, type: 'KeyRevoked', data: { keyId: 'key_0123456789abcdefAB', reason: null } };
    expect(ownerOf(revoked, () => ({ consumerId: 'beta', planId: null }))).toEqual({ consumerId: 'beta', planId: null });
    expect(ownerOf(revoked, () => undefined)).toEqual({ consumerId: null, planId: null });
  });

  it('sends the public view (no digest, no idempotency material), or a CloudEvents envelope with the event id', () => {
    const plain = JSON.parse(deliveryBody(event, 'event').body);
    expect(plain).toMatchObject({ id: event.id, type: 'KeyIssued', stream: event.stream, checkpoint: '42' });
    expect(plain.data).not.toHaveProperty('digest');
    expect(plain.metadata).not.toHaveProperty('idempotencyKey');
    const cloud = deliveryBody(event, 'cloudevents');
    expect(cloud.contentType).toBe('application/cloudevents+json');
    expect(JSON.parse(cloud.body)).toMatchObject({ specversion: '1.0', id: event.id, type: 'keyledger.KeyIssued', subject: 'key_0123456789abcdefAB', source: 'keyledger' });
    expect(cloud.body).not.toContain('ab'.repeat(32));
  });

  it('refuses loopback, private, link-local and mapped addresses; allows public ones', async () => {
    for (const address of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1']) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['93.184.216.34', '2606:4700:4700::1111', '8.8.8.8']) expect(isPrivateAddress(address), address).toBe(false);
    await expect(assertPublicTarget('http://169.254.169.254/latest/meta-data', false)).rejects.toThrow(/private/);
    await expect(assertPublicTarget('http://localhost:8080/', false)).rejects.toThrow();
    await expect(assertPublicTarget('http://127.0.0.1/', true)).resolves.toBeUndefined();
  });

  it('derives one secret per endpoint and salt from the server secret; signs per Standard Webhooks', () => {
    const server = Buffer.alloc(32, 7);
    const secret = deriveWebhookSecret(server, 'wh_a', '00'.repeat(16));
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(deriveWebhookSecret(server, 'wh_a', '00'.repeat(16))).toBe(secret);
    expect(deriveWebhookSecret(server, 'wh_b', '00'.repeat(16))).not.toBe(secret);
    expect(deriveWebhookSecret(Buffer.alloc(32, 8), 'wh_a', '00'.repeat(16))).not.toBe(secret);
    const headers = signDelivery(secret, event.id, new Date('2030-06-01T12:00:00Z'), '{}');
    expect(headers).toMatchObject({ 'webhook-id': event.id, 'webhook-timestamp': String(Date.parse('2030-06-01T12:00:00Z') / 1000) });
    expect(headers['webhook-signature']).toMatch(/^v1,/);
  });
});
