import { Key } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { toKeyView } from '../../src/domain/keys/index.js';
import { DIGEST, issued, reinstated, revoked, rotated, suspended } from './fixtures.js';
import { foldHistory, NOW } from './given.js';

const at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000).toISOString();
const view = (events: Parameters<typeof foldHistory>[0], now = NOW) => toKeyView(foldHistory(events)!, now);

describe('toKeyView', () => {
  it('is a valid API Key without the digest or internal flags', () => {
    const key = view([issued()]);
    expect(Key.strict().parse(key)).toEqual(key);
    expect(key).not.toHaveProperty('digest');
    expect(key).not.toHaveProperty('suspended');
    expect(key).not.toHaveProperty('revoked');
    expect(JSON.stringify(key)).not.toContain(DIGEST);
  });

  it('status: a fresh key is active', () => {
    expect(view([issued()]).status).toBe('active');
  });

  it('status: suspended, then active again once reinstated', () => {
    expect(view([issued(), suspended()]).status).toBe('suspended');
    expect(view([issued(), suspended(), reinstated()]).status).toBe('active');
  });

  it('status: expired from the instant expiresAt is reached', () => {
    const events = [issued({ expiresAt: at(10) })];
    expect(view(events, new Date(NOW.getTime() + 9_999)).status).toBe('active');
    expect(view(events, new Date(NOW.getTime() + 10_000)).status).toBe('expired');
  });

  it('status: a rotated key is active during the grace period and expired from validUntil', () => {
    const events = [issued(), rotated({ validUntil: at(60) })];
    expect(view(events).status).toBe('active');
    expect(view(events, new Date(NOW.getTime() + 60_000)).status).toBe('expired');
  });

  it('status: expired wins over suspended', () => {
    expect(view([issued({ expiresAt: at(10) }), suspended()], new Date(NOW.getTime() + 20_000)).status).toBe('expired');
  });

  it('status: revoked wins over everything', () => {
    expect(view([issued({ expiresAt: at(10) }), suspended(), revoked()], new Date(NOW.getTime() + 20_000)).status).toBe('revoked');
    expect(view([issued(), rotated({ validUntil: at(-1) }), revoked()]).status).toBe('revoked');
  });
});
