// `sync receive`'s engine (docs/sync.md "Receiver"): the parts wired together, each in its
// own module. The peer's last state per SA is the store (store.ts); this node's SAs are the
// local table (local-table.ts); applying one to the other is apply.ts; when a standby applies
// is its strategy (strategy.ts: live or cache); whether it follows at all is its role
// (role.ts). With --install, the peer's SAs and policies the standby lacks are installed
// (installer.ts, with this node's policies in local-policies.ts and what is ours in
// ledger.ts). The stream's session rules are session.ts, the process around it daemon.ts.
import type { XfrmClient } from '../xfrm/client.js';
import type { AeMessage } from '../xfrm/aevent.js';
import { wipeSaKeys } from '../xfrm/sa-message.js';
import { SaApplier, SILENT_STANDBY, type ApplyOptions, type ApplyTimings, type InboundReport } from './apply.js';
import { DEFAULT_RETIRE_AFTER_MS, ReplicaInstaller } from './installer.js';
import type { PolicyNotice, SaNotice } from './intake.js';
import { Ledger } from './ledger.js';
import { streamSilent } from './margin.js';
import { LocalPolicyTable } from './local-policies.js';
import { LocalSaTable } from './local-table.js';
import { RoleMachine, type Role, type TakeoverResult } from './role.js';
import { SyncStore, type TakeResult, type TrackedSa } from './store.js';
import { strategyFor, type Mode, type ReceiveStrategy } from './strategy.js';
import { HEARTBEAT_INTERVAL_MS, type StreamRecord } from './stream.js';

export interface ReceiverOptions {
  mode: Mode;
  /** A fixed margin, or 'auto' (margin.ts). */
  margin: number | 'auto';
  maxSas: number;
  /**
   * Install the peer's SAs and policies that this node lacks (`--install`): `ledger` is the
   * file that remembers what this receiver installed (ledger.ts; undefined: memory only).
   * Without it, key-carrying records are read for their counters and their keys wiped.
   */
  install?: { ledger: string | undefined; retireAfterMs?: number };
  /** --inbound-advance: the silence a takeover does not count (ms); undefined: off. */
  inboundAdvanceGraceMs?: number;
  now?: () => number;
  /** A background apply failed (e.g. the kernel did not answer); it is retried on the next record. */
  onError?: (message: string) => void;
  /** Said once: the peer replicates, and this receiver does not install. */
  onNotice?: (message: string) => void;
}

/** How often an active node looks at the SAs it installed, to retire them (installer.ts). */
const RETIRE_INTERVAL_MS = 1000;

export interface ReceiverTotals {
  applied: number;
  writeErrors: number;
  takeovers: number;
  /** With --install (installer.ts); zeros without. */
  installedSas: number;
  installedPolicies: number;
  removedSas: number;
  removedPolicies: number;
  retiredSas: number;
  replicasRefused: number;
  installErrors: number;
}

export class SyncReceiver {
  readonly store: SyncStore;
  readonly maxSas: number;
  private readonly local: LocalSaTable;
  private readonly applier: SaApplier;
  private readonly strategy: ReceiveStrategy;
  private readonly roles: RoleMachine;
  private readonly now: () => number;
  private readonly localPolicies: LocalPolicyTable | undefined;
  private readonly installer: ReplicaInstaller | undefined;
  private installPass: NodeJS.Immediate | undefined;
  private retirement: NodeJS.Timeout | undefined;
  private silenceWatch: NodeJS.Timeout | undefined;
  private ignoredReplicasSaid = false;
  private stopped = false;

  constructor(client: XfrmClient, private readonly options: ReceiverOptions) {
    this.now = options.now ?? Date.now;
    this.maxSas = options.maxSas;
    this.store = new SyncStore(options.maxSas);
    this.local = new LocalSaTable(client);
    this.applier = new SaApplier(client, this.store, this.local, options.margin, this.now, options.inboundAdvanceGraceMs);
    this.strategy = strategyFor(options.mode, (apply) => this.inBackground(apply), this.now);
    if (options.install) {
      const ledger = new Ledger(options.install.ledger);
      ledger.load();
      this.localPolicies = new LocalPolicyTable(client);
      this.installer = new ReplicaInstaller(client, this.store, this.local, this.localPolicies, ledger, options.install.retireAfterMs ?? DEFAULT_RETIRE_AFTER_MS);
    }
    this.roles = new RoleMachine(this.store, this.applier, this.strategy, options.maxSas, this.installer);
    if (options.mode === 'live') {
      this.silenceWatch = setInterval(() => this.onSilenceTick(), HEARTBEAT_INTERVAL_MS);
      this.silenceWatch.unref();
    }
  }

  /**
   * A live standby whose stream went silent (two heartbeats missed) raises its outbound
   * counters every second by what the peer may have sent meanwhile (apply.ts SILENT_STANDBY):
   * the packets that leave between keepalived adding the address and takeover must not reuse
   * the silence's numbers. Inbound windows stay as synced: only a takeover may advance them.
   */
  private onSilenceTick(): void {
    const lastHeard = this.store.totals.lastHeardAt;
    if (this.roles.role !== 'standby' || lastHeard === undefined || !streamSilent(this.now() - lastHeard, HEARTBEAT_INTERVAL_MS)) return;
    this.inBackground(SILENT_STANDBY);
  }

  get mode(): Mode {
    return this.strategy.mode;
  }

  get role(): Role {
    return this.roles.role;
  }

  get installs(): boolean {
    return this.installer !== undefined;
  }

  get lastApply(): ApplyTimings {
    return this.applier.lastApply;
  }

