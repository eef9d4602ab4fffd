// Output written byte by byte into one buffer that is flushed when full: `list` writes tens
// of thousands of records, and a string per value (and per record) was most of its garbage.
// Only for ASCII: the digits, punctuation and names xaev itself writes.

/** Room a record may take at most before the buffer is flushed (an ESN record with a 4096-bit bitmap is under 2 KiB). */
const RECORD_ROOM = 4096;
const DIGITS = Buffer.allocUnsafe(16);
const ZERO = '0'.charCodeAt(0);
const LOWER_A = 'a'.charCodeAt(0);

export class AsciiOut {
  private readonly buf: Buffer;
  private pos = 0;

  constructor(
    private readonly flush: (bytes: Buffer) => void,
    size = 64 * 1024,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 2 * RECORD_ROOM));
  }

  /** Call before each record: flushes first if a whole record might not fit. */
  startRecord(): void {
    if (this.pos + RECORD_ROOM > this.buf.length) this.flushNow();
  }

  /** ASCII text, as is. */
  text(s: string): this {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
    return this;
  }

  /** A non-negative integer up to 2^53, in decimal. */
  uint(n: number): this {
    let length = 0;
    do {
      const digit = n % 10;
      DIGITS[length++] = ZERO + digit;
      n = (n - digit) / 10;
    } while (n > 0);
    const buf = this.buf;
    let pos = this.pos;
    while (length > 0) buf[pos++] = DIGITS[--length]!;
    this.pos = pos;
    return this;
  }

  /** An unsigned 32-bit value in hex, as 0x1f (hex() in netlink/bytes.ts). */
  hex(n: number): this {
    return this.text('0x').hexDigits(n, 1);
  }

  /** An unsigned 32-bit value as 8 hex digits, zero-padded: 0000001f. */
  hex8(n: number): this {
    return this.hexDigits(n, 8);
  }

  private hexDigits(n: number, width: number): this {
    let length = 0;
    do {
      const digit = n & 15;
      DIGITS[length++] = digit < 10 ? ZERO + digit : LOWER_A + digit - 10;
      n >>>= 4;
    } while (n > 0 || length < width);
    const buf = this.buf;
    let pos = this.pos;
    while (length > 0) buf[pos++] = DIGITS[--length]!;
    this.pos = pos;
    return this;
  }

  /** An exact u64 (a number up to 2^53, a bigint above). */
  u64(value: number | bigint): this {
    return typeof value === 'number' ? this.uint(value) : this.text(value.toString());
  }

  /** Write out what is buffered. */
  flushNow(): void {
    if (this.pos > 0) this.flush(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }
}
