// `sync receive`'s engine (docs/sync.md "Receiver"): the parts wired together, each in its
// own module. The peer's last state per SA is the store (store.ts); this node's SAs are the
// local table (local-table.ts); applying one to the other is apply.ts; when a standby applies
// is its strategy (strategy.ts: live or cache); whether it follows at all is its role
// (role.ts). The stream's session rules are session.ts, the process around it daemon.ts.
import type { XfrmClient } from '../xfrm/client.js';
import type { AeMessage } from '../xfrm/aevent.js';
import { SaApplier, type ApplyOptions, type ApplyTimings, type InboundReport } from './apply.js';
import type { SaNotice } from './intake.js';
import { LocalSaTable } from './local-table.js';
import { RoleMachine, type Role, type TakeoverResult } from './role.js';
import { SyncStore, type TakeResult, type TrackedSa } from './store.js';
import { strategyFor, type Mode, type ReceiveStrategy } from './strategy.js';
import type { StreamRecord } from './stream.js';

export interface ReceiverOptions {
  mode: Mode;
  /** A fixed margin, or 'auto' (margin.ts). */
  margin: number | 'auto';
  maxSas: number;
  /** --inbound-advance: the silence a takeover does not count (ms); undefined: off. */
  inboundAdvanceGraceMs?: number;
  now?: () => number;
  /** A background apply failed (e.g. the kernel did not answer); it is retried on the next record. */
  onError?: (message: string) => void;
}

export interface ReceiverTotals {
  applied: number;
  writeErrors: number;
  takeovers: number;
}

export class SyncReceiver {
  readonly store: SyncStore;
  readonly maxSas: number;
  private readonly local: LocalSaTable;
  private readonly applier: SaApplier;
  private readonly strategy: ReceiveStrategy;
  private readonly roles: RoleMachine;
  private readonly now: () => number;

  constructor(client: XfrmClient, private readonly options: ReceiverOptions) {
    this.now = options.now ?? Date.now;
    this.maxSas = options.maxSas;
    this.store = new SyncStore(options.maxSas);
    this.local = new LocalSaTable(client);
    this.applier = new SaApplier(client, this.store, this.local, options.margin, this.now, options.inboundAdvanceGraceMs);
    this.strategy = strategyFor(options.mode, (apply) => this.inBackground(apply), this.now);
    this.roles = new RoleMachine(this.store, this.applier, this.strategy, options.maxSas);
  }

  get mode(): Mode {
    return this.strategy.mode;
  }

  get role(): Role {
    return this.roles.role;
  }

  get lastApply(): ApplyTimings {
    return this.applier.lastApply;
  }

  get totals(): ReceiverTotals {
    return { ...this.applier.counters, takeovers: this.roles.takeovers };
  }

  /** (Re)read the local SA table: at start, and after SA-group notifications were lost. */
  loadLocalSas(): void {
    this.local.load();
    this.store.markDirty((tracked) => tracked.state === 'missing');
    this.roles.changed();
  }

  /** An SA-group notice: a synced SA that appears (or is rekeyed) here is applied again. */
  onLocalSa(notice: SaNotice): void {
    const change = this.local.onNotice(notice);
    if (!change?.present) return;
    const tracked = this.store.sas.get(change.name);
    if (!tracked) return;
    tracked.dirty = true;
    this.roles.changed();
  }

  onLocalAevent(ae: AeMessage, pid: number): void {
    this.local.onAevent(ae, pid);
  }

  /** One decoded record from the peer. */
  take(record: StreamRecord): TakeResult {
    const result = this.store.take(record, this.now());
    if (result.changed.length > 0) this.roles.changed();
    return result;
  }

  takeover(): TakeoverResult {
    return this.roles.takeover();
  }

  release(): void {
    this.roles.release();
  }

  /** The receiver ends: drop scheduled work. */
  stop(): void {
    this.strategy.cancel();
  }

  marginFor(tracked: TrackedSa, final: boolean, now: number): number {
    return this.applier.marginFor(tracked, final, now);
  }

  inboundFor(tracked: TrackedSa, now: number): InboundReport {
    return this.applier.inboundFor(tracked, now);
  }

  get inboundAdvanceGraceMs(): number | undefined {
    return this.options.inboundAdvanceGraceMs;
  }

  /** Fresh counters of every tracked SA present here, for status. */
  localStates(): Map<string, AeMessage> {
    return this.local.currentStates(this.store.sas.keys());
  }

  /** Background applies must not end the receiver: report, and leave the SAs dirty to be tried again. */
  private inBackground(apply: ApplyOptions): void {
    try {
      this.applier.apply(apply);
    } catch (error) {
      this.applier.counters.writeErrors++;
      this.store.markDirty();
      this.options.onError?.(`applying synced state failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
