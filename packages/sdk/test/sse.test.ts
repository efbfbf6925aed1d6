import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/sse.js';

const encode = (text: string) => new TextEncoder().encode(text);

describe('SseParser', () => {
  it('dispatches a message on a blank line with its event, data and id', () => {
    const parser = new SseParser();
    const messages = parser.push('id: 7\nevent: KeyRevoked\ndata: {"a":1}\n\n');
    expect(messages).toEqual([{ event: 'KeyRevoked', data: '{"a":1}', lastEventId: '7' }]);
    expect(parser.lastEventId).toBe('7');
  });

  it('joins multi-line data with newlines and defaults the event to "message"', () => {
    const parser = new SseParser();
    expect(parser.push('data: one\ndata:two\ndata:  three\n\n')).toEqual([
      { event: 'message', data: 'one\ntwo\n three', lastEventId: '' },
    ]);
  });

  it('keeps frames split across chunks at any byte, including inside a UTF-8 character', () => {
    const frame = 'id: 12\nevent: KeyIssued\ndata: {"name":"clé ✓"}\n\n';
    const bytes = encode(frame + frame.replace('12', '13'));
    for (let cut = 1; cut < bytes.length; cut++) {
      const parser = new SseParser();
      const messages = [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut))];
      expect(messages.map((m) => [m.lastEventId, m.data])).toEqual([
        ['12', '{"name":"clé ✓"}'],
        ['13', '{"name":"clé ✓"}'],
      ]);
    }
  });

  it('accepts CRLF, LF and CR line endings, with a CRLF split between chunks counted once', () => {
    const parser = new SseParser();
    const messages = [
      ...parser.push('data: a\r\n\r\ndata: b\r\rdata: c\r'),
      ...parser.push('\n\r'),
      ...parser.push('\n'),
    ];
    expect(messages.map((m) => m.data)).toEqual(['a', 'b', 'c']);
  });

  it('ignores comments (heartbeats) and counts them', () => {
    const parser = new SseParser();
    expect(parser.push(': heartbeat\n\n: connected\n\n')).toEqual([]);
    expect(parser.comments).toBe(2);
  });

  it('keeps the last event id across messages and lets id-only frames advance it without dispatching', () => {
    const parser = new SseParser('3');
    expect(parser.push('data: x\n\n')[0]?.lastEventId).toBe('3');
    expect(parser.push('id: 9\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('9');
    expect(parser.push('data: y\n\n')[0]?.lastEventId).toBe('9');
  });

  it('ignores an id containing NUL and a non-numeric retry; takes a numeric retry', () => {
    const parser = new SseParser();
    parser.push('id: 5\n\nid: bad\0id\nretry: soon\ndata: z\n\n');
    expect(parser.lastEventId).toBe('5');
    expect(parser.retry).toBeUndefined();
    parser.push('retry: 1500\n\n');
    expect(parser.retry).toBe(1500);
  });

  it('does not dispatch an event field without data, and resets the event type after dispatch', () => {
    const parser = new SseParser();
    expect(parser.push('event: checkpoint\n\n')).toEqual([]);
    expect(parser.push('data: plain\n\n')).toEqual([{ event: 'message', data: 'plain', lastEventId: '' }]);
  });

  it('treats a field with no colon as an empty value and ignores unknown fields', () => {
    const parser = new SseParser();
    expect(parser.push('data\nfoo: bar\n\n')).toEqual([{ event: 'message', data: '', lastEventId: '' }]);
  });

  it('strips a leading byte order mark once', () => {
    const parser = new SseParser();
    expect(parser.push('\uFEFFdata: first\n\n')[0]?.data).toBe('first');
  });

  it('holds an incomplete frame until its blank line arrives', () => {
    const parser = new SseParser();
    expect(parser.push('id: 1\ndata: half')).toEqual([]);
    expect(parser.push('\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'message', data: 'half', lastEventId: '1' }]);
  });
});
