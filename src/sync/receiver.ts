// `sync receive`: keeps the peer's last state per SA (store.ts) and applies it to the local
// SAs (docs/sync.md "Receiver"): in live mode as records arrive, coalesced per SA; in cache
// mode only at takeover. Local SAs are tracked from a dump and the SA group, so an SA the
// IKE daemon installs later is applied when it appears.
import { NetlinkError } from '../netlink/errors.js';
import { refusedAsNotValid, type AeMessage, type AeUpdate } from '../xfrm/aevent.js';
import type { XfrmClient } from '../xfrm/client.js';
import { isSyncWrite, RECEIVER_WRITE_PID } from './echo.js';
import { localSaFromEntry, localSaInfo, nameOfAe, type LocalSaInfo } from './identity.js';
import type { SaNotice } from './intake.js';
import { autoMargin } from './margin.js';
import { planApply, type ApplyPlan } from './plan.js';
import { SyncStore, type TrackedSa } from './store.js';
import { HEARTBEAT_INTERVAL_MS, type StreamRecord } from './stream.js';

export type Mode = 'live' | 'cache';

/** Cache mode rehearses a takeover this long after the first change, and at most this often. */
const REHEARSAL_MIN_DELAY_MS = 1000;
const REHEARSAL_INTERVAL_MS = 10_000;
export type Role = 'standby' | 'active';

export interface ReceiverOptions {
  mode: Mode;
  /** A fixed margin, or 'auto' (margin.ts). */
  margin: number | 'auto';
  maxSas: number;
  now?: () => number;
  /** A background apply failed (e.g. the kernel did not answer); it is retried on the next record. */
  onError?: (message: string) => void;
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
  /** How long the last apply spent reading (GETAE), planning and writing (NEWAE). */
  lastApply = { readMs: 0, planMs: 0, writeMs: 0, writes: 0 };
  private readonly local = new Map<string, LocalSaInfo>();
  private readonly now: () => number;
  private flushScheduled = false;
  /** Last known state of local SAs, by name (readLocal). */
  private readonly localCache = new Map<string, AeMessage>();
  private rehearsal: NodeJS.Timeout | undefined;
  private lastRehearsalAt = 0;

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
    this.localCache.clear();
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
    // A new or updated SA (a rekey under the same name) has new counters: read them again.
    this.localCache.delete(sa.name);
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

