/** The consumer, plan and key request read models: lists by status, creation time and cursor; snapshots that restore the same model. */
import { describe, expect, it } from 'vitest';
import { createConsumerReadModel } from '../../src/projections/consumer-plan-projections.js';
import type { RecordedEvent } from '../../src/store/port.js';

let position = 0;
function recorded(stream: string, revision: number, type: string, data: object, occurredAt: string): RecordedEvent {
  position++;
  return {
    id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
    stream,
    category: stream.slice(0, stream.indexOf('-')),
    revision,
    type,
    data,
    metadata: { occurredAt },
    checkpoint: String(position),
    recordedAt: new Date(occurredAt),
  } as RecordedEvent;
}

function consumers() {
  const model = createConsumerReadModel();
  for (let i = 0; i < 5; i++) {
    const id = `c${i}`;
    model.apply(recorded(`consumer-${id}`, 0, 'ConsumerRegistered', { consumerId: id, name: id, email: `${id}@x.test`, organisation: null, intendedUse: null, externalId: null, allowedNetworks: [] }, `2026-11-0${i + 1}T00:00:00.000Z`));
    if (i % 2 === 0) model.apply(recorded(`consumer-${id}`, 1, 'ConsumerApproved', { consumerId: id, reviewer: 'ops', reason: null }, `2026-11-0${i + 1}T01:00:00.000Z`));
  }
  // Another category is not this model's.
  model.apply(recorded('plan-p', 0, 'PlanRetired', { planId: 'p', reason: null }, '2026-11-09T00:00:00.000Z'));
  return model;
}

describe('aggregate read model', () => {
  it('lists by status and creation time, a page at a time', () => {
    const model = consumers();
    expect(model.size).toBe(5);
    expect(model.list({ status: 'approved', limit: 10 }).items.map((c) => c.id)).toEqual(['c0', 'c2', 'c4']);
    expect(model.list({ createdFrom: '2026-11-02T00:00:00.000Z', createdTo: '2026-11-04T00:00:00.000Z', limit: 10 }).items.map((c) => c.id)).toEqual(['c1', 'c2']);
    const first = model.list({ limit: 2 });
    expect(first.items.map((c) => c.id)).toEqual(['c0', 'c1']);
    expect(model.list({ after: first.nextAfter!, limit: 2 }).items.map((c) => c.id)).toEqual(['c2', 'c3']);
    expect(model.list({ where: (c) => c.id.endsWith('3'), limit: 10 }).items.map((c) => c.id)).toEqual(['c3']);
  });

  it('a snapshot restores the same model, order included; a malformed one is refused', () => {
    const model = consumers();
    const restored = createConsumerReadModel();
    restored.restoreSnapshot(model.encodeSnapshot());
    expect(restored.snapshot()).toEqual(model.snapshot());
    expect(restored.list({ limit: 10 }).items.map((c) => c.id)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(() => restored.restoreSnapshot(Buffer.from('{"not":"a list"}'))).toThrow(/not a list/);
  });
});
