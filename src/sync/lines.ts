// Splitting a byte stream into lines with bounded memory: a line longer than the limit is
// dropped as it streams past (never buffered whole) and reported once, when it ends.
import { StringDecoder } from 'node:string_decoder';

export interface LineHandlers {
  onLine(line: string): void;
  /** A line over the limit was skipped; `bytes` is its length as far as it was seen. */
  onOversize(bytes: number): void;
}

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Inside an oversized line: bytes skipped so far. */
  private skipping: number | undefined;

  constructor(
    private readonly maxLineBytes: number,
    private readonly handlers: LineHandlers,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      this.take(chunk.subarray(start, end));
      if (newline === -1) return;
      this.endLine();
      start = newline + 1;
    }
  }

  /** End of stream: a last line without a newline is incomplete and is not delivered. */
  get incompleteBytes(): number {
    return this.skipping ?? this.pendingBytes;
  }

  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = undefined;
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.skipping !== undefined) {
      this.skipping += piece.length;
      return;
    }
    if (this.pendingBytes + piece.length > this.maxLineBytes) {
      this.skipping = this.pendingBytes + piece.length;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    // Copied: the chunk's memory may be reused by the reader.
    this.pending.push(Buffer.from(piece));
    this.pendingBytes += piece.length;
  }

  private endLine(): void {
    if (this.skipping !== undefined) {
      const bytes = this.skipping;
      this.skipping = undefined;
      this.handlers.onOversize(bytes);
      return;
    }
    const line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    // A decoder per line: invalid UTF-8 becomes U+FFFD and fails validation, never throws.
    this.handlers.onLine(new StringDecoder('utf8').end(line));
  }
}
