/**
 * A ledger that cannot be reached is the service's trouble, not the client's: every route that
 * needs it answers 503 problem+json with Retry-After (never a 500), so clients and load balancers
 * retry. Here the real SQLite store is closed under a running app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.js';

describe('event store unavailable', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers writes and ledger reads with 503 and Retry-After', async () => {
    const issued = await h.issue({ consumerId: 'acme' });
    await h.service.store.close();
    for (const [method, url, body] of [
      ['POST', '/v1/keys', { consumerId: 'acme' }],
      ['POST', `/v1/keys/${issued.id}/suspend`, {}],
      ['GET', '/v1/events', undefined],
    ] as const) {
      const reply = await h.call(method, url, body === undefined ? {} : { body });
      expect(reply.status, `${method} ${url}: ${reply.text}`).toBe(503);
      expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(reply.headers['retry-after']).toBe('1');
      expect(reply.body).toMatchObject({ status: 503, type: expect.stringMatching(/unavailable$/) });
    }
  });
});
