// `sync receive`: keeps the peer's last state per SA (store.ts) and applies it to the local
// SAs (docs/sync.md "Receiver"): in live mode as records arrive, coalesced per SA; in cache
// mode only at takeover. Local SAs are tracked from a dump and the SA group, so an SA the
// IKE daemon installs later is applied when it appears.
import { NetlinkError } from '../netlink/errors.js';
import type { AeMessage, AeUpdate } from '../xfrm/aevent.js';
import type { XfrmClient } from '../xfrm/client.js';
import { RECEIVER_WRITE_PID } from './echo.js';
import { localSaFromEntry, localSaInfo, type LocalSaInfo } from './identity.js';
import type { SaNotice } from './intake.js';
import { autoMargin } from './margin.js';
import { planApply, type ApplyPlan } from './plan.js';
import { SyncStore, type TrackedSa } from './store.js';
import { HEARTBEAT_INTERVAL_MS, type StreamRecord } from './stream.js';

export type Mode = 'live' | 'cache';
export type Role = 'standby' | 'active';

export interface ReceiverOptions {
  mode: Mode;
  /** A fixed margin, or 'auto' (margin.ts). */
  margin: number | 'auto';
  maxSas: number;
  now?: () => number;
}

export interface ReceiverTotals {
  applied: number;
  writeErrors: number;
  reconnects: number;
  takeovers: number;
}

/** What one SA's apply did, for takeover and status output. */
export interface SaReport {
  name: string;
  state: TrackedSa['state'];
  direction: ApplyPlan['direction'] | null;
  margin: number;
  notes: string[];
}

export class SyncReceiver {
  readonly store: SyncStore;
  readonly totals: ReceiverTotals = { applied: 0, writeErrors: 0, reconnects: 0, takeovers: 0 };
  role: Role = 'standby';
  private readonly local = new Map<string, LocalSaInfo>();
  private readonly now: () => number;
  private flushScheduled = false;

  constructor(
    private readonly client: XfrmClient,
    private readonly options: ReceiverOptions,
  ) {
    this.store = new SyncStore(options.maxSas);
    this.now = options.now ?? Date.now;
  }

  get mode(): Mode {
    return this.options.mode;
  }

  /** (Re)read the local SA table: at start, and after SA-group notifications were lost. */
  loadLocalSas(): void {
    this.local.clear();
    for (const entry of this.client.listSas()) {
      const sa = localSaFromEntry(entry);
      if (sa) this.local.set(sa.name, sa);
    }
    for (const tracked of this.store.sas.values()) if (tracked.state === 'missing') tracked.dirty = true;
    this.scheduleFlush();
  }

  onLocalSa(notice: SaNotice): void {
    const sa = localSaInfo(notice.saId, notice.mark, notice.esn ?? false);
    if (!sa) return;
    if (notice.change === 'delete') {
      this.local.delete(sa.name);
      return;
    }
    this.local.set(sa.name, sa);
    const tracked = this.store.sas.get(sa.name);
    if (tracked) {
      tracked.dirty = true;
      this.scheduleFlush();
    }
  }

  take(record: StreamRecord): void {
    const changed = this.store.take(record, this.now());
    if (changed.length > 0) this.scheduleFlush();
  }

