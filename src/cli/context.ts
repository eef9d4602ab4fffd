import { closeSync, openSync } from 'node:fs';
import type { ChalkInstance } from 'chalk';
import { enterNetworkNamespace, enterNetworkNamespaceFile } from '../netlink/socket.js';
import { XfrmClient } from '../xfrm/client.js';
import { matchesFilter, type SaEntry, type SaFilter } from '../xfrm/sa-dump.js';
import { UsageError } from './errors.js';
import { createStyle } from './style.js';
import { report, writeOut } from './output.js';
import { shown } from './user-text.js';

export interface GlobalOptions {
  netns?: string | undefined;
  json: boolean;
  color: boolean;
}

/** The namespace a process starts in, as `globals.netns` names it: none. */
const ORIGINAL = '';

/**
 * What every command shares: global options, output streams, and one XFRM socket per network
 * namespace, opened on first use. A batch's lines each run in their own namespace: the
 * thread moves into it (setns) before the line opens a socket or reads a per-namespace
 * /proc/sys file, and a socket keeps the namespace it was opened in.
 */
export class CliContext {
  globals: GlobalOptions = { json: false, color: true };
  style: ChalkInstance = createStyle(this.globals);
  private readonly clients = new Map<string, XfrmClient>();
  /** In a batch, each namespace's SA list is dumped once and reused by every line's lookup. */
  private readonly saIndexes = new Map<string, SaEntry[]>();
  reuseSaIndex = false;
  /** The namespace this thread is in ('' for the one it started in). */
  private currentNetns = ORIGINAL;
  /** The starting namespace, held open to come back to once another was entered. */
  private originalNetnsFd: number | undefined;

  /** Called once the global options are parsed, before a command runs. */
  configure(globals: GlobalOptions): void {
    if (globals.netns !== undefined) checkNetnsName(globals.netns);
    this.globals = globals;
    this.style = createStyle(globals);
  }

  client(): XfrmClient {
    this.enterNetns();
    let client = this.clients.get(this.currentNetns);
    if (!client) {
      client = XfrmClient.open();
      this.clients.set(this.currentNetns, client);
    }
    return client;
  }

  /**
   * SAs matching a filter, from a GETSA dump. In a batch the dump is kept for later lines
   * (a dump per line would cost O(SAs) each), and taken again when a lookup finds nothing.
   */
  findSas(filter: SaFilter): SaEntry[] {
    const client = this.client();
    if (!this.reuseSaIndex) return client.listSas(filter);
    const index = this.saIndexes.get(this.currentNetns);
    const search = (entries: SaEntry[]): SaEntry[] => entries.filter((entry) => matchesFilter(entry, filter));
    const found = index ? search(index) : [];
    if (found.length > 0) return found;
    const fresh = client.listSas();
    this.saIndexes.set(this.currentNetns, fresh);
    return search(fresh);
  }

  /**
   * Move this thread into the namespace --netns names (or back to the starting one), for
   * sockets and /proc/sys alike. setns moves only the calling thread, the one that runs
   * every command; the starting namespace stays reachable through an open descriptor.
   */
  enterNetns(): void {
    const wanted = this.globals.netns ?? ORIGINAL;
    if (wanted === this.currentNetns) return;
    this.originalNetnsFd ??= openSync('/proc/thread-self/ns/net', 'r');
    if (wanted === ORIGINAL) enterNetworkNamespaceFile(`/proc/self/fd/${this.originalNetnsFd}`);
    else enterNetworkNamespace(wanted);
    this.currentNetns = wanted;
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
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    if (this.originalNetnsFd !== undefined) closeSync(this.originalNetnsFd);
    this.originalNetnsFd = undefined;
  }
}

/** A name `ip netns` could have made: one path component under /run/netns. */
function checkNetnsName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || Buffer.byteLength(name) > 255) {
    throw new UsageError(`--netns: ${shown(name)} is not a namespace name (a file name in /run/netns, see ip netns list)`);
  }
}
