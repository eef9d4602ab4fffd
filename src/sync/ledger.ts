// What `sync receive --install` installed on this node, and this node's role, kept in a file
// under /run/xaev beside the control socket (docs/sync.md "Replicating SAs and policies"):
//
// * a restarted receiver knows which SAs and policies are its own, so it neither installs
//   them twice nor leaves them behind (what the peer's next snapshot lacks is removed), and
//   never touches what the IKE daemon or an operator made;
// * this node's `sync send` reads it to leave out what its own receiver installed while the
//   node is the standby (the SA-level twin of echo.ts), and to send it once the node took over.
//
// Names only, never a key. A name is written before its SA or policy is installed and removed
// after it is deleted, so a receiver killed in between leaves at worst a name whose SA is not
// there, which the next start drops, and never an SA it does not know it made.
//
// The file is a journal, so that what a flush costs follows what changed, not what the ledger
// holds: an install pass runs for every chunk of the stream, and rewriting 20,000 names each
// time made a snapshot of N SAs cost N^2 (bench/README.md, replication at scale). Its first line
// is the whole ledger as of its last rewrite (LedgerFile); each later line, appended by one
// write per flush, one change (LedgerChange). It is rewritten (temporary file, then rename)
// when the changes outnumber the names, which keeps it within twice the size of the ledger,
// and by each new receiver. A last line without its newline is a write cut short: its change
// never happened (the install it announced comes after the flush), so readers drop it.

import { closeSync, constants, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Role } from './role.js';

/** The ledger's file for a control socket path: `.../sync-net<inode>.sock` → `.../sync-net<inode>.installed.json`. */
export function ledgerPathFor(controlPath: string): string {
  return controlPath.replace(/\.sock$/, '') + '.installed.json';
}

interface LedgerFile {
  version: 1;
  role: Role;
  sas: string[];
  policies: string[];
}

/** One change after the first line: a name added or removed, or the role. */
type LedgerChange = ['add' | 'remove', 'sa' | 'policy', string] | ['role', Role];

/** The ledger's content as another process reads it; undefined when there is none or it cannot be read. */
export interface LedgerView {
  role: Role;
  sas: ReadonlySet<string>;
  policies: ReadonlySet<string>;
}

const isRole = (value: unknown): value is Role => value === 'standby' || value === 'active';

/**
 * A ledger file written by a receiver; a malformed first line reads as no ledger (nothing is
 * then withheld), a malformed change line is skipped, and a last line without its newline is
 * dropped (module comment).
 */
export function readLedger(path: string): LedgerView | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a line cut short
  let parsed: unknown;
  try {
    parsed = JSON.parse(lines[0] ?? '');
  } catch {
    return undefined;
  }
  const file = parsed as Partial<LedgerFile> | null;
  if (!file || file.version !== 1 || !isRole(file.role)) return undefined;
  const names = (value: unknown): Set<string> => new Set(Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  const view = { role: file.role, sas: names(file.sas), policies: names(file.policies) };
  for (const line of lines.slice(1)) {
    let change: unknown;
    try {
      change = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(change)) continue;
    const [op, kind, name] = change as unknown[];
    if (op === 'role' && isRole(kind)) view.role = kind;
    else if ((op === 'add' || op === 'remove') && (kind === 'sa' || kind === 'policy') && typeof name === 'string') {
      const set = kind === 'sa' ? view.sas : view.policies;
      if (op === 'add') set.add(name);
      else set.delete(name);
    }
  }
  return view;
}

/** The file's modification time in ms, 0 when there is none: cheap enough to poll every second. */
export function ledgerChangedAt(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** The journal is rewritten once it holds more changes than this and than the ledger has names. */
const MIN_CHANGES_BEFORE_REWRITE = 1024;

export class Ledger {
  readonly sas = new Set<string>();
  readonly policies = new Set<string>();
  role: Role = 'standby';
  /** Changes not written yet, one journal line each. */
  private changes: string[] = [];
  /** Change lines in the file after its first line. */
  private written = 0;
  /** The next flush rewrites the whole file: nothing written by this receiver yet, or an append failed. */
  private rewrite = true;
  private dirty = false;

  /** `path` undefined: kept in memory only (a receiver without --install, or a test). */
  constructor(private readonly path: string | undefined) {}

  /** What a previous receiver in this namespace installed; its role is not inherited (a new receiver starts as a standby). */
  load(): void {
    if (!this.path) return;
    const previous = readLedger(this.path);
    if (!previous) return;
    for (const name of previous.sas) this.sas.add(name);
    for (const name of previous.policies) this.policies.add(name);
    this.dirty = true;
  }

  addSa(name: string): void {
    if (this.sas.has(name)) return;
    this.sas.add(name);
    this.note(['add', 'sa', name]);
  }

  removeSa(name: string): void {
    if (this.sas.delete(name)) this.note(['remove', 'sa', name]);
  }

  addPolicy(name: string): void {
    if (this.policies.has(name)) return;
    this.policies.add(name);
    this.note(['add', 'policy', name]);
  }

  removePolicy(name: string): void {
    if (this.policies.delete(name)) this.note(['remove', 'policy', name]);
  }

  setRole(role: Role): void {
    if (this.role === role) return;
    this.role = role;
    this.note(['role', role]);
  }

  private note(change: LedgerChange): void {
    this.dirty = true;
    // In memory only, or rewritten whole anyway: no line to keep.
    if (this.path && !this.rewrite) this.changes.push(`${JSON.stringify(change)}\n`);
  }

  /**
   * Write what changed: appended in one write, or the whole ledger (temporary file, then
   * rename) when the journal would outgrow it. Either way a reader never sees half a change.
   */
  flush(): void {
    if (!this.dirty || !this.path) return;
    if (!this.rewrite && this.written + this.changes.length <= Math.max(MIN_CHANGES_BEFORE_REWRITE, this.sas.size + this.policies.size) && this.append(this.changes.join(''))) {
      this.written += this.changes.length;
      this.changes = [];
      this.dirty = false;
      return;
    }
    const file: LedgerFile = { version: 1, role: this.role, sas: [...this.sas], policies: [...this.policies] };
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(file)}\n`, { mode: 0o600 });
    renameSync(temporary, this.path);
    this.changes = [];
    this.written = 0;
    this.rewrite = false;
    this.dirty = false;
  }

  /** Append to the file if it is still there (someone may have removed it: then it is rewritten). */
  private append(text: string): boolean {
    let fd: number;
    try {
      fd = openSync(this.path!, constants.O_WRONLY | constants.O_APPEND);
    } catch {
      return false;
    }
    try {
      const bytes = Buffer.from(text);
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    } catch (error) {
      // A line may be cut short: the next flush rewrites the file (the changes are in memory).
      this.rewrite = true;
      throw error;
    } finally {
      closeSync(fd);
    }
    return true;
  }
}
