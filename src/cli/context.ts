import type { ChalkInstance } from 'chalk';
import { XfrmClient } from '../xfrm/client.js';
import { UsageError } from './errors.js';
import { createStyle } from './style.js';

export interface GlobalOptions {
  netns?: string | undefined;
  json: boolean;
  color: boolean;
}

/**
 * What every command shares: global options, output streams, and one XFRM socket opened on
 * first use (so `batch` runs all its lines on one socket, in one namespace).
 */
export class CliContext {
  globals: GlobalOptions = { json: false, color: true };
  style: ChalkInstance = createStyle(this.globals);
  private xfrm: XfrmClient | undefined;

  /** Called once the global options are parsed, before a command runs. */
  configure(globals: GlobalOptions): void {
    if (this.xfrm && globals.netns !== this.globals.netns) {
      throw new UsageError('--netns cannot change once a command has run in this process');
    }
    this.globals = globals;
    this.style = createStyle(globals);
  }

  client(): XfrmClient {
    this.xfrm ??= XfrmClient.open({ netns: this.globals.netns });
    return this.xfrm;
  }

  /** Data goes to stdout. */
  print(text: string): void {
    process.stdout.write(text);
  }

  /** Diagnostics go to stderr. */
  warn(message: string): void {
    process.stderr.write(`xaev: warning: ${message}\n`);
  }

  note(message: string): void {
    process.stderr.write(`xaev: ${message}\n`);
  }

  close(): void {
    this.xfrm?.close();
    this.xfrm = undefined;
  }
}
