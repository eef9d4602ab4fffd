// stdout and stderr, written with write(2) on the file descriptors. Node's process.stdout
// stream costs ~5 ms to set up (a pipe loads the whole net stack), more than the rest of a
// `get`; and a synchronous write reports a closed pipe at once, where it can be handled.
import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { oneLine } from './user-text.js';

const STDOUT = 1;
const STDERR = 2;
const pause = new Int32Array(new SharedArrayBuffer(4));

function writeAll(fd: number, text: string | Buffer): void {
  let data = typeof text === 'string' ? Buffer.from(text) : text;
  while (data.length > 0) {
    try {
      data = data.subarray(writeSync(fd, data));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A descriptor someone left non-blocking: wait for room instead of dropping output.
      if (code === 'EAGAIN') Atomics.wait(pause, 0, 0, 1);
      else throw error;
    }
  }
}

/** Data. A reader that went away (xaev monitor | head -1) ends xaev quietly with status 0. */
export function writeOut(text: string | Buffer): void {
  try {
    writeAll(STDOUT, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
    throw error;
  }
}

/** Diagnostics. Nothing can be reported about a closed stderr, so such errors are dropped. */
export function writeErr(text: string): void {
  try {
    writeAll(STDERR, text);
  } catch {
    // stderr is gone: there is no one left to tell
  }
}

/**
 * Diagnostic lines: the first prefixed with `xaev: ` (and e.g. FILE:LINE in a batch). Each is
 * made one bounded line, whatever user input reached it.
 */
export function report(lines: string[], prefix = ''): void {
  writeErr(lines.map((line, i) => `${oneLine(i === 0 ? `xaev: ${prefix}${line}` : line)}\n`).join(''));
}

export function stdoutIsTerminal(): boolean {
  return isatty(STDOUT);
}

export function stderrIsTerminal(): boolean {
  return isatty(STDERR);
}
