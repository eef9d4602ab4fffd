// The receiver's memory of the peer: the last synced state of each SA, what became of it
// locally, the peer's thresholds, and the link's delay. Fed one decoded record at a time;
// bounded by maxSas (a hostile or broken sender cannot make it grow without limit).
import { inboundSeq, outboundSeq } from '../xfrm/replay-window.js';
import { RateEstimate, SteadyRate } from './margin.js';
import type { Outcome } from './plan.js';
import type { HelloRecord, StreamRecord, StreamSa } from './stream.js';

/** pending: not looked at yet; ready: a cache-mode rehearsal found it would be written. */
export type SaState = 'pending' | 'ready' | 'missing' | 'error' | Outcome;

export interface TrackedSa {
  synced: StreamSa;
  /** Receiver clock, ms. */
  receivedAt: number;
  rate: RateEstimate;
  /** The inbound packet rate, from synced seq values: the silence's hole (margin.ts). */
  inboundRate: SteadyRate;
  /** Newer synced state than what was last applied (or looked at). */
  dirty: boolean;
  state: SaState;
  margin: number;
  /** Packets the last apply put the inbound top above the synced seq (--inbound-advance). */
  advance: number;
  /** The rule the last apply used. */
  direction?: 'in' | 'out' | 'both';
  notes: string[];
}

export interface StoreTotals {
  records: number;
  updates: number;
  snapshots: number;
  lostEvents: number;
  streamErrors: number;
  refusedSas: number;
  lastSnapshotAt: number | undefined;
  lastHeardAt: number | undefined;
}

export interface TakeResult {
  /** Names whose synced state changed. */
  changed: string[];
  /** An SA record was not tracked because maxSas SAs already are. */
  refused: boolean;
}

/** A transport delay that decays slowly, so one late record keeps the margin up for a while. */
const DELAY_DECAY = 0.98;

export class SyncStore {
  readonly sas = new Map<string, TrackedSa>();
  readonly totals: StoreTotals = {
    records: 0, updates: 0, snapshots: 0, lostEvents: 0, streamErrors: 0, refusedSas: 0, lastSnapshotAt: undefined, lastHeardAt: undefined,
  };
  peer: HelloRecord | undefined;
  /** The sender's clock in the latest record (ms): where the inbound rates' spans end. */
  peerTimeMs: number | undefined;
  delayMs = 0;
  /** Names seen in the snapshot being received; undefined between snapshots. */
  private snapshotNames: Set<string> | undefined;
  /**
   * SA records refused by maxSas since the last snapshot began: SAs of the peer that are not
   * synced, so a takeover cannot be complete (an SA may count more than once after its snapshot).
   */
  untracked = 0;

  constructor(private readonly maxSas: number) {}

  /** Apply one record; says which SAs' synced state changed, and whether an SA was refused by maxSas. */
  take(record: StreamRecord, now: number): TakeResult {
    this.totals.records++;
    this.totals.lastHeardAt = now;
    if ('time' in record) this.observeDelay(now - record.time);
    this.peerTimeMs = 'time' in record ? record.time : 'sa' in record ? record.sa.time : this.peerTimeMs;
    const refusedBefore = this.totals.refusedSas;
    const changed = this.apply(record, now);
    return { changed, refused: this.totals.refusedSas > refusedBefore };
  }

  /** Mark SAs as having newer synced state than what was last applied (every SA without `which`). */
  markDirty(which: (tracked: TrackedSa) => boolean = () => true): void {
    for (const tracked of this.sas.values()) if (which(tracked)) tracked.dirty = true;
  }

  private apply(record: StreamRecord, now: number): string[] {
    switch (record.type) {
      case 'hello':
        this.peer = record;
        return [];
      case 'snapshot-begin':
        this.snapshotNames = new Set();
        this.untracked = 0;
        return [];
      case 'sa':
        this.snapshotNames?.add(record.sa.key);
        return this.upsert(record.sa, now);
      case 'snapshot-end':
        return this.endSnapshot(now);
      case 'update':
        this.totals.updates++;
        return this.upsert(record.sa, now);
      case 'gone':
        this.sas.delete(record.sa.key);
        return [];
      case 'lost':
        this.totals.lostEvents += record.count ?? 0;
        return [];
      case 'heartbeat':
        return [];
    }
  }

  private observeDelay(sampleMs: number): void {
    // Clocks of two nodes: only meaningful when they are synchronised (NTP); never negative.
    this.delayMs = Math.max(Math.max(0, sampleMs), this.delayMs * DELAY_DECAY);
  }

  private upsert(sa: StreamSa, now: number): string[] {
    let tracked = this.sas.get(sa.key);
    if (!tracked) {
      if (this.sas.size >= this.maxSas) {
        this.totals.refusedSas++;
        this.untracked++;
        return [];
      }
      tracked = { synced: sa, receivedAt: now, rate: new RateEstimate(), inboundRate: new SteadyRate(), dirty: true, state: 'pending', margin: 0, advance: 0, notes: [] };
      this.sas.set(sa.key, tracked);
    }
    const oseq = sa.replay ? outboundSeq(sa.replay) : 0n;
    if (oseq > 0n) tracked.rate.observe(oseq, sa.time);
    const seq = sa.replay ? inboundSeq(sa.replay) : 0n;
    if (seq > 0n) tracked.inboundRate.observe(seq, sa.time);
    tracked.synced = sa;
    tracked.receivedAt = now;
    tracked.dirty = true;
    if (tracked.state !== 'missing') tracked.state = 'pending';
    return [sa.key];
  }

  /** SAs the peer no longer has are forgotten: their absence from a full snapshot is news. */
  private endSnapshot(now: number): string[] {
    if (this.snapshotNames) {
      for (const name of this.sas.keys()) if (!this.snapshotNames.has(name)) this.sas.delete(name);
    }
    this.snapshotNames = undefined;
    this.totals.snapshots++;
    this.totals.lastSnapshotAt = now;
    return [];
  }
}