  get totals(): ReceiverTotals {
    const i = this.installer?.counters;
    return {
      ...this.applier.counters,
      takeovers: this.roles.takeovers,
      installedSas: i?.installedSas ?? 0,
      installedPolicies: i?.installedPolicies ?? 0,
      removedSas: i?.removedSas ?? 0,
      removedPolicies: i?.removedPolicies ?? 0,
      retiredSas: i?.retiredSas ?? 0,
      replicasRefused: i?.refused ?? 0,
      installErrors: i?.errors ?? 0,
    };
  }

  /** (Re)read the local SA (and, with --install, policy) tables: at start, and after notifications were lost. */
  loadLocalSas(): void {
    this.local.load();
    this.localPolicies?.load();
    this.store.markDirty((tracked) => tracked.state === 'missing');
    this.installer?.recheckAll();
    this.scheduleInstall();
    this.roles.changed();
  }

  /**
   * An SA-group notice: a synced SA that appears (or is rekeyed) here is applied again. The
   * notice carries the SA's keys (the kernel sends them with every notification); nothing
   * here needs them, so they are wiped at once.
   */
  onLocalSa(notice: SaNotice): void {
    try {
      const change = this.local.onNotice(notice);
      if (!change) return;
      if (this.installer) {
        this.installer.onLocalSa(change.name, change.present, change.pid);
        this.scheduleInstall();
      }
      if (!change.present) return;
      if (!this.store.sas.has(change.name)) return;
      this.store.markSaDirty(change.name);
      this.roles.changed();
    } finally {
      wipeSaKeys(notice.sa);
    }
  }

  /** A policy-group notice (with --install). */
  onLocalPolicy(notice: PolicyNotice): void {
    const change = this.localPolicies?.onNotice(notice);
    if (!change || !this.installer) return;
    this.installer.onLocalPolicy(change.name, change.pid);
    this.scheduleInstall();
  }

  onLocalAevent(ae: AeMessage, pid: number): void {
    this.local.onAevent(ae, pid);
  }

  /** One decoded record from the peer. */
  take(record: StreamRecord): TakeResult {
    const result = this.store.take(this.withoutReplica(record), this.now());
    if (this.installer && (result.changed.length + result.removed.length + result.changedPolicies.length + result.removedPolicies.length > 0 || record.type === 'snapshot-end')) {
      this.installer.noteChanges(result.changed, result.removed, result.changedPolicies, result.removedPolicies, record.type === 'snapshot-end');
      this.scheduleInstall();
    }
    if (result.changed.length > 0) this.roles.changed();
    return result;
  }

  /**
   * Without --install, a record's configuration is dropped (its keys wiped) and policies are
   * not kept: a receiver set up for counters never holds, let alone installs, the peer's SAs.
   */
  private withoutReplica(record: StreamRecord): StreamRecord {
    if (this.installer) return record;
    if ((record.type === 'sa' || record.type === 'update') && record.replica) {
      if ('config' in record.replica) wipeSaKeys(record.replica.config);
      this.sayIgnored();
      return { ...record, replica: undefined };
    }
    if (record.type === 'policy' || record.type === 'policy-gone') {
      this.sayIgnored();
      return { type: 'heartbeat', time: record.policy.time };
    }
    return record;
  }

  private sayIgnored(): void {
    if (this.ignoredReplicasSaid) return;
    this.ignoredReplicasSaid = true;
    this.options.onNotice?.('the peer replicates its SAs and policies; this receiver runs without --install, so it installs none and syncs counters only');
  }

  /** Installs run soon after records arrive, coalesced, in both modes: a standby must hold the SAs before it is needed. */
  private scheduleInstall(): void {
    if (this.stopped || !this.installer?.pending || this.roles.role !== 'standby') return;
    this.installPass ??= setImmediate(() => {
      this.installPass = undefined;
      if (this.roles.role !== 'standby') return;
      try {
        this.installer!.run();
      } catch (error) {
        this.options.onError?.(`installing replicated SAs and policies failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      this.roles.changed();
    });
  }

  takeover(): TakeoverResult {
    if (this.installPass) clearImmediate(this.installPass);
    this.installPass = undefined;
    const result = this.roles.takeover();
    if (this.installer) {
      this.installer.ledger.setRole('active');
      this.installer.ledger.flush();
      this.retirement ??= setInterval(() => {
        try {
          this.installer!.retire(this.now());
        } catch (error) {
          this.options.onError?.(`retiring replicated SAs failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }, RETIRE_INTERVAL_MS);
      this.retirement.unref();
    }
    return result;
  }

  release(): void {
    this.roles.release();
    if (this.installer) {
      if (this.retirement) clearInterval(this.retirement);
      this.retirement = undefined;
      this.installer.stopRetiring();
      this.installer.ledger.setRole('standby');
      this.installer.ledger.flush();
      this.installer.recheckAll();
      this.scheduleInstall();
    }
  }

  /** The receiver ends: drop scheduled work, and the keys it held. */
  stop(): void {
    this.stopped = true;
    this.strategy.cancel();
    if (this.silenceWatch) clearInterval(this.silenceWatch);
    if (this.installPass) clearImmediate(this.installPass);
    if (this.retirement) clearInterval(this.retirement);
    this.store.wipeReplicas();
  }

  marginFor(tracked: TrackedSa, countSilence: boolean, now: number): number {
    return this.applier.marginFor(tracked, countSilence, now);
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
    // Stream data read before the transport stopped can still arrive: nothing is written after stop().
    if (this.stopped) return;
    try {
      this.applier.apply(apply);
    } catch (error) {
      this.applier.counters.writeErrors++;
      this.store.markDirty();
      this.options.onError?.(`applying synced state failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
