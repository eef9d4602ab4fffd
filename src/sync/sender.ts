// `sync send`: replicate this node's SA counters as a stream (docs/sync.md "Sender"). Joins
// the aevent and SA groups first, then sets the thresholds on every replicated SA, writes a
// snapshot, and from then on one record per event, per SA change, and a heartbeat a second.
// After events were lost it says how many and sends a fresh snapshot. With --replicate, the
// SAs' configurations and keys and the policies go too (docs/sync.md "Replicating SAs and
// policies"), except, while this node is the standby, what its own receiver installed
// (ledger.ts): the SA-level twin of echo.ts.
import { NetlinkError } from '../netlink/errors.js';
import { refusedAsNotValid, type AeMessage } from '../xfrm/aevent.js';
import type { XfrmClient } from '../xfrm/client.js';
import { aeventCause } from '../xfrm/events.js';
import { knownHz, readBackProblem, resolveHz, timerJiffiesFor, type HzSource } from '../xfrm/timer-units.js';
import { isSocketPolicy, type XfrmPolicy } from '../xfrm/policy-message.js';
import { hasRedactedKeys, wipeSaKeys, type XfrmSa } from '../xfrm/sa-message.js';
import { isSyncWrite, RECEIVER_WRITE_PID, SENDER_WRITE_PID } from './echo.js';
import { localSaFromEntry, localSaInfo, nameOfAe, type LocalSaInfo } from './identity.js';
import type { EventIntake, PolicyNotice, SaNotice } from './intake.js';
import { ledgerChangedAt, readLedger, type LedgerView } from './ledger.js';
import { notReplicable, policyName } from './stream-replica.js';
import {
  encodeGone,
  encodeHeartbeat,
  encodeHello,
  encodeLost,
  encodePolicy,
  encodePolicyGone,
  encodeSnapshotBegin,
  encodeSnapshotEnd,
  encodeSnapshotSa,
  encodeUpdate,
  HEARTBEAT_INTERVAL_MS,
  type ReplicaSource,
  type Replicated,
} from './stream.js';

export interface SenderOptions {
  node: string;
  software: string;
  rthr: number;
  etimeMs: number;
  /** The kernel's HZ if the caller knows it; otherwise read from the kernel config or probed (timer-units.ts resolveHz). */
  hz?: number | undefined;
  /** Where the kernel's configuration is read (default: readConfiguredHz). */
  configuredHz?: () => HzSource | undefined;
  /** Returns false when the reader is behind: events pause until drained() resolves. */
  write(text: string): boolean | void;
  /** Resolves once the reader has taken everything written. */
  drained?: () => Promise<void>;
  /** Whether written text still waits for the reader (a snapshot then waits for drained()). */
  pending?: () => boolean;
  warn(message: string): void;
  /** The one line saying why the sender ends with status 1 (default: warn). */
  error?: (message: string) => void;
  /** A failure that ends the sender (status 1); runSender provides it. */
  fail?: (message: string) => void;
  now?: () => number;
  /** What to replicate besides counters (`--replicate`); none by default. */
  replicate?: Replicated[];
  /** The ledger file of this node's receiver (ledger.ts): read to withhold what it installed while the node is the standby. */
  ledger?: string | undefined;
}

export interface SenderCounters {
  updates: number;
  ownWritesDropped: number;
  lost: number;
  snapshots: number;
  /** SAs whose keys the kernel redacted, at the last snapshot (not replicated; their counters are). */
  redacted: number;
}

/**
 * SAs (and policies) per part of a snapshot: about 0.6 MB of records with keys, read and
 * encoded in well under the heartbeat interval even in the kernel lab.
 */
const SNAPSHOT_PART = 512;
/** How long a snapshot being written keeps the event loop (see SyncSender.snapshot()). */
const YIELD_EVERY_MS = 100;

/** Notices, flushes and losses kept while a snapshot is written before the intake pauses (SyncSender.onEvent()). */
const MAX_DEFERRED_EVENTS = 65_536;
/**
 * Deferred changes handled per turn of the event loop once the snapshot ended: an SA notice
 * costs a threshold write (a CU event for the intake, which reads 1,024 a turn) and a read.
 */
