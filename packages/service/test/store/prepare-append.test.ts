import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidAppendError } from '../../src/store/errors.js';
import type { NewEvent } from '../../src/store/port.js';
import { assertJson, parseExpectedRevision, prepareAppend } from '../../src/store/prepare-append.js';

const ok: NewEvent = { type: 'KeyIssued', data: { keyId: 'k1' } };

function invalid(call: () => unknown): InvalidAppendError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidAppendError);
    return error as InvalidAppendError;
  }
  throw new Error('expected an InvalidAppendError');
}

describe('prepareAppend', () => {
  it('returns the stream, its category, the expected revision and the events as JSON text', () => {
    const id = randomUUID();
    const prepared = prepareAppend(
      'key-0190a1b2',
      [{ id, type: 'KeyIssued', data: { keyId: 'k1', n: [1, null] }, metadata: { actor: 'alice' } }, ok],
      { expectedRevision: 3 },
      undefined,
    );
    expect(prepared.stream).toBe('key-0190a1b2');
    expect(prepared.category).toBe('key');
    expect(prepared.expected).toBe(3);
    expect(prepared.events[0]).toEqual({
      id,
      type: 'KeyIssued',
      data: '{"keyId":"k1","n":[1,null]}',
      metadata: '{"actor":"alice"}',
    });
    expect(prepared.events[1]?.metadata).toBe('{}');
    expect(prepared.events[1]?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(prepared.events[1]?.id).not.toBe(id);
  });

  it('defaults the expected revision to any and lower-cases ids', () => {
    const upper = randomUUID().toUpperCase();
    const prepared = prepareAppend('key-1', [{ ...ok, id: upper }], undefined, undefined);
    expect(prepared.expected).toBe('any');
    expect(prepared.events[0]?.id).toBe(upper.toLowerCase());
  });

  it.each(['a', 'key-1', 'key-x:y@z.w_v', 'K', `k${'x'.repeat(199)}`, '0-1'])('accepts the stream name %j', (stream) => {
    expect(prepareAppend(stream, [ok], undefined, undefined).stream).toBe(stream);
  });

  it.each<unknown>(['', '-key', '_key', 'key 1', 'key/1', 'clé-1', 'key-\u0000', `k${'x'.repeat(200)}`, 42, null, undefined])(
    'rejects the stream name %j',
    (stream) => {
      const error = invalid(() => prepareAppend(stream as string, [ok], undefined, undefined));
      expect(error.message).toMatch(/invalid stream name/);
    },
  );

  it.each<unknown>(['', '1Issued', 'Key Issued', 'Key/Issued', `K${'x'.repeat(100)}`, undefined, 7, 'Ünicode'])(
    'rejects the event type %j',
    (type) => {
      const error = invalid(() => prepareAppend('key-1', [ok, { type: type as string, data: {} }], undefined, undefined));
      expect(error.message).toMatch(/event 1 .* invalid type/);
    },
  );

  it.each<unknown>(['abc', '', '0190a1b2-0000-0000-0000-00000000000', `{${randomUUID()}}`, `${randomUUID()}0`, 'g'.repeat(36), 123])(
    'rejects the non-UUID id %j',
    (id) => {
      const error = invalid(() => prepareAppend('key-1', [{ ...ok, id: id as string }], undefined, undefined));
      expect(error.message).toMatch(/not a UUID/);
    },
  );

  it('rejects an id repeated within the batch, whatever its case', () => {
    const id = randomUUID();
    const error = invalid(() => prepareAppend('key-1', [{ ...ok, id }, { ...ok, id: id.toUpperCase() }], undefined, undefined));
    expect(error.message).toContain(`repeats event id ${id}`);
  });

  it('rejects an empty batch, a batch that is not an array and events that are not objects', () => {
    invalid(() => prepareAppend('key-1', [], undefined, undefined));
    invalid(() => prepareAppend('key-1', ok as unknown as NewEvent[], undefined, undefined));
    invalid(() => prepareAppend('key-1', [null as unknown as NewEvent], undefined, undefined));
    invalid(() => prepareAppend('key-1', ['KeyIssued' as unknown as NewEvent], undefined, undefined));
  });

  it('rejects metadata that is not a plain JSON object', () => {
    for (const metadata of [[], 'text', 5, { at: new Date() }, { n: Number.NaN }]) {
      invalid(() => prepareAppend('key-1', [{ ...ok, metadata: metadata as object }], undefined, undefined));
    }
  });

  it('runs the validator on every event and wraps its failure with the cause', () => {
    const seen: string[] = [];
    const cause = new Error('keyId is required');
    const validate = (type: string) => {
      seen.push(type);
      if (type === 'KeyRevoked') throw cause;
    };
    expect(() => prepareAppend('key-1', [ok], undefined, validate)).not.toThrow();
    const error = invalid(() => prepareAppend('key-1', [ok, { type: 'KeyRevoked', data: {} }], undefined, validate));
    expect(error.message).toContain('KeyRevoked');
    expect(error.message).toContain('keyId is required');
    expect(error.cause).toBe(cause);
    expect(seen).toEqual(['KeyIssued', 'KeyIssued', 'KeyRevoked']);
  });
});

describe('parseExpectedRevision', () => {
  it.each<[unknown, unknown]>([
    [undefined, 'any'],
    ['any', 'any'],
    ['no_stream', 'no_stream'],
    ['stream_exists', 'stream_exists'],
    [0, 0],
    [41, 41],
    [7n, 7],
  ])('reads %s as %s', (input, expected) => {
    expect(parseExpectedRevision(input)).toBe(expected);
  });

  it.each<unknown>(['latest', 'ANY', -1, 1.5, Number.NaN, Infinity, 2 ** 53, -1n, '3', null, {}])('rejects %s', (input) => {
    const error = invalid(() => parseExpectedRevision(input));
    expect(error.message).toMatch(/unknown expected revision/);
  });
});

describe('assertJson', () => {
  it('accepts plain JSON, including null-prototype objects', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(() => assertJson({ a: [1, 'x', null, true, { b: bare }] }, 'data')).not.toThrow();
  });

  class Money {
    amount = 1;
  }
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  it.each<[string, unknown, RegExp]>([
    ['undefined', { a: undefined }, /type undefined at \$\.a/],
    ['a function', [() => 1], /type function at \$\[0\]/],
    ['NaN', { n: Number.NaN }, /non-finite number at \$\.n/],
    ['-Infinity', { n: -Infinity }, /non-finite/],
    ['a bigint', { b: 1n }, /type bigint/],
    ['a Date', { at: new Date(0) }, /non-plain object \(Date\) at \$\.at/],
    ['a class instance', { m: new Money() }, /non-plain object \(Money\)/],
    ['a cycle', cyclic, /cyclic/],
  ])('rejects %s, naming where', (_, value, message) => {
    expect(invalid(() => assertJson(value, 'data')).message).toMatch(message);
  });

  it('rejects nesting deeper than 64 levels but accepts a shared (non-cyclic) object twice', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(invalid(() => assertJson(deep, 'data')).message).toMatch(/deeper than 64/);
    const shared = { x: 1 };
    expect(() => assertJson({ a: shared, b: shared }, 'data')).not.toThrow();
  });
});
