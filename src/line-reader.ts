// Lines of a byte stream as they arrive, with bounded memory: a command file, stdin fed by
// another program, or the sync stream. Each line is handed over as soon as its newline is
// read, so a producer that writes a line every few seconds gets each one acted on at once; a
// line longer than the limit is never buffered whole (`/dev/zero` has no newline at all).
// LineSplitter is the one splitter; readLines() is its form for `for await` readers.

/** A command-file line (`batch`) above this many bytes is refused: no command is anywhere near it. */
export const MAX_COMMAND_LINE_BYTES = 64 * 1024;

const NEWLINE = 0x0a;

export interface LineHandlers {
  /** A complete line, without its newline; invalid UTF-8 becomes U+FFFD. */
  onLine(line: string): void;
  /** A line over the limit was skipped; `bytes` is its length as far as it was seen. */
  onOversize(bytes: number): void;
}

/**
 * Splits pushed chunks into lines. Memory stays within the limit: a line that passes it is
 * dropped as it streams past and reported once, when it ends.
 */
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
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      this.take(chunk.subarray(start, end));
      if (newline === -1) return;
      this.endLine();
      start = newline + 1;
    }
  }

  /** Bytes of a line not ended yet: at the end of the stream, a last line without a newline. */
  get incompleteBytes(): number {
    return this.skipping ?? this.pendingBytes;
  }

  /** The line being read is already over the limit (it will be reported when it ends). */
  get overLimit(): boolean {
    return this.skipping !== undefined;
  }

  /** End of stream for readers where a last line without a newline counts: deliver it. */
  flush(): void {
    if (this.incompleteBytes > 0) this.endLine();
  }

  /** Forget a partial line (a new connection starts a new stream). */
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
    // Copied: the chunk's memory may be reused by the reader, and a short tail must not keep
    // a whole chunk alive.
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
    this.handlers.onLine(line.toString('utf8'));
  }
}

/** A line exceeded the limit; `lineNumber` counts from 1. */
export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
  readonly lineNumber: number;
  constructor(lineNumber: number, maxBytes: number) {
    super(`line ${lineNumber} is longer than ${maxBytes} bytes`);
    this.lineNumber = lineNumber;
  }
}

export interface Line {
  /** 1 for the first line. */
  number: number;
  /** Without its newline; invalid UTF-8 becomes U+FFFD. */
  text: string;
}

/**
 * The lines of `source`, one by one as each completes; the last line may lack its newline. A
 * line over `maxBytes` is a LineTooLongError as soon as it passes the limit, after the lines
 * before it. Memory stays within `maxBytes` plus one chunk of the source.
 */
export async function* readLines(source: AsyncIterable<Buffer | string>, maxBytes = MAX_COMMAND_LINE_BYTES): AsyncGenerator<Line> {
  let number = 0;
  /** Lines split so far, in order; undefined stands for a line over the limit. */
  let ready: (string | undefined)[] = [];
  const splitter = new LineSplitter(maxBytes, {
    onLine: (text) => ready.push(text),
    onOversize: () => ready.push(undefined),
  });
  function* delivered(): Generator<Line> {
    const lines = ready;
    ready = [];
    for (const text of lines) {
      if (text === undefined) throw new LineTooLongError(number + 1, maxBytes);
      yield { number: ++number, text };
    }
    if (splitter.overLimit) throw new LineTooLongError(number + 1, maxBytes);
  }
  for await (const piece of source) {
    splitter.push(typeof piece === 'string' ? Buffer.from(piece) : piece);
    yield* delivered();
  }
  splitter.flush();
  yield* delivered();
}