  /** Live mode on a standby applies soon after records arrive, coalescing what came meanwhile. */
  private scheduleFlush(): void {
    if (this.options.mode !== 'live' || this.role !== 'standby' || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.apply(false);
    });
  }

  marginFor(tracked: TrackedSa, final: boolean): number {
    if (this.options.margin !== 'auto') return this.options.margin;
    const peer = this.store.peer;
    const lastHeard = this.store.totals.lastHeardAt ?? this.now();
    return autoMargin({
      packetsPerSecond: tracked.rate.packetsPerSecond,
      rthr: peer?.rthr ?? 0,
      etimeMs: peer?.etimeMs ?? 1000,
      delayMs: this.store.delayMs,
      // At takeover the peer may have kept sending since we last heard from it.
      silenceMs: final ? this.now() - lastHeard : 0,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    });
  }

  /** Apply the dirty SAs (every SA when `all`); returns what each one's apply did. */
  apply(all: boolean, final = false): SaReport[] {
    const names: string[] = [];
    for (const [name, tracked] of this.store.sas) if (all || tracked.dirty) names.push(name);
    const present: { tracked: TrackedSa; sa: LocalSaInfo }[] = [];
    for (const name of names) {
      const tracked = this.store.sas.get(name)!;
      tracked.dirty = false;
      const sa = this.local.get(name);
      if (sa) present.push({ tracked, sa });
      else this.settle(tracked, 'missing', null, ['no such SA on this node (yet): held until it appears']);
    }
    const states = present.length > 0 ? this.client.getAeMany(present.map((p) => p.sa.key)) : [];
    const writes: { key: LocalSaInfo['key']; update: AeUpdate; tracked: TrackedSa }[] = [];
    states.forEach((state, i) => {
      const { tracked, sa } = present[i]!;
      const plan = this.plan(tracked, sa, state, final);
      if (plan?.update) writes.push({ key: sa.key, update: plan.update, tracked });
    });
    this.write(writes);
    return names.map((name) => this.report(name));
  }

  private plan(tracked: TrackedSa, sa: LocalSaInfo, state: AeMessage | NetlinkError, final: boolean): ApplyPlan | undefined {
    if (state instanceof NetlinkError) {
      if (state.code === 'ESRCH') this.settle(tracked, 'missing', null, ['the SA went away on this node']);
      else this.settle(tracked, 'error', null, [`cannot read the local SA: ${state.message}`]);
      return undefined;
    }
    const plan = planApply({ state, esn: sa.esn }, tracked.synced, this.marginFor(tracked, final));
    this.settle(tracked, plan.outcome, plan, plan.notes);
    return plan;
  }

  private write(writes: { key: LocalSaInfo['key']; update: AeUpdate; tracked: TrackedSa }[]): void {
    if (writes.length === 0) return;
    const results = this.client.newAeMany(writes, RECEIVER_WRITE_PID);
    results.forEach((error, i) => {
      const { tracked } = writes[i]!;
      if (error === undefined) {
        this.totals.applied++;
        return;
      }
      this.totals.writeErrors++;
      // docs/kernel/newae.md: EINVAL here is the VALID-state rule (a larval or dying SA).
      const hint = error.code === 'EINVAL' ? ' (the SA is not VALID: larval, expired or being deleted)' : '';
      if (error.code === 'ESRCH') this.settle(tracked, 'missing', null, ['the SA went away on this node']);
      else this.settle(tracked, 'error', null, [`the kernel refused the write: ${error.message}${hint}`]);
    });
  }

  private settle(tracked: TrackedSa, state: TrackedSa['state'], plan: ApplyPlan | null, notes: string[]): void {
    tracked.state = state;
    tracked.notes = notes;
    if (plan) {
      tracked.margin = plan.margin;
      tracked.direction = plan.direction;
    }
    // A missing SA is retried when it appears (onLocalSa); the others wait for new records.
  }

  report(name: string): SaReport {
    const tracked = this.store.sas.get(name)!;
    return { name, state: tracked.state, direction: tracked.direction ?? null, margin: tracked.margin, notes: tracked.notes };
  }

  /** notify_master: apply everything with the final margin and stop following the peer. */
  takeover(): { reports: SaReport[]; ok: boolean; reason: string | undefined } {
    this.totals.takeovers++;
    this.role = 'active';
    if (this.store.totals.snapshots === 0) {
      return { reports: [], ok: false, reason: 'no snapshot was ever received from the peer: nothing to take over' };
    }
    const reports = this.apply(true, true);
    const ok = reports.every((r) => r.state === 'applied' || r.state === 'current');
    return { reports, ok, reason: ok ? undefined : 'not every synced SA was applied' };
  }

  /** Back to standby (notify_backup): follow the peer again. */
  release(): void {
    this.role = 'standby';
    for (const tracked of this.store.sas.values()) tracked.dirty = true;
    this.scheduleFlush();
  }

  /** Local counters of every tracked SA present here, for status. */
  localStates(): Map<string, AeMessage> {
    const present = [...this.store.sas.keys()].filter((name) => this.local.has(name));
    const states = present.length > 0 ? this.client.getAeMany(present.map((name) => this.local.get(name)!.key)) : [];
    const out = new Map<string, AeMessage>();
    states.forEach((state, i) => {
      if (!(state instanceof NetlinkError)) out.set(present[i]!, state);
    });
    return out;
  }
}
