// The receiver's memory of the peer: the last synced state of each SA (and, with
// replication, its configuration and each policy), what became of it locally, the peer's
// thresholds, and the link's delay. Fed one decoded record at a time; bounded by maxSas for
// SAs and as many policies (a hostile or broken sender cannot make it grow without limit).
// Keys of replicated SAs are held only while an SA may still need installing: they are
// wiped when a newer configuration replaces them or the SA is forgotten.
import { wipeSaKeys } from '../xfrm/sa-message.js';
import { inboundSeq, outboundSeq } from '../xfrm/replay-window.js';
import { RateEstimate, SteadyRate } from './margin.js';
import type { Outcome } from './plan.js';
import type { HelloRecord, SaReplica, StreamPolicy, StreamRecord, StreamSa } from './stream.js';

/** pending: not looked at yet; ready: a cache-mode rehearsal found it would be written. */
export type SaState = 'pending' | 'ready' | 'missing' | 'error' | Outcome;

/**
 * What became of a replicated SA's configuration here (installer.ts): installed by this
 * receiver; conflict, a local SA of the same name it did not install (kept, its counters
 * synced); redacted, the peer's kernel redacts keys (lockdown); refused, validate.ts or the
 * sender would not have it; error, the kernel refused the install; retired, deleted after the
 * IKE daemon's own SA took its traffic.
 */
export type InstallState = 'installed' | 'conflict' | 'redacted' | 'refused' | 'error' | 'retired';

/** A replicated policy here: installed (by this receiver), present (a local one, the same), conflict (a local one that differs: kept). */
export type PolicyState = 'pending' | 'installed' | 'present' | 'conflict' | 'missing' | 'refused' | 'error';

export interface TrackedPolicy {
  synced: StreamPolicy;
  state: PolicyState;
  notes: string[];
}

export interface TrackedSa {
  synced: StreamSa;
  /** Receiver clock, ms. */
  receivedAt: number;
  rate: RateEstimate;
  /** The inbound packet rate, from synced seq values: the silence's hole (margin.ts). */
  inboundRate: SteadyRate;
  state: SaState;
  margin: number;
  /** Packets the last apply put the inbound top above the synced seq (--inbound-advance). */
  advance: number;
  /** The rule the last apply used. */
  direction?: 'in' | 'out' | 'both';
  notes: string[];
  /** The SA's configuration and keys (a replicating sender), or why the sender did not replicate it. */
  replica: SaReplica | undefined;
  /** What installing the replica came to, once looked at. */
  install?: { state: InstallState; note: string | undefined };
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
  /** Names the peer no longer has (a `gone` record, or absent from a full snapshot). */
  removed: string[];
  /** Policy names whose synced state changed, and those the peer no longer has. */
  changedPolicies: string[];
  removedPolicies: string[];
  /** An SA or policy record was not tracked because maxSas of them already are. */
  refused: boolean;
}

const nothing = (): TakeResult => ({ changed: [], removed: [], changedPolicies: [], removedPolicies: [], refused: false });

/** A transport delay that decays slowly, so one late record keeps the margin up for a while. */
const DELAY_DECAY = 0.98;

export class SyncStore {
  readonly sas = new Map<string, TrackedSa>();
  readonly policies = new Map<string, TrackedPolicy>();
  readonly totals: StoreTotals = {
    records: 0, updates: 0, snapshots: 0, lostEvents: 0, streamErrors: 0, refusedSas: 0, lastSnapshotAt: undefined, lastHeardAt: undefined,
  };
  peer: HelloRecord | undefined;
  /** The sender's clock in the latest record (ms): where the inbound rates' spans end. */
  peerTimeMs: number | undefined;
  delayMs = 0;
  /**
   * SAs with newer synced state than what was last applied (or looked at), by name. A set, not
   * a flag on each SA: a live standby applies after every chunk of the stream, and a pass over
   * every SA to find the few that changed made a snapshot of N SAs cost N^2 (bench/README.md).
   */
  private readonly dirty = new Set<string>();
  /** Names (SAs, policies) seen in the snapshot being received; undefined between snapshots. */
  private snapshotNames: Set<string> | undefined;
  private snapshotPolicies: Set<string> | undefined;
  /**
   * SA records refused by maxSas since the last snapshot began: SAs of the peer that are not
   * synced, so a takeover cannot be complete (an SA may count more than once after its snapshot).
   */
  untracked = 0;

  constructor(private readonly maxSas: number) {}

  /** Apply one record; says which SAs and policies changed or went, and whether one was refused by maxSas. */
  take(record: StreamRecord, now: number): TakeResult {
    this.totals.records++;
    this.totals.lastHeardAt = now;
    if ('time' in record) this.observeDelay(now - record.time);
    this.peerTimeMs = 'time' in record ? record.time : 'sa' in record ? record.sa.time : this.peerTimeMs;
    const refusedBefore = this.totals.refusedSas;
    const result = nothing();
    this.apply(record, now, result);
    result.refused = this.totals.refusedSas > refusedBefore;
    return result;
  }

  /** Mark SAs as having newer synced state than what was last applied (every SA without `which`). */
  markDirty(which: (tracked: TrackedSa) => boolean = () => true): void {
    for (const [name, tracked] of this.sas) if (which(tracked)) this.dirty.add(name);
  }

