// stdout for commands that stream without end (monitor). Unlike writeOut()'s write(2), a
// write here never blocks the event loop, so SIGINT and SIGTERM are handled even while the
// reader has stopped reading; and the text waiting for the reader is bounded: past
// HIGH_WATER_BYTES the producer is told to pause (and the kernel then counts what it drops).
import { CliError, systemErrorCause } from './errors.js';

/** Output waiting for a slow reader before the producer pauses. */
const HIGH_WATER_BYTES = 1 << 20;

export class StreamOutput {
  /** The write error that ended output, if one did. */
  failure: CliError | undefined;
  private readonly drainWaiters: (() => void)[] = [];

  /**
   * `onFailure` hears a write error other than a reader that went away: one line for the user
   * (the caller ends with status 1). A closed pipe (xaev monitor | head -1) ends xaev at once
   * with status 0, as writeOut() does.
   */
  private readonly onError = (error: NodeJS.ErrnoException): void => this.fail(error);
  private readonly onDrain = (): void => this.wakeDrainWaiters();

  constructor(private readonly onFailure: (error: CliError) => void) {
    process.stdout.on('error', this.onError);
    process.stdout.on('drain', this.onDrain);
  }

  /**
   * Stop listening to stdout (a batch may run many monitors in one process); while text is
   * still pending, a late write error must still find its handler.
   */
  dispose(): void {
    process.stdout.off('drain', this.onDrain);
    if (process.stdout.writableLength === 0) process.stdout.off('error', this.onError);
  }

  /** Queue text; false when the reader is behind and the producer should pause until drained(). */
  write(text: string): boolean {
    if (this.failure) return false;
    process.stdout.write(text);
    return process.stdout.writableLength < HIGH_WATER_BYTES;
  }

  /** Text written but not yet taken by the reader. */
  get pendingBytes(): number {
    return process.stdout.writableLength;
  }

  /** Resolves once the reader has taken everything (at once when nothing is pending). */
  drained(): Promise<void> {
    if (this.failure || process.stdout.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeDrainWaiters(): void {
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private fail(error: NodeJS.ErrnoException): void {
    if (this.failure) return;
    if (error.code === 'EPIPE') process.exit(0);
    this.failure = new CliError(`cannot write to stdout: ${systemErrorCause(error)}`);
    this.onFailure(this.failure);
    this.wakeDrainWaiters();
  }
}

/**
 * End the process now with `status`, abandoning output the reader has not taken: a pending
 * pipe write would otherwise keep Node alive until someone reads it.
 */
export function exitAbandoningOutput(status: number): void {
  if (process.stdout.writableLength > 0) process.exit(status);
}
