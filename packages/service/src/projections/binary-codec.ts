/**
 * A minimal length-prefixed binary writer and reader for snapshots. JSON.parse of a million
 * key states takes seconds; reading fixed fields and short strings from one buffer does not.
 * Strings are UTF-8 with a varint (LEB128) length + 1 prefix (0 means null); small numbers
 * (dictionary references, revisions) are varints too, so most take one byte.
 */

export class BinaryWriter {
  #buffer: Buffer;
  #offset = 0;

  constructor(initialBytes = 1 << 16) {
    this.#buffer = Buffer.allocUnsafe(initialBytes);
  }

  #ensure(bytes: number): void {
    if (this.#offset + bytes <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#offset + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buffer.copy(next, 0, 0, this.#offset);
    this.#buffer = next;
  }

  u8(value: number): void {
    this.#ensure(1);
    this.#buffer[this.#offset++] = value;
  }

  u32(value: number): void {
    this.#ensure(4);
    this.#buffer.writeUInt32LE(value, this.#offset);
    this.#offset += 4;
  }

  /** An unsigned integer below 2^32 in 1-5 bytes. */
  varint(value: number): void {
    this.#ensure(5);
    let v = value >>> 0;
    while (v >= 0x80) {
      this.#buffer[this.#offset++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.#buffer[this.#offset++] = v;
  }

  /** A nullable string. */
  str(value: string | null): void {
    if (value === null) return this.varint(0);
    const bytes = Buffer.byteLength(value, 'utf8');
    this.varint(bytes + 1);
    this.#ensure(bytes);
    this.#offset += this.#buffer.write(value, this.#offset, 'utf8');
  }

  /** Exactly `bytes` bytes given as lower-case hex (a SHA-256 digest: 32). */
  hex(value: string, bytes: number): void {
    this.#ensure(bytes);
    const written = this.#buffer.write(value, this.#offset, bytes, 'hex');
    if (written !== bytes) throw new Error(`expected ${bytes} bytes of hex, got ${written}`);
    this.#offset += bytes;
  }

  bytes(value: Uint8Array): void {
    this.u32(value.length);
    this.#ensure(value.length);
    this.#buffer.set(value, this.#offset);
    this.#offset += value.length;
  }

  finish(): Buffer {
    return this.#buffer.subarray(0, this.#offset);
  }
}

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

export class BinaryReader {
  #offset = 0;

  constructor(private readonly buffer: Buffer) {}

  #need(bytes: number): void {
    if (this.#offset + bytes > this.buffer.length) throw new SnapshotFormatError(`snapshot truncated at byte ${this.#offset}`);
  }

  get done(): boolean {
    return this.#offset === this.buffer.length;
  }

  u8(): number {
    this.#need(1);
    return this.buffer[this.#offset++] as number;
  }

  u32(): number {
    this.#need(4);
    const value = this.buffer.readUInt32LE(this.#offset);
    this.#offset += 4;
    return value;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.u8();
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new SnapshotFormatError(`varint too long at byte ${this.#offset}`);
  }

  str(): string | null {
    const length = this.varint();
    if (length === 0) return null;
    this.#need(length - 1);
    const value = this.buffer.toString('utf8', this.#offset, this.#offset + length - 1);
    this.#offset += length - 1;
    return value;
  }

  /** A string that must be present. */
  text(): string {
    const value = this.str();
    if (value === null) throw new SnapshotFormatError(`unexpected null at byte ${this.#offset}`);
    return value;
  }

  hex(bytes: number): string {
    this.#need(bytes);
    const value = this.buffer.toString('hex', this.#offset, this.#offset + bytes);
    this.#offset += bytes;
    return value;
  }

  bytes(): Buffer {
    const length = this.u32();
    this.#need(length);
    const value = this.buffer.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }
}
