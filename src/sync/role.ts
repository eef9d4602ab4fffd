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
import type { ReplicaInstaller } from './installer.js';
import type { SyncStore, TrackedPolicy } from './store.js';
import type { ReceiveStrategy } from './strategy.js';
import { policyDirection } from './stream-replica.js';

export type Role = 'standby' | 'active';

/** One replicated policy at takeover (or in status). */
export interface PolicyReport {
  name: string;
  state: TrackedPolicy['state'];
  notes: string[];
}

/**
 * takeover()'s verdict: complete only when every synced SA is applied or already current and,
 * with replication, every replicated policy is here (installed, or a local one of the same name).
 */
export interface TakeoverResult {
  reports: SaReport[];
  policies: PolicyReport[];
  ok: boolean;
  reason: string | undefined;
}

/** A policy that covers traffic here: ours, or a local one of the same name. */
const COVERED: ReadonlySet<TrackedPolicy['state']> = new Set(['installed', 'present', 'conflict']);

export class RoleMachine {
  role: Role = 'standby';
  takeovers = 0;

  constructor(
    private readonly store: SyncStore,
    private readonly applier: SaApplier,
    private readonly strategy: ReceiveStrategy,
    private readonly maxSas: number,
    private readonly replicas: ReplicaInstaller | undefined,
  ) {}

  /** The peer's state or the local SAs changed: a standby's strategy reacts, an active node holds. */
  changed(): void {
    if (this.role === 'standby') this.strategy.changed();
  }

  /**
   * notify_master: install what is still pending, apply everything with the final margin, and
   * stop following the peer. An outbound policy the peer has and this node lacks is named:
   * the traffic it covers would leave this node unencrypted.
   */
  takeover(): TakeoverResult {
    this.takeovers++;
    this.role = 'active';
    this.strategy.cancel();
    if (this.store.totals.snapshots === 0) {
      return { reports: [], policies: [], ok: false, reason: 'no snapshot was ever received from the peer: nothing to take over' };
    }
    // What is still pending is installed now; a failure to is reported, and counters apply regardless.
    let installFailure: string | undefined;
    try {
      if (this.replicas?.pending) this.replicas.run();
    } catch (error) {
      installFailure = `installing replicated SAs and policies failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    const reports = this.applier.apply(TAKE_OVER);
    const policies = [...this.store.policies.values()].map((p): PolicyReport => ({ name: p.synced.name, state: p.state, notes: p.notes }));
    const untracked = this.store.untracked;
    if (untracked > 0) {
      return { reports, policies, ok: false, reason: `the peer has more SAs or policies than --max-sas ${this.maxSas}: ${untracked} records since its last snapshot were not tracked (raise --max-sas)` };
    }
    const reasons: string[] = installFailure ? [installFailure] : [];
    const uncovered = [...this.store.policies.values()].filter((p) => !COVERED.has(p.state));
    const outbound = uncovered.filter((p) => policyDirection(p.synced.policy.dir) === 'out');
    if (outbound.length > 0) {
      reasons.push(`outbound policies missing, so the traffic they cover would leave this node unencrypted: ${outbound.map((p) => p.synced.name).join('; ')}`);
    }
    if (uncovered.length > outbound.length) reasons.push(`${uncovered.length - outbound.length} other replicated policies are not installed`);
    if (!reports.every((r) => r.state === 'applied' || r.state === 'current')) reasons.push('not every synced SA was applied');
    return { reports, policies, ok: reasons.length === 0, reason: reasons.length === 0 ? undefined : reasons.join('; ') };
  }

  /** notify_backup: follow the peer again, from all of its state. */
  release(): void {
    this.role = 'standby';
    this.store.markDirty();
    this.changed();
  }
}