const CATCH_UP_PER_TURN = 512;

/** What the intake delivers besides aevents. */
type SenderEvent =
  | { kind: 'sa'; notice: SaNotice }
  | { kind: 'policy'; notice: PolicyNotice }
  | { kind: 'flush' }
  | { kind: 'lost'; count: number | undefined; reason: 'overrun' | 'truncated' };

/** A snapshot being written, part by part (SyncSender.snapshot()). */
interface SnapshotJob {
  id: number;
  sas: LocalSaInfo[];
  /** With --replicate sas: every SA's configuration and keys, by name; wiped when the job ends. */
  configs: Map<string, XfrmSa>;
  /** The next SA to read. */
  next: number;
  /** Threshold writes since the event loop last had a turn (their CU events wait to be read). */
  writesSinceYield: number;
  /** SA records written, and of those the ones whose keys the kernel redacted. */
  count: number;
  redacted: number;
  /** With --replicate policies: every policy, dumped with the SAs' configurations. */
  policies: XfrmPolicy[] | undefined;
  nextPolicy: number;
  policyCount: number;
}

/** An SA the kernel redacts the keys of cannot be copied (sa-message.ts: hasRedactedKeys()). */
const REDACTED = 'the kernel redacted its keys (lockdown in confidentiality mode)';

/** What an SA's record carries for replication; undefined for one without keyed algorithms (a larval SA). */
function replicaOf(sa: XfrmSa): ReplicaSource {
  if (!sa.aead && !sa.crypt && !sa.auth && !sa.comp) return undefined;
  if (hasRedactedKeys(sa)) return { notReplicated: REDACTED };
  const why = notReplicable(sa);
  return why ? { notReplicated: why } : sa;
}

export class SyncSender {
  readonly counters: SenderCounters = { updates: 0, ownWritesDropped: 0, lost: 0, snapshots: 0, redacted: 0 };
  /** SAs whose thresholds are set, by shared name. */
  private readonly configured = new Map<string, LocalSaInfo>();
  private hz: number | undefined;
  private snapshotId = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** The reader has not taken what was written: events are paused. */
  private behind = false;
  /** A timer read back another period than etime: said once. */
  private timerWarned = false;
  private readonly replicateSas: boolean;
  private readonly replicatePolicies: boolean;
  /** The local receiver's ledger as last read, and the file's time then. */
  private ledger: LedgerView | undefined;
  private ledgerAt = 0;
  private redactedSaid = false;
  private labeledSaid = false;
  /** When the snapshot being written last wrote, and last let the event loop run (sender clock, ms). */
  private lastWriteAt = 0;
  private lastYieldAt = 0;
  private stopped = false;
  /** The snapshot being written, and whether another was asked for meanwhile. */
  private job: SnapshotJob | undefined;
  private snapshotAgain = false;
  /** A snapshot waits for the reader to take what was written before it (snapshot()). */
  private startingSnapshot = false;
  /** Events that came while a snapshot was written, to follow its end (onEvent()); aevents by SA, the latest only. */
  private readonly deferred: SenderEvent[] = [];
  private readonly deferredAevents = new Map<string, AeMessage>();
  /** What was deferred is being handled, a slice per turn (catchUp()): changes still wait behind it. */
  private catchingUp = false;
  /** A slice is being handled: a snapshot it starts and ends at once must not start a second one. */
  private inCatchUpSlice = false;
  /** Why the intake is paused (none: it delivers). */
  private readonly pausedFor = new Set<'reader' | 'snapshot'>();

  constructor(
    private readonly client: XfrmClient,
    private readonly intake: EventIntake,
    private readonly options: SenderOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.hz = knownHz(options.hz, options.configuredHz);
    this.replicateSas = options.replicate?.includes('sas') ?? false;
    this.replicatePolicies = options.replicate?.includes('policies') ?? false;
    this.readLedger();
  }

