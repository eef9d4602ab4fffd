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
import { autoMargin, inboundAdvance, silentInboundHole } from './margin.js';
import { planApply, type ApplyPlan } from './plan.js';
import type { SyncStore, TrackedSa } from './store.js';
import { HEARTBEAT_INTERVAL_MS } from './stream.js';

export interface ApplyOptions {
  /** Every tracked SA, not only those with newer synced state (dirty). */
  all: boolean;
  /** Takeover: local states come from the table's cache, and inbound windows may advance (--inbound-advance). */
  final: boolean;
  /** The outbound margin counts the peer's silence since it was last heard: it may have kept sending. */
  countSilence: boolean;
  /** Read and plan only: SAs that would be written become `ready`. */
  dryRun: boolean;
}

/** A live standby: the SAs with newer synced state. */
export const APPLY_CHANGES: ApplyOptions = { all: false, final: false, countSilence: false, dryRun: false };
/**
 * A live standby while the stream is silent, every second: every SA's outbound counter moves
 * on by what the peer may have sent meanwhile. keepalived puts the address on this node before
 * notify_master runs `takeover`, so packets can leave before the takeover's margin is written:
 * they must not reuse numbers the peer sent in the silence.
 */
export const SILENT_STANDBY: ApplyOptions = { all: true, final: false, countSilence: true, dryRun: false };
/** A cache-mode standby: what a takeover would do now, without writing. */
export const REHEARSE: ApplyOptions = { all: true, final: false, countSilence: false, dryRun: true };
/** notify_master: every SA, the final margin. */
export const TAKE_OVER: ApplyOptions = { all: true, final: true, countSilence: true, dryRun: false };

/** One SA's inbound replay hole from a silent stream (docs/sync.md "Inbound hole"). */
export interface InboundReport {
  /** Inbound packets per second, measured from synced seq values before the silence. */
  ratePps: number;
  /** Since the stream last delivered anything; 0 while it is up. */
  silenceMs: number;
  /** Packets the peer may have accepted in the silence: rate x silence (0 while the stream is up). */
  holePackets: number;
  /** Packets a takeover puts (or put) the inbound top above the synced seq (--inbound-advance; 0: none). */
  advance: number;
}

/** What one SA's apply did, for takeover and status output; `install` with replication (installer.ts). */
export interface SaReport {
  name: string;
  state: TrackedSa['state'];
  direction: ApplyPlan['direction'] | null;
  margin: number;
  inbound: InboundReport;
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
    /** --inbound-advance: the silence not counted (ms), or undefined when off. */
    private readonly inboundAdvanceGraceMs: number | undefined = undefined,
  ) {}

  /**
   * The margin for one SA. `now` is read once by the caller for all SAs: where the clock is a
   * system call (no vDSO, as on user-mode Linux) one reading per SA is a cost that grows
   * with the number of SAs.
   */
  marginFor(tracked: TrackedSa, countSilence: boolean, now: number): number {
    if (this.margin !== 'auto') return this.margin;
    const peer = this.store.peer;
    const lastHeard = this.store.totals.lastHeardAt ?? now;
    return autoMargin({
      packetsPerSecond: tracked.rate.packetsPerSecond,
      rthr: peer?.rthr ?? 0,
      etimeMs: peer?.etimeMs ?? 1000,
      delayMs: this.store.delayMs,
      // At takeover (and while the stream is silent) the peer may have kept sending since we last heard from it.
      silenceMs: countSilence ? now - lastHeard : 0,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    });
  }

  /**
   * One SA's inbound hole from the stream's silence as of `now`, and the advance a takeover
   * at `now` would make (none with --inbound-advance off).
   */
  inboundFor(tracked: TrackedSa, now: number): InboundReport {
    const lastHeard = this.store.totals.lastHeardAt;
    const rate = tracked.inboundRate.packetsPerSecond(this.store.peerTimeMs);
    const hole = silentInboundHole({
      packetsPerSecond: rate,
      silenceMs: lastHeard === undefined ? 0 : Math.max(0, now - lastHeard),
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    });
    const grace = this.inboundAdvanceGraceMs;
    const advance = grace === undefined ? 0 : inboundAdvance(hole, rate, grace);
    return { ratePps: Math.round(rate), silenceMs: hole.silenceMs, holePackets: hole.packets, advance };
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
      const plan = this.plan(tracked, sa, state, options, now);
      if (plan?.update) writes.push({ key: sa.key, update: plan.update, tracked });
    });
    const planned = performance.now();
    if (options.dryRun) for (const { tracked } of writes) tracked.state = 'ready';
    else this.write(writes);
    const ms = (from: number, to: number): number => Math.round(to - from);
    this.lastApply = { readMs: ms(started, read), planMs: ms(read, planned), writeMs: ms(planned, performance.now()), writes: writes.length };
    return names.map((name) => this.report(name, options.final, now));
  }

  private report(name: string, final: boolean, now: number): SaReport {
    const tracked = this.store.sas.get(name)!;
    // At takeover, the advance the plan made; otherwise none was made.
    const inbound = { ...this.inboundFor(tracked, now), advance: final ? tracked.advance : 0 };
    return { name, state: tracked.state, direction: tracked.direction ?? null, margin: tracked.margin, inbound, notes: tracked.notes, install: tracked.install ?? null };
  }

  private plan(tracked: TrackedSa, sa: LocalSaInfo, state: AeMessage | NetlinkError, options: ApplyOptions, now: number): ApplyPlan | undefined {
    if (state instanceof NetlinkError) {
      if (state.code === 'ESRCH') settle(tracked, 'missing', null, ['the SA went away on this node']);
      else settle(tracked, 'error', null, [`cannot read the local SA: ${state.message}`]);
      return undefined;
    }
    // The inbound advance is a takeover's only: a standby keeps following the peer exactly.
    const advance = options.final ? this.inboundFor(tracked, now).advance : 0;
    const plan = planApply({ state, esn: sa.esn }, tracked.synced, this.marginFor(tracked, options.countSilence, now), advance);
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
  tracked.advance = plan?.advance ?? 0;
  if (plan) {
    tracked.margin = plan.margin;
    tracked.direction = plan.direction;
  }
}