  /** Mark one tracked SA (its local SA appeared or was installed): the next apply looks at it. */
  markSaDirty(name: string): void {
    if (this.sas.has(name)) this.dirty.add(name);
  }

  /**
   * The SAs an apply looks at, which are then no longer dirty: those marked (in the order
   * they were), or every tracked SA (in the store's order) with `all`.
   */
  takeDirty(all: boolean): string[] {
    const names = all ? [...this.sas.keys()] : [...this.dirty];
    this.dirty.clear();
    return names;
  }

  /** Forget everything held for replication (the receiver ends): the keys are wiped. */
  wipeReplicas(): void {
    for (const tracked of this.sas.values()) wipeReplica(tracked.replica);
  }

  private apply(record: StreamRecord, now: number, result: TakeResult): void {
    switch (record.type) {
      case 'hello':
        this.peer = record;
        return;
      case 'snapshot-begin':
        this.snapshotNames = new Set();
        this.snapshotPolicies = new Set();
        this.untracked = 0;
        return;
      case 'sa':
        this.snapshotNames?.add(record.sa.key);
        return this.upsert(record.sa, record.replica, now, result);
      case 'snapshot-end':
        return this.endSnapshot(now, result);
      case 'update':
        this.totals.updates++;
        return this.upsert(record.sa, record.replica, now, result);
      case 'gone':
        return this.forget(record.sa.key, result);
      case 'policy':
        if (record.snapshot !== undefined) this.snapshotPolicies?.add(record.policy.name);
        return this.upsertPolicy(record.policy, result);
      case 'policy-gone':
        if (this.policies.delete(record.policy.name)) result.removedPolicies.push(record.policy.name);
        return;
      case 'lost':
        this.totals.lostEvents += record.count ?? 0;
        return;
      case 'heartbeat':
        return;
    }
  }

  private forget(name: string, result: TakeResult): void {
    const tracked = this.sas.get(name);
    if (!tracked) return;
    wipeReplica(tracked.replica);
    this.sas.delete(name);
    this.dirty.delete(name);
    result.removed.push(name);
  }

  private observeDelay(sampleMs: number): void {
    // Clocks of two nodes: only meaningful when they are synchronised (NTP); never negative.
    this.delayMs = Math.max(Math.max(0, sampleMs), this.delayMs * DELAY_DECAY);
  }

  private upsert(sa: StreamSa, replica: SaReplica | undefined, now: number, result: TakeResult): void {
    let tracked = this.sas.get(sa.key);
    if (!tracked) {
      if (this.sas.size >= this.maxSas) {
        this.totals.refusedSas++;
        this.untracked++;
        wipeReplica(replica);
        return;
      }
      tracked = { synced: sa, receivedAt: now, rate: new RateEstimate(), inboundRate: new SteadyRate(), state: 'pending', margin: 0, advance: 0, notes: [], replica: undefined };
      this.sas.set(sa.key, tracked);
    }
    const oseq = sa.replay ? outboundSeq(sa.replay) : 0n;
    if (oseq > 0n) tracked.rate.observe(oseq, sa.time);
    const seq = sa.replay ? inboundSeq(sa.replay) : 0n;
    if (seq > 0n) tracked.inboundRate.observe(seq, sa.time);
    tracked.synced = sa;
    tracked.receivedAt = now;
    this.dirty.add(sa.key);
    // An aevent's record carries no configuration: the one from the SA's last snapshot or
    // change stays until another replaces it.
    if (replica) {
      if (tracked.replica !== replica) wipeReplica(tracked.replica);
      tracked.replica = replica;
      // The peer has it (again): an SA retired here after a takeover may be installed anew.
      if (tracked.install?.state === 'retired') tracked.install = undefined;
    }
    if (tracked.state !== 'missing') tracked.state = 'pending';
    result.changed.push(sa.key);
  }

  private upsertPolicy(synced: StreamPolicy, result: TakeResult): void {
    let tracked = this.policies.get(synced.name);
    if (!tracked) {
      if (this.policies.size >= this.maxSas) {
        this.totals.refusedSas++;
        this.untracked++;
        return;
      }
      tracked = { synced, state: 'pending', notes: [] };
      this.policies.set(synced.name, tracked);
    }
    tracked.synced = synced;
    result.changedPolicies.push(synced.name);
  }

  /** SAs and policies the peer no longer has are forgotten: their absence from a full snapshot is news. */
  private endSnapshot(now: number, result: TakeResult): void {
    if (this.snapshotNames) {
      for (const name of [...this.sas.keys()]) if (!this.snapshotNames.has(name)) this.forget(name, result);
    }
    // A counters-only sender's snapshot holds no policy: only a replicating one's says which the peer has.
    if (this.snapshotPolicies && this.peer?.replicate.includes('policies')) {
      for (const name of [...this.policies.keys()]) {
        if (!this.snapshotPolicies.has(name)) {
          this.policies.delete(name);
          result.removedPolicies.push(name);
        }
      }
    }
    this.snapshotNames = undefined;
    this.snapshotPolicies = undefined;
    this.totals.snapshots++;
    this.totals.lastSnapshotAt = now;
  }
}

function wipeReplica(replica: SaReplica | undefined): void {
  if (replica && 'config' in replica) wipeSaKeys(replica.config);
}
