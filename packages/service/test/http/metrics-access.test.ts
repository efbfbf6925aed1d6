/**
 * /metrics is not public on the main listener: it takes a management key with `metrics:read`
 * (admin implies it) through the same auth hook as /v1, or KEYLEDGER_METRICS_TOKEN; with
 * KEYLEDGER_METRICS_LISTEN it moves to a listener of its own, without auth.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { expectProblem, type Harness, startHarness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const METRICS_TOKEN = 'prometheus-scrape-token-0123456789abcdef';
const isMetricsText = (text: string) => /keyledger_verifications_total|^process_cpu_user_seconds_total /m.test(text);

describe('/metrics on the main listener', () => {
  it('without a credential: 401 problem', async () => {
    h = await startHarness();
    const reply = await h.call('GET', '/metrics', { key: null });
    expectProblem(reply, 401, 'unauthorized');
    expect(reply.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('a key without metrics:read: 403; with metrics:read or admin: the metrics', async () => {
    h = await startHarness();
    const reader = await h.issue({ consumerId: 'ops', permissions: ['keys:read'] });
    expectProblem(await h.call('GET', '/metrics', { key: reader.secret }), 403, 'forbidden');

    const scraper = await h.issue({ consumerId: 'ops', permissions: ['metrics:read'] });
    const scraped = await h.call('GET', '/metrics', { key: scraper.secret });
    expect(scraped.status).toBe(200);
    expect(isMetricsText(scraped.text)).toBe(true);
    // metrics:read grants nothing else.
    expectProblem(await h.call('GET', '/v1/keys', { key: scraper.secret }), 403, 'forbidden');

    const asRoot = await h.call('GET', '/metrics');
    expect(asRoot.status).toBe(200);
    expect(isMetricsText(asRoot.text)).toBe(true);
  });

  it('KEYLEDGER_METRICS_TOKEN is accepted for /metrics only; a wrong token is 401', async () => {
    h = await startHarness({ KEYLEDGER_METRICS_TOKEN: METRICS_TOKEN });
    const scraped = await h.call('GET', '/metrics', { key: METRICS_TOKEN });
    expect(scraped.status).toBe(200);
    expect(isMetricsText(scraped.text)).toBe(true);
    expectProblem(await h.call('GET', '/metrics', { key: `${METRICS_TOKEN}x` }), 401, 'unauthorized');
    expectProblem(await h.call('GET', '/metrics', { key: METRICS_TOKEN.slice(0, -1) }), 401, 'unauthorized');
    // The token is no management key.
    expectProblem(await h.call('GET', '/v1/events', { key: METRICS_TOKEN }), 401, 'unauthorized');
  });

  it('a KEYLEDGER_METRICS_TOKEN shorter than 32 characters stops the start', () => {
    expect(() => loadConfig({ KEYLEDGER_METRICS_TOKEN: 'short' })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYLEDGER_METRICS_TOKEN: 'short' })).toThrow(/KEYLEDGER_METRICS_TOKEN/);
  });
});

describe('KEYLEDGER_METRICS_LISTEN', () => {
  it('serves /metrics without auth on its own listener and removes it from the main one', async () => {
    h = await startHarness({ KEYLEDGER_METRICS_LISTEN: '127.0.0.1:0' });
    expectProblem(await h.call('GET', '/metrics'), 404, 'not-found');
    const metricsApp = h.service.metricsApp;
    expect(metricsApp).not.toBeNull();
    await metricsApp!.listen({ port: 0, host: '127.0.0.1' });
    const address = metricsApp!.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(scraped.status).toBe(200);
    expect(isMetricsText(await scraped.text())).toBe(true);
    const elsewhere = await fetch(`http://127.0.0.1:${port}/v1/keys`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('must be host:port', () => {
    expect(() => loadConfig({ KEYLEDGER_METRICS_LISTEN: 'localhost' })).toThrow(/KEYLEDGER_METRICS_LISTEN/);
    expect(() => loadConfig({ KEYLEDGER_METRICS_LISTEN: '127.0.0.1:99999' })).toThrow(/KEYLEDGER_METRICS_LISTEN/);
    expect(loadConfig({ KEYLEDGER_METRICS_LISTEN: '[::1]:9464' }).metrics.listen).toEqual({ host: '::1', port: 9464 });
  });
});
