// The receiver's role, a two-state machine driven by keepalived's notify scripts through the
// control socket (docs/sync.md, "xaev sync takeover"):
//
//   standby --takeover--> active --release--> standby
//
// A standby follows the peer: its strategy (strategy.ts) applies or rehearses what arrives.
// Takeover applies everything once with the final margin and stops following, so a returning
// old active cannot move this node's counters; the peer's records are still kept. Release
// makes the node a standby again and brings every SA up to the peer's state.
import { TAKE_OVER, type SaApplier, type SaReport } from './apply.js';
import type { SyncStore } from './store.js';
import type { ReceiveStrategy } from './strategy.js';

export type Role = 'standby' | 'active';

/** takeover()'s verdict: complete only when every synced SA is applied or already current. */
export interface TakeoverResult {
  reports: SaReport[];
  ok: boolean;
  reason: string | undefined;
}

export class RoleMachine {
  role: Role = 'standby';
  takeovers = 0;

  constructor(
    private readonly store: SyncStore,
    private readonly applier: SaApplier,
    private readonly strategy: ReceiveStrategy,
    private readonly maxSas: number,
  ) {}

  /** The peer's state or the local SAs changed: a standby's strategy reacts, an active node holds. */
  changed(): void {
    if (this.role === 'standby') this.strategy.changed();
  }

  /** notify_master: apply everything with the final margin and stop following the peer. */
  takeover(): TakeoverResult {
    this.takeovers++;
    this.role = 'active';
    this.strategy.cancel();
    if (this.store.totals.snapshots === 0) {
      return { reports: [], ok: false, reason: 'no snapshot was ever received from the peer: nothing to take over' };
    }
    const reports = this.applier.apply(TAKE_OVER);
    const untracked = this.store.untracked;
    if (untracked > 0) {
      return { reports, ok: false, reason: `the peer has more SAs than --max-sas ${this.maxSas}: ${untracked} SA records since its last snapshot were not tracked (raise --max-sas)` };
    }
    const ok = reports.every((r) => r.state === 'applied' || r.state === 'current');
    return { reports, ok, reason: ok ? undefined : 'not every synced SA was applied' };
  }

  /** notify_backup: follow the peer again, from all of its state. */
  release(): void {
    this.role = 'standby';
    this.store.markDirty();
    this.changed();
  }
}