  /** Subscribe before the snapshot, so no change between the two is missed. */
  start(): void {
    // Closing the intake (stop()) may still deliver what it had queued: nothing follows a stop.
    this.intake.start({
      onAevent: (ae, pid) => this.whileRunning(() => this.onAevent(ae, pid)),
      onSa: (notice) => this.whileRunning(() => this.onEvent({ kind: 'sa', notice })),
      onPolicy: (notice) => this.whileRunning(() => this.onEvent({ kind: 'policy', notice })),
      // A flush deletes everything at once, with one notification: a fresh snapshot says what is left.
      onFlush: () => this.whileRunning(() => this.onEvent({ kind: 'flush' })),
      onLost: (count, reason) => this.whileRunning(() => this.onEvent({ kind: 'lost', count, reason })),
      onMalformed: (error) => this.options.warn(`skipped a malformed message from the kernel: ${error.message}`),
      onError: (error) => this.options.fail?.(`receiving events failed: ${error.message}`),
    });
    const sas = this.localSas();
    // Probed before the hello, so that it can say the HZ (null only while no SA exists).
    this.hz = this.resolveHz(sas);
    const { node, software, rthr, etimeMs } = this.options;
    this.emit(encodeHello({ node, software, hz: this.hz ?? null, rthr, etimeMs, replicate: this.options.replicate ?? [], time: this.now() }));
    this.snapshot(sas);
    if (this.stopped) return; // the snapshot failed (options.fail)
    // A reader that is behind gets no heartbeats: they would only pile up unread.
    this.heartbeat = setInterval(() => {
      if (this.behind) return;
      this.emit(encodeHeartbeat(this.now()));
      this.guarded(() => this.followRole());
    }, HEARTBEAT_INTERVAL_MS);
  }

  /**
   * The local receiver's ledger, when replicating. While this node is the standby, what its
   * receiver installed is the peer's and must not go back; once the node took over it is this
   * node's to replicate (the peer, now the standby, needs it for the fail-back).
   */
  private readLedger(): void {
    if (!this.options.ledger || !(this.replicateSas || this.replicatePolicies)) return;
    this.ledgerAt = ledgerChangedAt(this.options.ledger);
    this.ledger = readLedger(this.options.ledger);
  }

  /** Checked every second: when the node's role changed, a fresh snapshot sends (or stops sending) what its receiver installed. */
  private followRole(): void {
    if (!this.options.ledger || !(this.replicateSas || this.replicatePolicies) || ledgerChangedAt(this.options.ledger) === this.ledgerAt) return;
    const before = this.ledger?.role;
    this.readLedger();
    if (this.ledger?.role !== before) this.snapshot();
  }

  /** Whether this SA or policy (by name) is the local receiver's while the node is the standby. */
  private withheld(kind: 'sas' | 'policies', name: string): boolean {
    return this.ledger?.role === 'standby' && this.ledger[kind].has(name);
  }

  /**
   * Whether a change was made by this node's receiver (its pid, echo.ts) while the node is not
   * the active one. Unless the ledger says the node took over: a first install can come before
   * the ledger file exists, or before the sender has read it.
   */
  private byOwnReceiver(pid: number): boolean {
    return pid === RECEIVER_WRITE_PID && this.ledger?.role !== 'active';
  }

  /**
   * Write records. A reader that falls behind (ssh stalled) pauses the events instead of
   * buffering them without bound: the kernel drops and counts what arrives meanwhile, which
   * becomes a `lost` record and a fresh snapshot once the reader has caught up.
   */
  private emit(text: string): void {
    if (this.options.write(text) !== false || this.behind || !this.options.drained) return;
    this.behind = true;
    this.pauseIntake('reader', true);
    void this.options.drained().then(() => {
      this.behind = false;
      this.pauseIntake('reader', false); // nothing after stop(): the intake is closed
    });
  }

