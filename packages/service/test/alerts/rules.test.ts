/** The alert rules, given/when/then: what is due when, and that identities are stable. */
import { describe, expect, it } from 'vitest';
import { alertId, crossedPercents, expiringSoon, graceEndingSoon, overdue, parsePercents, usageWindowOf } from '../../src/alerts/rules.js';

const NOW = Date.parse('2030-06-01T12:00:00Z');
const key = { id: 'key_0123456789abcdefAB', revoked: false, expiresAt: null, rotatedTo: null, validUntil: null };

describe('alert rules', () => {
  it('parses threshold percentages, sorted and distinct; refuses nonsense', () => {
    expect(parsePercents('90, 75,100,75')).toEqual([75, 90, 100]);
    expect(() => parsePercents('75,abc')).toThrow(RangeError);
    expect(() => parsePercents('0')).toThrow(RangeError);
  });

  it('given usage of a limit, then every percentage reached', () => {
    expect(crossedPercents(74, 100, [75, 90, 100])).toEqual([]);
    expect(crossedPercents(75, 100, [75, 90, 100])).toEqual([75]);
    expect(crossedPercents(100, 100, [75, 90, 100])).toEqual([75, 90, 100]);
    expect(crossedPercents(3, 4, [75, 90, 100])).toEqual([75]);
    expect(crossedPercents(5, 0, [75])).toEqual([]);
  });

  it('given a key expiring in 3 days, then expiring within 7 but not within 2; an expired or revoked one never', () => {
    const in3 = { ...key, expiresAt: new Date(NOW + 3 * 86_400_000).toISOString() };
    expect(expiringSoon(in3, NOW, 7)).toBe(true);
    expect(expiringSoon(in3, NOW, 2)).toBe(false);
    expect(expiringSoon({ ...in3, revoked: true }, NOW, 7)).toBe(false);
    expect(expiringSoon({ ...key, expiresAt: new Date(NOW - 1).toISOString() }, NOW, 7)).toBe(false);
    expect(expiringSoon(key, NOW, 7)).toBe(false);
  });

  it('given a rotated key valid for 2 more hours, then its grace ends within 24 h', () => {
    const rotated = { ...key, rotatedTo: 'key_SuccessorSuccessor1', validUntil: new Date(NOW + 7_200_000).toISOString() };
    expect(graceEndingSoon(rotated, NOW, 24)).toBe(true);
    expect(graceEndingSoon(rotated, NOW, 1)).toBe(false);
    expect(graceEndingSoon({ ...rotated, validUntil: new Date(NOW - 1).toISOString() }, NOW, 24)).toBe(false);
  });

  it('given a request pending for 25 hours, then overdue after 24', () => {
    expect(overdue(new Date(NOW - 25 * 3_600_000).toISOString(), NOW, 24)).toBe(true);
    expect(overdue(new Date(NOW - 23 * 3_600_000).toISOString(), NOW, 24)).toBe(false);
  });

  it('aligns usage windows to the epoch', () => {
    expect(usageWindowOf(NOW + 1234, 3600)).toEqual({ startMs: NOW, endMs: NOW + 3_600_000 });
  });

  it('derives the same alert id for the same crossing, another for another', () => {
    const a = alertId.quota('key_x', 'key', 'day', '2030-06-01T00:00:00.000Z', 75);
    expect(alertId.quota('key_x', 'key', 'day', '2030-06-01T00:00:00.000Z', 75)).toBe(a);
    expect(alertId.quota('key_x', 'key', 'day', '2030-06-01T00:00:00.000Z', 90)).not.toBe(a);
    expect(alertId.quota('key_x', 'key', 'day', '2030-06-02T00:00:00.000Z', 75)).not.toBe(a);
  });
});
