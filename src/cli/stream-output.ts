// stdout for commands that stream without end (monitor, sync send). Unlike writeOut()'s
// write(2), a write here never blocks the event loop, so SIGINT and SIGTERM are handled even
// while the reader has stopped reading; and the text waiting for the reader is bounded: past
// HIGH_WATER_BYTES the producer is told to pause (and the kernel then counts what it drops).
//
// What a signal abandons is whole units (an event, a record line), never part of one: text
// goes to stdout one piece at a time, each piece whole units of at most PIPE_BUF bytes, and
// the next only once the last was taken. A pipe takes a write of at most PIPE_BUF bytes whole
// or not at all, even non-blocking (fs/pipe.c: pipe_write(); pipe(7)), so what the reader
// gets ends at a unit's end however full the pipe was when the process exited.
import { CliError, systemErrorCause } from './errors.js';

/** Output waiting for a slow reader before the producer pauses. */
const HIGH_WATER_BYTES = 1 << 20;
/** include/uapi/linux/limits.h: the largest write a pipe takes atomically. */
const PIPE_BUF = 4096;

export class StreamOutput {
  /** The write error that ended output, if one did. */
  failure: CliError | undefined;
  private readonly drainWaiters: (() => void)[] = [];
  /** Whole units not yet handed to stdout, and their size in bytes. */
  private readonly queue: string[] = [];
  private queuedBytes = 0;

  /**
   * `onFailure` hears a write error other than a reader that went away: one line for the user
   * (the caller ends with status 1). A closed pipe (xaev monitor | head -1) ends xaev at once
   * with status 0, as writeOut() does.
   */
  private readonly onError = (error: NodeJS.ErrnoException): void => this.fail(error);
  private readonly onWritten = (error?: Error | null): void => {
    // A failed write is reported by the 'error' event (onError).
    if (!error) this.pump();
  };

  constructor(private readonly onFailure: (error: CliError) => void) {
    process.stdout.on('error', this.onError);
  }

  /**
   * Stop listening to stdout (a batch may run many monitors in one process); while text is
   * still pending, a late write error must still find its handler.
   */
  dispose(): void {
    if (process.stdout.writableLength === 0) process.stdout.off('error', this.onError);
  }

  /**
   * Queue whole units: each element of an array is one (an event's text), a string is units of
   * one line each. False when the reader is behind and the producer should pause until drained().
   */
  write(units: string | readonly string[]): boolean {
    if (this.failure) return false;
    if (typeof units === 'string') this.enqueueLines(units);
    else for (const unit of units) this.enqueue(unit);
    this.pump();
    return this.pendingBytes < HIGH_WATER_BYTES;
  }

  /** Text written but not yet taken by the reader. */
  get pendingBytes(): number {
    return this.queuedBytes + process.stdout.writableLength;
  }

  /** Resolves once the reader has taken everything (at once when nothing is pending). */
  drained(): Promise<void> {
    if (this.failure || this.pendingBytes === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private enqueue(unit: string): void {
    if (unit.length === 0) return;
    this.queue.push(unit);
    this.queuedBytes += Buffer.byteLength(unit);
  }

  /** A long text of lines (a snapshot of records) as units that a piece can end after. */
  private enqueueLines(text: string): void {
    if (Buffer.byteLength(text) <= PIPE_BUF) return this.enqueue(text);
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      this.enqueue(text.slice(start, end + 1));
      start = end + 1;
    }
    this.enqueue(text.slice(start));
  }

  /**
   * Hand stdout the next piece once it has taken the last: whole units of at most PIPE_BUF
   * bytes together (a longer unit alone). A piece the pipe takes at once lets the loop go on;
   * one it cannot take waits in stdout whole, and its callback resumes the loop.
   */
  private pump(): void {
    while (!this.failure && this.queue.length > 0 && process.stdout.writableLength === 0) {
      let piece = this.queue.shift()!;
      let bytes = Buffer.byteLength(piece);
      while (this.queue.length > 0) {
        const next = Buffer.byteLength(this.queue[0]!);
        if (bytes + next > PIPE_BUF) break;
        piece += this.queue.shift()!;
        bytes += next;
      }
      this.queuedBytes -= bytes;
      process.stdout.write(piece, this.onWritten);
    }
    if (this.pendingBytes === 0 || this.failure) this.wakeDrainWaiters();
  }

  private wakeDrainWaiters(): void {
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private fail(error: NodeJS.ErrnoException): void {
    if (this.failure) return;
    if (error.code === 'EPIPE') process.exit(0);
    this.failure = new CliError(`cannot write to stdout: ${systemErrorCause(error)}`);
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.onFailure(this.failure);
    this.wakeDrainWaiters();
  }
}

/**
 * End the process now with `status`, abandoning output the reader has not taken: a pending
 * pipe write would otherwise keep Node alive until someone reads it. (A StreamOutput holds
 * queued units only while stdout has a write pending.)
 */
export function exitAbandoningOutput(status: number): void {
  if (process.stdout.writableLength > 0) process.exit(status);
}
