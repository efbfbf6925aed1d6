/**
 * An incremental Server-Sent Events parser following the WHATWG "event stream interpretation"
 * rules: lines end in CRLF, LF or CR (a CRLF split across chunks counts once); `:` starts a
 * comment; `data` lines join with "\n"; `id` sets the last event id (ignored when it contains
 * NUL) and persists across messages; `retry` takes digits only; a blank line dispatches; a
 * message with no data is not dispatched, though its `id` still moves the last event id.
 * Bytes are decoded as a UTF-8 stream so a character split across chunks survives.
 */

export interface SseMessage {
  /** The `event` field, or "message" when absent. */
  event: string;
  data: string;
  /** The last event id at dispatch time (persists from earlier messages), "" when none yet. */
  lastEventId: string;
}

export class SseParser {
  readonly #decoder = new TextDecoder('utf-8');
  #buffer = '';
  #sawFirstChunk = false;
  #skipLeadingLf = false;
  #data: string[] = [];
  #event = '';
  #idBuffer: string;
  #lastEventId: string;
  #retry: number | undefined;
  #comments = 0;

  constructor(initialLastEventId = '') {
    this.#idBuffer = initialLastEventId;
    this.#lastEventId = initialLastEventId;
  }

  /** The last event id after everything fed so far, including id-only frames. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** The latest valid `retry` field, in milliseconds. */
  get retry(): number | undefined {
    return this.#retry;
  }

  /** How many comment lines (heartbeats) were seen. */
  get comments(): number {
    return this.#comments;
  }

  /** Feeds raw bytes (or already-decoded text); returns the messages they completed. */
  push(chunk: Uint8Array | string): SseMessage[] {
    let text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (!this.#sawFirstChunk && text.length > 0) {
      this.#sawFirstChunk = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#skipLeadingLf && text.length > 0) {
      this.#skipLeadingLf = false;
      if (text[0] === '\n') text = text.slice(1);
    }
    this.#buffer += text;
    const messages: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const ch = this.#buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      const line = this.#buffer.slice(start, i);
      if (ch === '\r') {
        if (i + 1 < this.#buffer.length) {
          if (this.#buffer[i + 1] === '\n') i++;
        } else {
          // The LF of a CRLF may arrive in the next chunk.
          this.#skipLeadingLf = true;
        }
      }
      start = i + 1;
      const message = this.#processLine(line);
      if (message) messages.push(message);
    }
    this.#buffer = this.#buffer.slice(start);
    return messages;
  }

  #processLine(line: string): SseMessage | undefined {
    if (line === '') return this.#dispatch();
    if (line[0] === ':') {
      this.#comments++;
      return undefined;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#idBuffer = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
      default:
        // Unknown fields are ignored by the spec.
        break;
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    this.#lastEventId = this.#idBuffer;
    const hasData = this.#data.length > 0;
    const message = hasData ? { event: this.#event || 'message', data: this.#data.join('\n'), lastEventId: this.#lastEventId } : undefined;
    this.#data = [];
    this.#event = '';
    return message;
  }
}
