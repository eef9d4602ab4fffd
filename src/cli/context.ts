import type { ChalkInstance } from 'chalk';
import { enterNetworkNamespace } from '../netlink/socket.js';
import { XfrmClient } from '../xfrm/client.js';
import { matchesFilter, type SaEntry, type SaFilter } from '../xfrm/sa-dump.js';
import { UsageError } from './errors.js';
import { createStyle } from './style.js';
import { report, writeOut } from './output.js';

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
  private enteredNetns: string | undefined;
  /** In a batch, the SA list is dumped once and reused by every line's lookup. */
  private saIndex: SaEntry[] | undefined;
  reuseSaIndex = false;

  /** Called once the global options are parsed, before a command runs. */
  configure(globals: GlobalOptions): void {
    if (this.enteredNetns !== undefined && globals.netns !== this.enteredNetns) {
      throw new UsageError('--netns cannot change once a command has run in this process');
    }
    this.globals = globals;
    this.style = createStyle(globals);
  }

  client(): XfrmClient {
    this.enterNetns();
    this.xfrm ??= XfrmClient.open();
    return this.xfrm;
  }

  /**
   * SAs matching a filter, from a GETSA dump. In a batch the dump is kept for later lines
   * (a dump per line would cost O(SAs) each), and taken again when a lookup finds nothing.
   */
  findSas(filter: SaFilter): SaEntry[] {
    const client = this.client();
    if (!this.reuseSaIndex) return client.listSas(filter);
    const search = (): SaEntry[] => (this.saIndex ?? []).filter((entry) => matchesFilter(entry, filter));
    let found = this.saIndex ? search() : [];
    if (found.length === 0) {
      this.saIndex = client.listSas();
      found = search();
    }
    return found;
  }

  /**
   * Enter --netns once, for sockets and for /proc/sys alike (setns is per thread, permanent).
   * configure() has already refused a different namespace once one was entered.
   */
  enterNetns(): void {
    if (this.globals.netns === undefined || this.enteredNetns === this.globals.netns) return;
    enterNetworkNamespace(this.globals.netns);
    this.enteredNetns = this.globals.netns;
  }

  /** Data goes to stdout. */
  print(text: string): void {
    writeOut(text);
  }

  /** Diagnostics go to stderr. */
  warn(message: string): void {
    report([`warning: ${message}`]);
  }

  note(message: string): void {
    report([message]);
  }

  close(): void {
    this.xfrm?.close();
    this.xfrm = undefined;
  }
}
