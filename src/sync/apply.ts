// Applying the peer's synced state to this node's SAs (docs/sync.md "Applying"): read the
// local states (local-table.ts), plan each SA (plan.ts, with the margin of margin.ts), write
// the plans in one pipelined NEWAE batch stamped as the receiver's (echo.ts), and record per
// SA what came of it, for status and takeover. Which SAs and when is the caller's choice
// (strategy.ts, role.ts).
import { NetlinkError } from '../netlink/errors.js';
import { refusedAsNotValid, type AeMessage, type AeUpdate } from '../xfrm/aevent.js';
import type { XfrmClient } from '../xfrm/client.js';
import { RECEIVER_WRITE_PID } from './echo.js';
import type { LocalSaInfo } from './identity.js';
import type { LocalSaTable } from './local-table.js';
import { autoMargin } from './margin.js';
import { planApply, type ApplyPlan } from './plan.js';
import type { SyncStore, TrackedSa } from './store.js';
import { HEARTBEAT_INTERVAL_MS } from './stream.js';

export interface ApplyOptions {
  /** Every tracked SA, not only those with newer synced state (dirty). */
  all: boolean;
  /** Takeover: the margin counts the peer's silence since it was last heard, and local states come from the table's cache. */
  final: boolean;
  /** Read and plan only: SAs that would be written become `ready`. */
  dryRun: boolean;
}

/** A live standby: the SAs with newer synced state. */
export const APPLY_CHANGES: ApplyOptions = { all: false, final: false, dryRun: false };
/** A cache-mode standby: what a takeover would do now, without writing. */
export const REHEARSE: ApplyOptions = { all: true, final: false, dryRun: true };
/** notify_master: every SA, the final margin. */
export const TAKE_OVER: ApplyOptions = { all: true, final: true, dryRun: false };

/** What one SA's apply did, for takeover and status output; `install` with replication (installer.ts). */
export interface SaReport {
  name: string;
  state: TrackedSa['state'];
  direction: ApplyPlan['direction'] | null;
  margin: number;
  notes: string[];
  install: TrackedSa['install'] | null;
}

/** How long the last apply spent reading (GETAE), planning and writing (NEWAE), in ms. */
export interface ApplyTimings {
  readMs: number;
  planMs: number;
  writeMs: number;
  writes: number;
}

export interface ApplyCounters {
  /** NEWAE writes the kernel took. */
  applied: number;
  /** NEWAE writes the kernel refused, and applies that failed as a whole. */
  writeErrors: number;
}

interface Write {
  key: LocalSaInfo['key'];
  update: AeUpdate;
  tracked: TrackedSa;
}

export class SaApplier {
  readonly counters: ApplyCounters = { applied: 0, writeErrors: 0 };
  lastApply: ApplyTimings = { readMs: 0, planMs: 0, writeMs: 0, writes: 0 };

  constructor(
    private readonly client: XfrmClient,
    private readonly store: SyncStore,
    private readonly local: LocalSaTable,
    /** A fixed margin, or 'auto' (margin.ts). */
    private readonly margin: number | 'auto',
    private readonly now: () => number,
  ) {}

  /**
   * The margin for one SA. `now` is read once by the caller for all SAs: where the clock is a
   * system call (no vDSO, as on user-mode Linux) one reading per SA is a cost that grows
   * with the number of SAs.
   */
  marginFor(tracked: TrackedSa, final: boolean, now: number): number {
    if (this.margin !== 'auto') return this.margin;
    const peer = this.store.peer;
    const lastHeard = this.store.totals.lastHeardAt ?? now;
    return autoMargin({
      packetsPerSecond: tracked.rate.packetsPerSecond,
      rthr: peer?.rthr ?? 0,
      etimeMs: peer?.etimeMs ?? 1000,
      delayMs: this.store.delayMs,
      // At takeover the peer may have kept sending since we last heard from it.
      silenceMs: final ? now - lastHeard : 0,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    });
  }

  /** Apply the SAs `options` selects; returns what each one's apply did. */
  apply(options: ApplyOptions): SaReport[] {
    const names = this.store.takeDirty(options.all);
    const present: { tracked: TrackedSa; sa: LocalSaInfo }[] = [];
    for (const name of names) {
      const tracked = this.store.sas.get(name)!;
      const sa = this.local.get(name);
      if (sa) present.push({ tracked, sa });
      else settle(tracked, 'missing', null, [tracked.install?.note ?? 'no such SA on this node (yet): held until it appears']);
    }
    const started = performance.now();
    const states = this.local.read(present.map((p) => p.sa), options.final);
    const now = this.now();
    const read = performance.now();
    const writes: Write[] = [];
    states.forEach((state, i) => {
      const { tracked, sa } = present[i]!;
      const plan = this.plan(tracked, sa, state, options.final, now);
      if (plan?.update) writes.push({ key: sa.key, update: plan.update, tracked });
    });
    const planned = performance.now();
    if (options.dryRun) for (const { tracked } of writes) tracked.state = 'ready';
    else this.write(writes);
    const ms = (from: number, to: number): number => Math.round(to - from);
    this.lastApply = { readMs: ms(started, read), planMs: ms(read, planned), writeMs: ms(planned, performance.now()), writes: writes.length };
    return names.map((name) => this.report(name));
  }

  private report(name: string): SaReport {
    const tracked = this.store.sas.get(name)!;
    return { name, state: tracked.state, direction: tracked.direction ?? null, margin: tracked.margin, notes: tracked.notes, install: tracked.install ?? null };
  }

  private plan(tracked: TrackedSa, sa: LocalSaInfo, state: AeMessage | NetlinkError, final: boolean, now: number): ApplyPlan | undefined {
    if (state instanceof NetlinkError) {
      if (state.code === 'ESRCH') settle(tracked, 'missing', null, ['the SA went away on this node']);
      else settle(tracked, 'error', null, [`cannot read the local SA: ${state.message}`]);
      return undefined;
    }
    const plan = planApply({ state, esn: sa.esn }, tracked.synced, this.marginFor(tracked, final, now));
    settle(tracked, plan.outcome, plan, plan.notes);
    return plan;
  }

  private write(writes: Write[]): void {
    if (writes.length === 0) return;
    const results = this.client.newAeMany(writes, RECEIVER_WRITE_PID);
    results.forEach((error, i) => {
      const { tracked, update } = writes[i]!;
      if (error === undefined) {
        this.counters.applied++;
        this.local.wrote(tracked.synced.key, update);
        return;
      }
      this.counters.writeErrors++;
      const hint = refusedAsNotValid(error) ? ' (the SA is not VALID: larval, expired or being deleted)' : '';
      if (error.code === 'ESRCH') settle(tracked, 'missing', null, ['the SA went away on this node']);
      else settle(tracked, 'error', null, [`the kernel refused the write: ${error.message}${hint}`]);
    });
  }
}

/** A missing SA is retried when it appears (the SA group); the others wait for new records. */
function settle(tracked: TrackedSa, state: TrackedSa['state'], plan: ApplyPlan | null, notes: string[]): void {
  tracked.state = state;
  tracked.notes = notes;
  if (plan) {
    tracked.margin = plan.margin;
    tracked.direction = plan.direction;
  }
}