  /**
   * Live mode on a standby applies soon after records arrive, coalescing what came meanwhile.
   * Cache mode rehearses instead: reads and plans without writing, so status shows what a
   * takeover would do, and the code a takeover runs is warm (measured on the lab kernel: a
   * first, cold plan of 2,000 SAs took 670 ms, a warm one a few ms).
   */
  private scheduleFlush(): void {
    if (this.role !== 'standby') return;
    if (this.options.mode === 'cache') return this.scheduleRehearsal();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.inBackground(() => this.apply(false));
    });
  }

  /** Background applies must not end the receiver: report, and leave the SAs dirty. */
  private inBackground(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.totals.writeErrors++;
      for (const tracked of this.store.sas.values()) tracked.dirty = true;
      this.options.onError?.(`applying synced state failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private scheduleRehearsal(): void {
    if (this.rehearsal) return;
    const sinceLast = this.now() - this.lastRehearsalAt;
    const delay = Math.max(REHEARSAL_MIN_DELAY_MS, REHEARSAL_INTERVAL_MS - sinceLast);
    this.rehearsal = setTimeout(() => {
      this.rehearsal = undefined;
      if (this.role !== 'standby') return;
      this.lastRehearsalAt = this.now();
      this.inBackground(() => this.apply(true, false, true));
    }, delay);
    this.rehearsal.unref();
  }

  /**
   * The margin for one SA. `now` is read once by the caller for all SAs: the clock is a
   * system call where there is no vDSO (user-mode Linux: ~0.25 ms each, which made planning a
   * takeover of 2,000 SAs take 0.5 to 1 s on the lab kernel).
   */
  marginFor(tracked: TrackedSa, final: boolean, now: number): number {
    if (this.options.margin !== 'auto') return this.options.margin;
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

  /**
   * Apply the dirty SAs (every SA when `all`); returns what each one's apply did. A dry run
   * reads and plans only: SAs that would be written are `ready`.
   */
  apply(all: boolean, final = false, dryRun = false): SaReport[] {
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
    const started = performance.now();
    const states = this.readLocal(present.map((p) => p.sa), final);
    const now = this.now();
    const read = performance.now();
    const writes: { key: LocalSaInfo['key']; update: AeUpdate; tracked: TrackedSa }[] = [];
    states.forEach((state, i) => {
      const { tracked, sa } = present[i]!;
      const plan = this.plan(tracked, sa, state, final, now);
      if (plan?.update) writes.push({ key: sa.key, update: plan.update, tracked });
    });
    const planned = performance.now();
    if (dryRun) for (const { tracked } of writes) tracked.state = 'ready';
    else this.write(writes);
    const ms = (from: number, to: number): number => Math.round(to - from);
    this.lastApply = { readMs: ms(started, read), planMs: ms(read, planned), writeMs: ms(planned, performance.now()), writes: writes.length };
    return names.map((name) => this.report(name));
  }

  private plan(tracked: TrackedSa, sa: LocalSaInfo, state: AeMessage | NetlinkError, final: boolean, now: number): ApplyPlan | undefined {
    if (state instanceof NetlinkError) {
      if (state.code === 'ESRCH') this.settle(tracked, 'missing', null, ['the SA went away on this node']);
      else this.settle(tracked, 'error', null, [`cannot read the local SA: ${state.message}`]);
      return undefined;
    }
    const plan = planApply({ state, esn: sa.esn }, tracked.synced, this.marginFor(tracked, final, now));
    this.settle(tracked, plan.outcome, plan, plan.notes);
    return plan;
  }

  private write(writes: { key: LocalSaInfo['key']; update: AeUpdate; tracked: TrackedSa }[]): void {
    if (writes.length === 0) return;
    const results = this.client.newAeMany(writes, RECEIVER_WRITE_PID);
    results.forEach((error, i) => {
      const { tracked, update } = writes[i]!;
      if (error === undefined) {
        this.totals.applied++;
        const cached = this.localCache.get(tracked.synced.key);
        if (cached) this.localCache.set(tracked.synced.key, { ...cached, replay: update.replay ?? cached.replay, lifetime: update.lifetime ?? cached.lifetime });
        return;
      }
      this.totals.writeErrors++;
      const hint = refusedAsNotValid(error) ? ' (the SA is not VALID: larval, expired or being deleted)' : '';
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
    const untracked = this.store.untracked;
    if (untracked > 0) {
      return { reports, ok: false, reason: `the peer has more SAs than --max-sas ${this.options.maxSas}: ${untracked} SA records since its last snapshot were not tracked (raise --max-sas)` };
    }
    const ok = reports.every((r) => r.state === 'applied' || r.state === 'current');
    return { reports, ok, reason: ok ? undefined : 'not every synced SA was applied' };
  }

  /** Back to standby (notify_backup): follow the peer again. */
  release(): void {
    this.role = 'standby';
    for (const tracked of this.store.sas.values()) tracked.dirty = true;
    this.scheduleFlush();
  }

  /**
   * The local SAs' current state: GETAE, except at takeover, where a state read by the last
   * rehearsal or apply and kept current by this node's own aevents is used (saves 2,000
   * GETAE round trips, ~150 ms on the lab kernel). Why that is exact enough: a standby's
   * counters move only by our writes (their CU events carry the state written) or by traffic
   * it should not carry, and then the first packet after an idle period raises an event at
   * once (docs/kernel/events.md), later ones at the SA's thresholds.
   */
  private readLocal(sas: LocalSaInfo[], final: boolean): (AeMessage | NetlinkError)[] {
    const missing = final ? sas.filter((sa) => !this.localCache.has(sa.name)) : sas;
    const fresh = missing.length > 0 ? this.client.getAeMany(missing.map((sa) => sa.key)) : [];
    fresh.forEach((state, i) => {
      if (state instanceof NetlinkError) this.localCache.delete(missing[i]!.name);
      else this.localCache.set(missing[i]!.name, state);
    });
    if (!final) return fresh;
    const byName = new Map(fresh.map((state, i) => [missing[i]!.name, state]));
    return sas.map((sa) => byName.get(sa.name) ?? this.localCache.get(sa.name)!);
  }

  /**
   * A local aevent: the SA's counters as of the event. The CU events of sync's own writes are
   * skipped: write() has already recorded what it wrote, a sender's threshold write changes no
   * counter, and such an event, handled after a newer write, would set the cache back.
   */
  onLocalAevent(ae: AeMessage, pid: number): void {
    if (isSyncWrite(ae.id.flags, pid)) return;
    const name = nameOfAe(ae);
    if (name !== undefined && this.localCache.has(name)) this.localCache.set(name, ae);
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
