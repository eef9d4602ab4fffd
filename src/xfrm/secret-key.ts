// Key bytes of an SA's algorithms. They are secrets: each lives in a buffer of its own (never
// a slice of Node's shared pool, so wipe() zeroes the only copy this object made) and never
// shows in text: String(), JSON.stringify() and util.inspect() of a key, or of any value that
// holds one, give `<redacted N bytes>`. Code that must send or print the bytes asks for them
// by name (bytes, hex()), which is easy to find in review.
import { inspect } from 'node:util';

export class SecretKey {
  #bytes: Buffer;
  #wiped = false;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** A key holding a copy of `source[start, end)`; the source is left as it is. */
  static copyOf(source: Uint8Array, start = 0, end = source.length): SecretKey {
    const bytes = Buffer.alloc(end - start);
    bytes.set(source.subarray(start, end));
    return new SecretKey(bytes);
  }

  /**
   * A key from hex text (checked by the caller: even length, hex digits), decoded straight
   * into its own buffer: Buffer.from(text, 'hex') would leave a copy in Node's shared pool.
   */
  static fromHex(text: string): SecretKey {
    const bytes = Buffer.alloc(text.length >>> 1);
    bytes.write(text, 'hex');
    return new SecretKey(bytes);
  }

  /** An empty key (null algorithms, compression). */
  static empty(): SecretKey {
    return new SecretKey(Buffer.alloc(0));
  }

  get length(): number {
    return this.#bytes.length;
  }

  /** The key bytes themselves, for an encoder that writes them into a request. */
  get bytes(): Buffer {
    return this.#bytes;
  }

  /** Whether wipe() was called (the bytes are then all zero). */
  get wiped(): boolean {
    return this.#wiped;
  }

  /**
   * Every byte is zero: what the kernel sends for a key it redacts under lockdown
   * (docs/kernel/sa-messages.md; net/xfrm/xfrm_user.c: xfrm_redact()). False for an empty key.
   */
  isAllZero(): boolean {
    if (this.#bytes.length === 0) return false;
    for (const byte of this.#bytes) if (byte !== 0) return false;
    return true;
  }

  equals(other: SecretKey): boolean {
    return this.#bytes.equals(other.#bytes);
  }

  /** The key in lower-case hex, as `ip xfrm state` prints it: only for output that must show keys. */
  hex(): string {
    return this.#bytes.toString('hex');
  }

  /** Overwrite the bytes with zeros. The length stays (for messages that name it). */
  wipe(): void {
    this.#bytes.fill(0);
    this.#wiped = true;
  }

  toString(): string {
    return `<redacted ${this.#bytes.length} bytes>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
