// Output written byte by byte into one buffer that is flushed when full: `list` writes tens
// of thousands of records, and a string per value (and per record) was most of its garbage.
// Only for ASCII: the digits, punctuation and names xaev itself writes.
//
// The fixed text of a record (JSON keys, labels) is encoded once, as an AsciiPiece, and
// copied with one call: a character loop per key was most of the cost of the first few
// thousand records, which run before V8 optimises the loop. Numbers are written in place
// with integer arithmetic (a floating-point `%` per digit cost ~4x more), two digits per step
// from a table: fewer steps for the interpreter before V8 optimises the loop.

/** Room a record may take at most before the buffer is flushed (an ESN record with a 4096-bit bitmap is under 2 KiB). */
const RECORD_ROOM = 4096;
const ZERO = 0x30;
const LOWER_A = 0x61;
const ASCII_MAX = 0x7f;
const U32_LIMIT = 0x100000000;
const BILLION = 1e9;
const DOT = 0x2e;
/** "00" to "99" as pairs of ASCII digits: numbers are written two digits per step. */
const DIGIT_PAIRS = new Uint8Array(200).map((_, i) => ZERO + (i & 1 ? (i >> 1) % 10 : ((i >> 1) / 10) >>> 0));
/**
 * Pieces up to this length are copied byte by byte, longer ones with one set(): a byte loop is
 * faster once V8 has optimised it, set() much faster before (the first few thousand records).
 */
const SHORT_PIECE = 8;

/** Fixed ASCII text, encoded once (see asciiPiece). */
export type AsciiPiece = Uint8Array;

/** Encode fixed text once, for AsciiOut.piece(). */
export function asciiPiece(text: string): AsciiPiece {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > ASCII_MAX) throw new Error(`internal: asciiPiece(${JSON.stringify(text)}) is not ASCII`);
    bytes[i] = code;
  }
  return bytes;
}

const HEX_PREFIX = asciiPiece('0x');

/** Decimal digits of an integer in [0, 2^32). */
function decimalDigits(n: number): number {
  if (n < 100000) return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : 5;
  return n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
}

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

  /** Fixed text encoded by asciiPiece(). */
  piece(piece: AsciiPiece): this {
    const length = piece.length;
    if (length > SHORT_PIECE) {
      this.buf.set(piece, this.pos);
    } else {
      const buf = this.buf;
      const pos = this.pos;
      for (let i = 0; i < length; i++) buf[pos + i] = piece[i]!;
    }
    this.pos += length;
    return this;
  }

  /** One ASCII character by its code. */
  char(code: number): this {
    this.buf[this.pos++] = code;
    return this;
  }

  /** ASCII text computed per record (an address, a date), as is. */
  text(s: string): this {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
    return this;
  }

  /** A non-negative integer up to 2^53, in decimal. */
  uint(n: number): this {
    // Most counters of most SAs are single digits (0 above all): one store, no digit loop.
    if (n < 10 && n >= 0) {
      this.buf[this.pos++] = ZERO + n;
      return this;
    }
    if (n >= U32_LIMIT) {
      // Above 32 bits: the high part, then the low nine digits zero-padded.
      const high = Math.floor(n / BILLION);
      return this.uint(high).fixedDigits(n - high * BILLION, 9);
    }
    return this.fixedDigits(n, decimalDigits(n));
  }

  /** n < 2^32 in exactly `count` decimal digits (zero-padded on the left), two per step. */
  private fixedDigits(n: number, count: number): this {
    const buf = this.buf;
    let at = this.pos + count;
    this.pos = at;
    for (; count > 1; count -= 2) {
      const rest = (n / 100) >>> 0;
      const pair = (n - rest * 100) << 1;
      buf[--at] = DIGIT_PAIRS[pair + 1]!;
      buf[--at] = DIGIT_PAIRS[pair]!;
      n = rest;
    }
    if (count === 1) buf[--at] = ZERO + n;
    return this;
  }

  /**
   * An IPv4 address from its four bytes in network order: 192.0.2.1. The digits are written
   * here rather than by fixedDigits(): a call per octet slows `list` down until V8 has
   * optimised it (bench/README.md).
   */
  ipv4(bytes: Uint8Array, at: number): this {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 4; i++) {
      if (i > 0) buf[pos++] = DOT;
      const octet = bytes[at + i]!;
      if (octet >= 100) {
        const hundreds = (octet / 100) >>> 0;
        const pair = (octet - hundreds * 100) << 1;
        buf[pos] = ZERO + hundreds;
        buf[pos + 1] = DIGIT_PAIRS[pair]!;
        buf[pos + 2] = DIGIT_PAIRS[pair + 1]!;
        pos += 3;
      } else if (octet >= 10) {
        buf[pos] = DIGIT_PAIRS[octet << 1]!;
        buf[pos + 1] = DIGIT_PAIRS[(octet << 1) + 1]!;
        pos += 2;
      } else {
        buf[pos++] = ZERO + octet;
      }
    }
    this.pos = pos;
    return this;
  }

  /** An unsigned 32-bit value in hex, as 0x1f (hex() in netlink/bytes.ts). */
  hex(n: number): this {
    return this.piece(HEX_PREFIX).hexDigits(n, 1);
  }

  /** An unsigned 32-bit value as 8 hex digits, zero-padded: 0000001f. */
  hex8(n: number): this {
    return this.hexDigits(n, 8);
  }

  private hexDigits(n: number, width: number): this {
    const count = Math.max(width, (35 - Math.clz32(n)) >> 2);
    const buf = this.buf;
    let at = this.pos + count;
    this.pos = at;
    for (let i = 0; i < count; i++) {
      const digit = n & 15;
      buf[--at] = digit < 10 ? ZERO + digit : LOWER_A + digit - 10;
      n >>>= 4;
    }
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
