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
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
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

/** The ledger's content as another process reads it; undefined when there is none or it cannot be read. */
export interface LedgerView {
  role: Role;
  sas: ReadonlySet<string>;
  policies: ReadonlySet<string>;
}

/** A ledger file written by a receiver; anything malformed reads as no ledger (nothing is then withheld). */
export function readLedger(path: string): LedgerView | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const file = parsed as Partial<LedgerFile> | null;
  if (!file || file.version !== 1 || (file.role !== 'standby' && file.role !== 'active')) return undefined;
  const names = (value: unknown): Set<string> => new Set(Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  return { role: file.role, sas: names(file.sas), policies: names(file.policies) };
}

/** The file's modification time in ms, 0 when there is none: cheap enough to poll every second. */
export function ledgerChangedAt(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export class Ledger {
  readonly sas = new Set<string>();
  readonly policies = new Set<string>();
  role: Role = 'standby';
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
    this.add(this.sas, name);
  }

  removeSa(name: string): void {
    if (this.sas.delete(name)) this.dirty = true;
  }

  addPolicy(name: string): void {
    this.add(this.policies, name);
  }

  removePolicy(name: string): void {
    if (this.policies.delete(name)) this.dirty = true;
  }

  setRole(role: Role): void {
    if (this.role === role) return;
    this.role = role;
    this.dirty = true;
  }

  private add(names: Set<string>, name: string): void {
    if (names.has(name)) return;
    names.add(name);
    this.dirty = true;
  }

  /** Write what changed, atomically (temporary file, then rename): a reader never sees half a file. */
  flush(): void {
    if (!this.dirty || !this.path) return;
    const file: LedgerFile = { version: 1, role: this.role, sas: [...this.sas], policies: [...this.policies] };
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(file)}\n`, { mode: 0o600 });
    renameSync(temporary, this.path);
    this.dirty = false;
  }
}
