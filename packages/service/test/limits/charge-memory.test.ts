import { describe, expect, it } from 'vitest';
import { createChargeMemory } from '../../src/limits/charge-memory.js';

const allowed = { allowed: true } as const;

describe('charge memory (given a bound of 2 and a retention of 1 s)', () => {
  it('when a third chargeId is remembered, then the oldest is dropped', () => {
    const memory = createChargeMemory(1000, 2);
    memory.remember('s', 'a', allowed, 0);
    memory.remember('s', 'b', allowed, 0);
    memory.remember('s', 'c', allowed, 0);
    expect(memory.size).toBe(2);
    expect(memory.replay('s', 'a', 10)).toBeUndefined();
    expect(memory.replay('s', 'c', 10)).toEqual({ allowed: true, replayed: true });
  });

  it('when a chargeId is charged again after expiry, then evicting its old slot keeps the new entry', () => {
    const memory = createChargeMemory(1000, 2);
    memory.remember('s', 'a', allowed, 0);
    expect(memory.replay('s', 'a', 1000)).toBeUndefined();
    memory.remember('s', 'a', allowed, 2000);
    memory.remember('s', 'b', allowed, 2000);
    expect(memory.replay('s', 'a', 2500)).toEqual({ allowed: true, replayed: true });
    expect(memory.size).toBe(2);
  });

  it('the same chargeId of another subject is another charge; the sweep drops expired ones', () => {
    const memory = createChargeMemory(1000, 10);
    memory.remember('s', 'a', allowed, 0);
    expect(memory.replay('t', 'a', 10)).toBeUndefined();
    memory.remember('t', 'a', allowed, 500);
    memory.sweep(1000);
    expect(memory.size).toBe(1);
    expect(memory.replay('t', 'a', 1200)).toEqual({ allowed: true, replayed: true });
  });
});