  /** Events wait while the reader is behind or a snapshot is being written: either reason pauses the intake. */
  private pauseIntake(reason: 'reader' | 'snapshot', paused: boolean): void {
    const before = this.pausedFor.size > 0;
    if (paused) this.pausedFor.add(reason);
    else this.pausedFor.delete(reason);
    const after = this.pausedFor.size > 0;
    if (after && !before) this.intake.pause();
    else if (before && !after) this.intake.resume();
  }

  /**
   * A kernel request that fails in an event handler (no answer, a dump cut short) ends the
   * sender with one line: the receiver reconnects and gets a complete snapshot, which is
   * better than a stream that silently missed a change.
   */
  private guarded(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.options.fail?.(`reading the SAs failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** An event handler: guarded, and nothing once stopped. */
  private whileRunning(work: () => void): void {
    if (!this.stopped) this.guarded(work);
  }

  stop(): void {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.job) this.abandon(this.job);
    this.dropDeferred();
    this.intake.stop();
  }

  /** Whether a snapshot is being written (it continues on later turns of the event loop). */
  get writingSnapshot(): boolean {
    return this.job !== undefined;
  }

  /** Whether changes wait: a snapshot is being written, or what came meanwhile is still being sent. */
  get deferring(): boolean {
    return this.job !== undefined || this.catchingUp;
  }

  /**
   * Every replicated SA: thresholds first (new ones only), then its state, with its
   * configuration and keys when replicating SAs; then every policy when replicating those.
   * A snapshot asked for while one is being written follows it (the first is stale by then).
   *
   * Written in parts of SNAPSHOT_PART after the dumps, and every YIELD_EVERY_MS (or when the
   * reader is behind) the event loop gets a turn: stdout is non-blocking, so what the pipe
   * cannot take at once only goes out on a turn of the loop, as do the heartbeats. Built in
   * one go, 10,000 SAs and 10,000 policies kept the stream silent 2.3 to 5.4 s in the kernel
   * lab, 40,000 of each never got past a receiver's 5 s --heartbeat-timeout, and the sender
   * held the whole snapshot as one string (bench/README.md, "Replication at scale"). Events
   * that come meanwhile follow the snapshot's end (onEvent()), so every record still follows
   * the snapshot it changes.
   */
  snapshot(sas?: LocalSaInfo[]): void {
    if (this.stopped || this.startingSnapshot) return;
    if (this.job) {
      this.snapshotAgain = true;
      return;
    }
    // The dumps below hold the event loop: text still waiting for the reader would wait with
    // them, and the stream would fall silent (measured: 7.7 s with 40,000 SAs in the lab).
    if (this.options.pending?.() && this.options.drained) {
      this.startingSnapshot = true;
      // Read afresh once it starts: SAs may come and go while it waits.
      void this.options.drained().then(() => {
        this.startingSnapshot = false;
        this.guarded(() => this.snapshot());
      });
      return;
    }
    const job: SnapshotJob = { id: ++this.snapshotId, sas: [], configs: new Map(), next: 0, writesSinceYield: 0, count: 0, redacted: 0, policies: undefined, nextPolicy: 0, policyCount: 0 };
    this.job = job;
    this.counters.snapshots++;
    try {
      // What this node's receiver installed is withheld by the ledger as it is now, not as the
      // last heartbeat read it (an install burst may have overrun the events just now).
      if (sas === undefined) this.readLedger();
      job.sas = sas ?? this.localSas();
      this.emitSnapshotPart(encodeSnapshotBegin(job.id, this.now()));
      // Both dumps first, while stdout is idle: each is one synchronous request, and the
      // heartbeats keepAlive() writes meanwhile only go out at once if nothing waits before them.
      if (this.replicateSas) job.configs = this.dumpConfigs();
      if (this.replicatePolicies) job.policies = this.client.dumpPolicies(() => this.keepAlive());
    } catch (error) {
      this.abandon(job);
      throw error;
    }
    this.lastYieldAt = this.now();
    this.writeSnapshot(job);
  }

  /** Write the job's parts until it is done or the loop must get a turn (then continue after it). */
  private writeSnapshot(job: SnapshotJob): void {
    if (this.job !== job) return; // stopped meanwhile
    try {
      while (!this.writeSnapshotPart(job)) {
        const now = this.now();
        // Each threshold write sends a CU event to the intake, which reads at most 1,024
        // datagrams per turn of the loop: a turn once a part's worth were set (fewer than 1,024
        // per turn) keeps its socket from overrunning (several full parts per turn lost 1,400
        // of 40,000 in the lab, and forced a second snapshot).
        if (!this.behind && now - this.lastYieldAt < YIELD_EVERY_MS && job.writesSinceYield < SNAPSHOT_PART) continue;
        job.writesSinceYield = 0;
        const resume = (): void => {
          this.lastYieldAt = this.now();
          this.writeSnapshot(job);
        };
        if (this.behind && this.options.drained) void this.options.drained().then(resume);
        else setImmediate(resume);
        return;
      }
    } catch (error) {
      this.abandon(job);
      this.options.fail?.(`reading the SAs failed: ${error instanceof Error ? error.message : String(error)}`);
      // Without a fail() that stops it, what waited still goes first.
      this.catchUp();
      return;
    }
    this.abandon(job);
    this.counters.redacted = job.redacted;
    this.sayRedacted(job.redacted);
    if (this.snapshotAgain) {
      this.snapshotAgain = false;
      this.guarded(() => this.snapshot());
    }
    this.catchUp();
  }

  /**
   * An SA or policy notice, a flush or a loss: handled now, or, while a snapshot is being
   * written, kept in order to follow its end (a change before the snapshot's end would be
   * undone by it: an SA added meanwhile is not in it, and the receiver forgets what a
   * snapshot lacks). Past MAX_DEFERRED_EVENTS the intake pauses: the kernel keeps the rest,
   * and drops and counts what it cannot (a `lost` record and a fresh snapshot).
   */
  private onEvent(event: SenderEvent): void {
    if (!this.deferring) return this.handle(event);
    if (event.kind === 'sa') {
      const name = localSaInfo(event.notice.saId, event.notice.mark, false)?.name;
      if (name !== undefined) this.deferredAevents.delete(name); // the notice reads the state again
    }
    this.deferred.push(event);
    if (this.deferred.length >= MAX_DEFERRED_EVENTS) this.pauseIntake('snapshot', true);
  }

  private handle(event: SenderEvent): void {
    switch (event.kind) {
      case 'sa':
        return this.guarded(() => this.onSa(event.notice));
      case 'policy':
        return this.guarded(() => this.onPolicy(event.notice));
      case 'flush':
        return this.guarded(() => this.snapshot());
      case 'lost':
        return this.guarded(() => this.onLost(event.count, event.reason));
    }
  }

  /**
   * What came while the snapshot was written, in order: the notices, then each SA's latest
   * aevent, CATCH_UP_PER_TURN a turn of the event loop (after the reader when it is behind);
   * what comes meanwhile waits behind them. A flush or loss among them starts a snapshot:
   * what is left waits for its end.
   */
  private catchUp(resumed = false): void {
    // One catch-up at a time: a slice already under way, or one waiting for its turn, goes on.
    if (this.inCatchUpSlice || (this.catchingUp && !resumed)) return;
    this.catchingUp = false;
    if (this.job || this.stopped) return;
    this.inCatchUpSlice = true;
    try {
      for (let handled = 0; handled < CATCH_UP_PER_TURN; handled++) {
        const event = this.deferred.shift();
        if (event) {
          this.handle(event);
          if (this.job || this.stopped) return; // the snapshot it started calls again at its end
          continue;
        }
        const next = this.deferredAevents.entries().next();
        if (next.done) {
          this.pauseIntake('snapshot', false);
          return;
        }
        const [name, ae] = next.value;
        this.deferredAevents.delete(name);
        this.sendAevent(ae);
      }
    } finally {
      this.inCatchUpSlice = false;
    }
    this.catchingUp = true;
    const resume = (): void => this.catchUp(true);
    if (this.behind && this.options.drained) void this.options.drained().then(resume);
    else setImmediate(resume);
  }

  /** Deferred SA notices hold keys: wiped when the sender stops before replaying them. */
  private dropDeferred(): void {
    for (const event of this.deferred.splice(0)) if (event.kind === 'sa') wipeSaKeys(event.notice.sa);
    this.deferredAevents.clear();
  }

  /** One part of the snapshot: a batch of SAs, a batch of policies, or its end. True once the end is written. */
  private writeSnapshotPart(job: SnapshotJob): boolean {
    if (job.next < job.sas.length) {
      this.keepAlive();
      const batch = job.sas.slice(job.next, job.next + SNAPSHOT_PART);
      job.next += batch.length;
      const configuredNow = this.configure(batch.filter((sa) => !this.configured.has(sa.name)));
      job.writesSinceYield += configuredNow.size;
      // Their state is read now: counters that came before are older, not to follow the end.
      for (const sa of batch) this.deferredAevents.delete(sa.name);
      const states = this.client.getAeMany(batch.map((sa) => sa.key));
      // One reading of the clock for the states read together: where the clock is a system
      // call (no vDSO, as on user-mode Linux), one per SA would grow with the number of SAs.
      const readAt = this.now();
      let text = '';
      states.forEach((state, i) => {
        if (state instanceof NetlinkError) return; // deleted since the dump
        const name = batch[i]!.name;
        if (configuredNow.has(name)) this.checkTimer(state);
        const config = job.configs.get(name);
        const replica = config ? replicaOf(config) : undefined;
        if (replica && 'notReplicated' in replica && replica.notReplicated === REDACTED) job.redacted++;
        text += encodeSnapshotSa(job.id, state, readAt, replica);
        job.count++;
      });
      this.emitSnapshotPart(text);
      return false;
    }
    if (job.policies && job.nextPolicy < job.policies.length) {
      const readAt = this.now();
      let text = '';
      const end = Math.min(job.nextPolicy + SNAPSHOT_PART, job.policies.length);
      for (; job.nextPolicy < end; job.nextPolicy++) {
        const policy = job.policies[job.nextPolicy]!;
        if (!this.policyReplicable(policy) || this.withheld('policies', policyName(policy))) continue;
        text += encodePolicy(job.id, policy, readAt);
        job.policyCount++;
      }
      this.emitSnapshotPart(text);
      return false;
    }
    this.emitSnapshotPart(encodeSnapshotEnd(job.id, job.count, this.now(), this.replicatePolicies ? job.policyCount : undefined));
    return true;
  }

  /** The job ends (done, failed or stopped): its keys are wiped. */
  private abandon(job: SnapshotJob): void {
    for (const config of job.configs.values()) wipeSaKeys(config);
    job.configs.clear();
    if (this.job === job) this.job = undefined;
  }

  private emitSnapshotPart(text: string): void {
    if (text === '') return;
    this.emit(text);
    this.lastWriteAt = this.now();
  }

  /**
   * A heartbeat when nothing went out for a heartbeat interval: a dump is one synchronous
   * request, and on a large table takes long enough for a receiver to notice.
   */
  private keepAlive(): void {
    const now = this.now();
    if (now - this.lastWriteAt < HEARTBEAT_INTERVAL_MS) return;
    this.emit(encodeHeartbeat(now));
    this.lastWriteAt = now;
  }

  /** Every SA with its keys, by shared name (a dump: what GETAE cannot give). */
  private dumpConfigs(): Map<string, XfrmSa> {
    const configs = new Map<string, XfrmSa>();
    for (const sa of this.client.dumpSas(undefined, () => this.keepAlive())) {
      const name = localSaInfo(sa.saId, sa.mark, false)?.name;
      if (name) configs.set(name, sa);
      else wipeSaKeys(sa);
    }
    return configs;
  }

  /**
   * Socket policies belong to one socket on this node. A policy with a security context
   * (labeled IPsec) would arrive without it, as a policy for all traffic (the stream does not
   * carry contexts): said once, not replicated.
   */
  private policyReplicable(policy: XfrmPolicy): boolean {
    if (isSocketPolicy(policy)) return false;
    if (!policy.securityContext) return true;
    if (!this.labeledSaid) {
      this.labeledSaid = true;
      this.options.warn('policies with a security context (labeled IPsec) are not replicated: the stream does not carry contexts');
    }
    return false;
  }

  /** Said once: SAs the kernel redacts the keys of are not replicated; their counters still are. */
  private sayRedacted(count: number): void {
    if (count === 0 || this.redactedSaid) return;
    this.redactedSaid = true;
    this.options.warn(`${count} SAs are not replicated: ${REDACTED}; their counters are still synced (docs/sync.md, lockdown)`);
  }

  private localSas(): LocalSaInfo[] {
    const sas: LocalSaInfo[] = [];
    for (const entry of this.client.listSas()) {
      const sa = localSaFromEntry(entry);
      if (sa && !this.withheld('sas', sa.name)) sas.push(sa);
    }
    return sas;
  }

  /**
   * Set rthr and etime, stamped so that their CU events are recognised and dropped. SAs that
   * are not VALID yet (an IKE daemon's larval SA) refuse (refusedAsNotValid()) and are configured
   * when their UPDSA arrives.
   */
  private configure(sas: LocalSaInfo[]): Set<string> {
    const done = new Set<string>();
    if (sas.length === 0) return done;
    this.hz = this.resolveHz(sas);
    const timerJiffies = timerJiffiesFor(this.options.etimeMs, this.hz ?? 100);
    const update = { replayThreshold: this.options.rthr, timerJiffies };
    const results = this.client.newAeMany(sas.map((sa) => ({ key: sa.key, update })), SENDER_WRITE_PID);
    results.forEach((error, i) => {
      if (error === undefined) {
        this.configured.set(sas[i]!.name, sas[i]!);
        done.add(sas[i]!.name);
      } else if (error.code !== 'ESRCH' && !refusedAsNotValid(error)) this.options.warn(`cannot set thresholds on ${sas[i]!.name}: ${error.message}`);
    });
    return done;
  }

  /**
   * HZ by the rule `set` follows too; probed, when it must be, on the first SA that is VALID.
   * The probe's writes are stamped like the threshold writes: on a kernel without
   * /proc/config.gz its two CU events would otherwise go out as updates (docs/sync.md, own writes).
   */
  private resolveHz(sas: LocalSaInfo[]): number | undefined {
    return resolveHz(this.hz, { client: this.client, sas: sas.map((sa) => sa.key), pid: SENDER_WRITE_PID, required: false });
  }

  /** A timer just set that reads back another period means the HZ was wrong: said once, the stream goes on. */
  private checkTimer(state: AeMessage): void {
    if (this.timerWarned || this.hz === undefined) return;
    const problem = readBackProblem(this.options.etimeMs, state.timerThreshold100ms ?? 0, this.hz);
    if (!problem) return;
    this.timerWarned = true;
    this.options.warn(`thresholds on ${nameOfAe(state) ?? 'an SA'}: ${problem}; events come at another period than --etime`);
  }

  private onAevent(ae: AeMessage, pid: number): void {
    // Dropped at once, also during a snapshot: its own threshold writes (one CU event per SA)
    // are most of what arrives then, 40,000 of them overran a 16 MiB socket when kept.
    if (isSyncWrite(ae.id.flags, pid)) {
      this.counters.ownWritesDropped++;
      return;
    }
    const name = nameOfAe(ae);
    if (name === undefined || this.withheld('sas', name)) return;
    if (this.deferring) {
      // Meanwhile only each SA's latest counters matter (they never go back): re-set, so
      // that it follows what came before it.
      this.deferredAevents.delete(name);
      this.deferredAevents.set(name, ae);
      return;
    }
    this.sendAevent(ae);
  }

  private sendAevent(ae: AeMessage): void {
    this.counters.updates++;
    this.emit(encodeUpdate(aeventCause(ae.id.flags), ae, this.now()));
  }

  /**
   * New and updated SAs (rekeys) get the thresholds and are sent, with their configuration
   * when replicating SAs; deleted ones are announced. While the node is the standby, what its
   * own receiver did (the request's pid says so, echo.ts) or installed is not sent back.
   */
  private onSa(notice: SaNotice): void {
    try {
      const sa = localSaInfo(notice.saId, notice.mark, notice.esn ?? false, notice.sa.saddr);
      if (!sa) return;
      if (this.byOwnReceiver(notice.pid) || this.withheld('sas', sa.name)) return;
      if (notice.change === 'delete') {
        this.configured.delete(sa.name);
        this.emit(encodeGone({ ...sa, spi: sa.key.saId.spi, mark: sa.key.mark ?? null }, this.now()));
        return;
      }
      // Read now: counters that waited for a snapshot's end are older.
      this.deferredAevents.delete(sa.name);
      const configuredNow = this.configure([sa]);
      let state: AeMessage;
      try {
        state = this.client.getAe(sa.key);
      } catch {
        return; // not VALID yet, or already gone: its UPDSA or DELSA follows
      }
      if (configuredNow.has(sa.name)) this.checkTimer(state);
      this.counters.updates++;
      const replica = this.replicateSas ? replicaOf(notice.sa) : undefined;
      if (replica && 'notReplicated' in replica && replica.notReplicated === REDACTED) this.sayRedacted(1);
      this.emit(encodeUpdate('added', state, this.now(), replica));
    } finally {
      wipeSaKeys(notice.sa);
    }
  }

  /** Policy changes, when replicating policies (socket and labeled policies are not: policyReplicable()). */
  private onPolicy(notice: PolicyNotice): void {
    if (!this.replicatePolicies || !this.policyReplicable(notice.policy)) return;
    const policy: XfrmPolicy = notice.policy;
    if (this.byOwnReceiver(notice.pid) || this.withheld('policies', policyName(policy))) return;
    this.emit(notice.change === 'delete' ? encodePolicyGone(policy, this.now()) : encodePolicy(undefined, policy, this.now()));
  }

  private onLost(count: number | undefined, reason: 'overrun' | 'truncated'): void {
    this.counters.lost += count ?? 0;
    this.emit(encodeLost(count ?? null, reason, this.now()));
    this.snapshot();
  }
}

/** Thresholds `sync send` sets unless told otherwise (docs/sync.md "Thresholds"). */
export const DEFAULT_RTHR = 256;
export const DEFAULT_ETIME_MS = 200;
/** Events of 1,000 busy SAs arriving at once must fit (an ESN event is about 1 KiB of buffer). */
export const SENDER_RCVBUF = 16 * 1024 * 1024;

/**
 * Runs `sync send` until `stop` is aborted (status 0: the CLI aborts it on SIGINT and
 * SIGTERM), until receiving events fails, or until `outputFailure` resolves (a failed stdout
 * write; reported through error, status 1); the stream goes to options.write.
 */
export function runSender(client: XfrmClient, intake: EventIntake, options: SenderOptions, stop: AbortSignal, outputFailure?: Promise<string>): Promise<number> {
  return new Promise((resolve) => {
    let ended = false;
    const finish = (status: number): void => {
      if (ended) return;
      ended = true;
      stop.removeEventListener('abort', onStop);
      sender.stop();
      resolve(status);
    };
    const onStop = (): void => finish(0);
    const fail = (message: string): void => {
      if (ended) return; // one line: the first failure's
      (options.error ?? options.warn)(message);
      finish(1);
    };
    const sender = new SyncSender(client, intake, { ...options, fail });
    if (stop.aborted) return finish(0);
    void outputFailure?.then(fail);
    stop.addEventListener('abort', onStop);
    try {
      sender.start();
    } catch (error) {
      stop.removeEventListener('abort', onStop);
      sender.stop();
      throw error;
    }
  });
}
