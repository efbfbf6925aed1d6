import { describe, expect, it } from 'vitest';
import { creditBalanceAt, nextRefillMs, openingCreditBalance, periodIndex, refilledBalance, survivesRefill, MAX_CREDIT_BALANCE } from '../../src/limits/credits.js';
import type { CreditRefill } from '../../src/limits/limiter.js';

const at = (iso: string) => Date.parse(iso);
const addDaily: CreditRefill = { amount: 10, period: 'day', mode: 'add' };
const resetMonthly: CreditRefill = { amount: 100, period: 'month', mode: 'reset' };

describe('periodIndex', () => {
  it('consecutive periods differ by one, across day, month and year boundaries', () => {
    expect(periodIndex('minute', at('2026-03-14T15:10:00Z')) - periodIndex('minute', at('2026-03-14T15:09:59.999Z'))).toBe(1);
    expect(periodIndex('hour', at('2026-03-15T00:00:00Z')) - periodIndex('hour', at('2026-03-14T23:59:59.999Z'))).toBe(1);
    expect(periodIndex('day', at('2027-01-01T00:00:00Z')) - periodIndex('day', at('2026-12-31T23:59:59.999Z'))).toBe(1);
    expect(periodIndex('month', at('2027-01-01T00:00:00Z')) - periodIndex('month', at('2026-12-31T23:59:59.999Z'))).toBe(1);
    expect(periodIndex('month', at('2024-03-01T00:00:00Z')) - periodIndex('month', at('2024-02-29T12:00:00Z'))).toBe(1);
    expect(periodIndex('month', at('2026-03-31T23:59:59.999Z'))).toBe(periodIndex('month', at('2026-03-01T00:00:00Z')));
  });
});

describe('creditBalanceAt (given a stored balance, when time passes, then)', () => {
  it('add: nothing changes inside the period; each boundary crossed adds the amount', () => {
    const stored = { balance: 3, periodStartMs: at('2026-03-14T00:00:00Z') };
    expect(creditBalanceAt(stored, addDaily, at('2026-03-14T23:59:59.999Z'))).toBe(stored);
    expect(creditBalanceAt(stored, addDaily, at('2026-03-15T00:00:00Z'))).toEqual({ balance: 13, periodStartMs: at('2026-03-15T00:00:00Z') });
    expect(creditBalanceAt(stored, addDaily, at('2026-04-02T07:00:00Z'))).toEqual({ balance: 3 + 19 * 10, periodStartMs: at('2026-04-02T00:00:00Z') });
  });

  it('reset: any number of boundaries crossed sets the balance to the amount, unused credits lapse', () => {
    const stored = { balance: 57, periodStartMs: at('2026-11-01T00:00:00Z') };
    expect(creditBalanceAt(stored, resetMonthly, at('2026-11-30T23:59:59.999Z'))).toBe(stored);
    expect(creditBalanceAt(stored, resetMonthly, at('2026-12-01T00:00:00Z'))).toEqual({ balance: 100, periodStartMs: at('2026-12-01T00:00:00Z') });
    expect(creditBalanceAt(stored, resetMonthly, at('2027-02-28T00:00:00Z'))).toEqual({ balance: 100, periodStartMs: at('2027-02-01T00:00:00Z') });
  });

  it('a clock behind the stored period never refills (or un-refills)', () => {
    const stored = { balance: 5, periodStartMs: at('2026-03-14T00:00:00Z') };
    expect(creditBalanceAt(stored, addDaily, at('2026-03-13T12:00:00Z'))).toBe(stored);
  });

  it('without a refill the balance stands for ever', () => {
    expect(creditBalanceAt({ balance: 8, periodStartMs: 0 }, null, at('2099-01-01T00:00:00Z'))).toEqual({ balance: 8, periodStartMs: 0 });
  });

  it('add saturates at the largest exact integer instead of losing precision', () => {
    expect(refilledBalance(MAX_CREDIT_BALANCE - 5, { amount: 1_000_000_000_000, period: 'minute', mode: 'add' }, 3)).toBe(MAX_CREDIT_BALANCE);
  });
});

describe('openingCreditBalance (given no stored state)', () => {
  it('starts at initial in the period of sinceMs and counts the refills since', () => {
    const policy = { initial: 1, refill: addDaily, sinceMs: at('2026-03-10T18:00:00Z') };
    expect(openingCreditBalance(policy, at('2026-03-14T09:00:00Z'))).toEqual({ balance: 41, periodStartMs: at('2026-03-14T00:00:00Z') });
  });

  it('reset: initial for the first period, the amount once a boundary was crossed', () => {
    const policy = { initial: 7, refill: resetMonthly, sinceMs: at('2026-03-10T00:00:00Z') };
    expect(openingCreditBalance(policy, at('2026-03-31T00:00:00Z')).balance).toBe(7);
    expect(openingCreditBalance(policy, at('2026-04-01T00:00:00Z')).balance).toBe(100);
  });

  it('without sinceMs, or with one in the future, the account begins now', () => {
    const now = at('2026-03-14T09:00:00Z');
    expect(openingCreditBalance({ initial: 4, refill: addDaily }, now)).toEqual({ balance: 4, periodStartMs: at('2026-03-14T00:00:00Z') });
    expect(openingCreditBalance({ initial: 4, refill: addDaily, sinceMs: now + 86_400_000 }, now).balance).toBe(4);
    expect(openingCreditBalance({ initial: 4, refill: null }, now)).toEqual({ balance: 4, periodStartMs: 0 });
  });
});

describe('nextRefillMs and survivesRefill', () => {
  it('the next refill is the end of the current UTC period', () => {
    expect(nextRefillMs(resetMonthly, at('2026-12-15T00:00:00Z'))).toBe(at('2027-01-01T00:00:00Z'));
    expect(nextRefillMs(null, at('2026-12-15T00:00:00Z'))).toBeNull();
  });

  it('only a reset wipes what belongs to an earlier period', () => {
    const now = at('2026-03-14T09:00:00Z');
    expect(survivesRefill(resetMonthly, at('2026-02-28T23:59:59Z'), now)).toBe(false);
    expect(survivesRefill(resetMonthly, at('2026-03-01T00:00:00Z'), now)).toBe(true);
    expect(survivesRefill(addDaily, at('2020-01-01T00:00:00Z'), now)).toBe(true);
    expect(survivesRefill(null, at('2020-01-01T00:00:00Z'), now)).toBe(true);
  });
});
