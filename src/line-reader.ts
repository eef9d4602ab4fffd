// Lines of a stream as they arrive, with bounded memory: a command file, stdin fed by another
// program, or a stream of records. Each line is handed over as soon as its newline is read,
// so a producer that writes a line every few seconds gets each one acted on at once; a line
// longer than the limit is an error rather than a buffer that grows with the input
// (`/dev/zero` has no newline at all).

/** A command-file line (`batch`) above this many bytes is refused: no command is anywhere near it. */
export const MAX_COMMAND_LINE_BYTES = 64 * 1024;

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

const NEWLINE = 0x0a;

/**
 * The lines of `source`, one by one as each completes; the last line may lack its newline.
 * Memory stays within `maxBytes` plus one chunk of the source.
 */
export async function* readLines(source: AsyncIterable<Buffer | string>, maxBytes = MAX_COMMAND_LINE_BYTES): AsyncGenerator<Line> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let number = 0;
  for await (const piece of source) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end >= 0; end = chunk.indexOf(NEWLINE, start)) {
      number++;
      if (pendingBytes + end - start > maxBytes) throw new LineTooLongError(number, maxBytes);
      const bytes = pending.length === 0 ? chunk.subarray(start, end) : Buffer.concat([...pending, chunk.subarray(start, end)]);
      pending = [];
      pendingBytes = 0;
      start = end + 1;
      yield { number, text: bytes.toString('utf8') };
    }
    if (start < chunk.length) {
      pendingBytes += chunk.length - start;
      if (pendingBytes > maxBytes) throw new LineTooLongError(number + 1, maxBytes);
      // A copy when the chunk held a newline, so a short tail does not keep the whole chunk alive.
      pending.push(start === 0 ? chunk : Buffer.from(chunk.subarray(start)));
    }
  }
  if (pendingBytes > 0) yield { number: number + 1, text: Buffer.concat(pending).toString('utf8') };
}
