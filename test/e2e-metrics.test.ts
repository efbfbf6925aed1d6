/**
 * /metrics as a Prometheus user reads it, from a real service process: standard names (no doubled
 * prefix), HTTP requests and latency by route template / method / status class, keys by status,
 * appends and projection applies, limiter call latency. Every figure asserted is caused by the
 * requests this test makes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestKey, type ServiceProcess, startService } from './support/service-process.js';

let service: ServiceProcess;

beforeAll(async () => {
  service = await startService();
});
afterAll(async () => {
  await service?.stop();
});

const auth = () => ({ authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' });

async function scrape(): Promise<string> {
  // The root key can read metrics whether or not /metrics asks for a permission.
  const response = await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${service.rootKey}` } });
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of one series, e.g. sample(text, 'http_requests_total', { route: '/v1/verify' }); 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(match[3]);
  }
  return total;
}

async function issue(body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const response = await fetch(`${service.url}/v1/keys`, { method: 'POST', headers: auth(), body: JSON.stringify({ consumerId: 'acme', ...body }) });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; secret: string };
}

describe('/metrics', () => {
  it('uses the standard process_* / nodejs_* names, never a doubled prefix', async () => {
    const text = await scrape();
    expect(text).not.toMatch(/keyledger_process_/);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    // Every keyledger series has one prefix.
    expect(text).not.toMatch(/keyledger_keyledger_/);
  });

  it('counts and times HTTP requests by route template, method and status class; unmatched paths share one label', async () => {
    const before = await scrape();
    const labels = { route: '/v1/keys/:id', method: 'GET', status_class: '4xx' };
    const base = sample(before, 'http_requests_total', labels);
    const baseCount = sample(before, 'http_request_duration_seconds_count', labels);
    for (let i = 0; i < 3; i++) await fetch(`${service.url}/v1/keys/key_${'0'.repeat(20)}${i}`, { headers: auth() });
    for (let i = 0; i < 2; i++) await fetch(`${service.url}/no/such/path/${i}`);
    await fetch(`${service.url}/healthz`);
    const after = await scrape();
    expect(sample(after, 'http_requests_total', labels) - base).toBe(3);
    expect(sample(after, 'http_request_duration_seconds_count', labels) - baseCount).toBe(3);
    expect(sample(after, 'http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }) - baseCount).toBe(3);
    expect(sample(after, 'http_requests_total', { route: 'unmatched', method: 'GET', status_class: '4xx' })).toBeGreaterThanOrEqual(2);
    expect(after).not.toContain('/no/such/path');
    expect(sample(after, 'http_requests_total', { route: '/healthz', method: 'GET', status_class: '2xx' })).toBeGreaterThanOrEqual(1);
    // No key ids or key material in any label.
    expect(after).not.toMatch(/key_0{20}/);
  });

  it('shows keys by status, appended and applied events, and limiter latency', async () => {
    const before = await scrape();
    const limited = await issue({ name: 'limited', rateLimit: { limit: 100, windowSeconds: 60 } });
    const doomed = await issue({ name: 'doomed' });
    const revoke = await fetch(`${service.url}/v1/keys/${doomed.id}/revoke`, { method: 'POST', headers: auth(), body: JSON.stringify({ reason: 'metrics test' }) });
    expect(revoke.status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const verify = await fetch(`${service.url}/v1/verify`, { method: 'POST', headers: auth(), body: JSON.stringify({ key: limited.secret }) });
      expect(((await verify.json()) as { code: string }).code).toBe('VALID');
    }
    await fetch(`${service.url}/v1/verify`, { method: 'POST', headers: auth(), body: JSON.stringify({ key: makeTestKey() }) });
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('keyledger_keys', { status: 'active' })).toBe(1);
    expect(delta('keyledger_keys', { status: 'revoked' })).toBe(1);
    // Two KeyIssued and one KeyRevoked, appended and applied by this instance.
    expect(delta('keyledger_events_appended_total', { category: 'key' })).toBe(3);
    expect(delta('keyledger_projection_events_applied_total')).toBeGreaterThanOrEqual(3);
    // Only the limited key reaches the limiter: four checks.
    expect(delta('keyledger_limiter_duration_seconds_count', { operation: 'check' })).toBe(4);
    expect(delta('keyledger_verifications_total', { code: 'VALID' })).toBe(4);
    expect(delta('keyledger_verifications_total', { code: 'NOT_FOUND' })).toBe(1);
    expect(delta('http_requests_total', { route: '/v1/verify', method: 'POST', status_class: '2xx' })).toBe(5);
    expect(after).not.toContain(limited.secret);
    expect(after).not.toContain(limited.id);
  });
});
