// Installing the peer's SAs and policies on a standby (`sync receive --install`; docs/sync.md
// "Replicating SAs and policies"):
//
// * what the standby lacks is installed, stamped as the receiver's (echo.ts), SAs with the
//   peer's counters and add time (XFRMA_LTIME_VAL), so their time limits end when they end on
//   the peer (net/xfrm/xfrm_user.c: xfrm_update_ae_params(); docs/kernel/sa-messages.md);
// * what this receiver installed is deleted when the peer no longer has it, and only that;
//   the ledger (ledger.ts) says what is ours, also after a restart;
// * what the node's IKE daemon or operator made is never touched: a same-name SA or policy is
//   a conflict, kept (an SA's counters are still synced onto it);
// * nothing validate.ts refuses is ever installed (a key of the wrong length, an unknown
//   algorithm, a template that is not ESP/AH/IPcomp ...): refused, counted, reported;
// * after a takeover, an installed SA is retired (deleted) once the node's own IKE daemon has
//   an SA of its own for the same peer and direction and the installed one has carried no
//   packet for `retireAfterMs`: never while it still carries traffic.
//
// Policies are not retired: a replicated policy is replaced when the IKE daemon installs its
// own with the same selector (with XFRM_MSG_UPDPOLICY; docs/sync-ike.md), which makes it the
// daemon's, and otherwise stays, so no traffic it covers ever leaves the node unencrypted.
import { NetlinkError } from '../netlink/errors.js';
import type { XfrmClient } from '../xfrm/client.js';
import { XFRM_STATE_ESN } from '../xfrm/constants.js';
import { policyKeyOf, type XfrmPolicy } from '../xfrm/policy-message.js';
import { hasRedactedKeys, type XfrmSa } from '../xfrm/sa-message.js';
import { policyProblems, saProblems, type InstallProblem } from '../xfrm/validate.js';
import { RECEIVER_WRITE_PID } from './echo.js';
import { localSaInfo, pathOf, type LocalSaInfo } from './identity.js';
import type { Ledger } from './ledger.js';
import { samePolicy, type LocalPolicyTable } from './local-policies.js';
import type { LocalSaTable } from './local-table.js';
import type { InstallState, SyncStore, TrackedPolicy, TrackedSa } from './store.js';

export interface InstallCounters {
  installedSas: number;
  installedPolicies: number;
  /** SAs and policies this receiver deleted: the peer no longer has them, or (SAs) retired after a takeover. */
  removedSas: number;
  removedPolicies: number;
  retiredSas: number;
  /** Records refused by validate.ts: never installed. */
  refused: number;
  /** Installs and deletes the kernel refused. */
  errors: number;
}

/** The SA a record describes, as this node's table names it. */
function infoOf(sa: XfrmSa): LocalSaInfo | undefined {
  return localSaInfo(sa.saId, sa.mark, (sa.flags & XFRM_STATE_ESN) !== 0, sa.saddr);
}

/** What validate.ts refused, for a note. */
function describeProblems(problems: readonly InstallProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join('; ');
}

/** The kernel's refusal, for a note: its extack text when it sent one. */
function refusal(error: NetlinkError): string {
  return `the kernel refused it: ${error.message}`;
}

/** Retire after this long without a packet, unless told otherwise (`sync receive --retire-after`). */
export const DEFAULT_RETIRE_AFTER_MS = 5000;

export class ReplicaInstaller {
  readonly counters: InstallCounters = { installedSas: 0, installedPolicies: 0, removedSas: 0, removedPolicies: 0, retiredSas: 0, refused: 0, errors: 0 };
  /** Replicated SAs and policies to look at on the next pass (changed, or gone here). */
  private readonly pendingSas = new Set<string>();
  private readonly pendingPolicies = new Set<string>();
  private readonly removedSas = new Set<string>();
  private readonly removedPolicies = new Set<string>();
  /** After a complete snapshot: what the ledger holds that the peer lacks goes too. */
  private sweep = false;
  /** Per installed SA after a takeover: its packet count, and when it last moved. */
  private readonly traffic = new Map<string, { packets: bigint; movedAt: number }>();

  constructor(
    private readonly client: XfrmClient,
    private readonly store: SyncStore,
    private readonly localSas: LocalSaTable,
    private readonly localPolicies: LocalPolicyTable,
    readonly ledger: Ledger,
    private readonly retireAfterMs: number,
  ) {}

  /** The peer's SAs and policies that changed or went (store.ts TakeResult); a complete snapshot also sweeps. */
  noteChanges(changed: readonly string[], removed: readonly string[], changedPolicies: readonly string[], removedPolicies: readonly string[], snapshotEnded: boolean): void {
    for (const name of changed) if (this.store.sas.get(name)?.replica) this.pendingSas.add(name);
    for (const name of removed) this.removedSas.add(name);
    for (const name of changedPolicies) this.pendingPolicies.add(name);
    for (const name of removedPolicies) this.removedPolicies.add(name);
    if (snapshotEnded) this.sweep = true;
  }

  /** Everything replicated is looked at again (the local tables were read anew). */
  recheckAll(): void {
    for (const [name, tracked] of this.store.sas) if (tracked.replica) this.pendingSas.add(name);
    for (const name of this.store.policies.keys()) this.pendingPolicies.add(name);
  }

  /** Whether a pass has work to do. */
  get pending(): boolean {
    return this.pendingSas.size + this.pendingPolicies.size + this.removedSas.size + this.removedPolicies.size > 0 || this.sweep;
  }

  /**
   * A local SA changed. One of ours that someone else replaced is theirs now (the ledger
   * lets it go); one of ours that someone else deleted is installed again while the peer has it.
   */
  onLocalSa(name: string, present: boolean, pid: number): void {
    if (pid !== RECEIVER_WRITE_PID && this.ledger.sas.has(name)) {
      this.ledger.removeSa(name);
      this.ledger.flush();
    }
    if (!present && this.store.sas.get(name)?.replica) this.pendingSas.add(name);
  }

  /** A local policy changed: as onLocalSa (an IKE daemon's UPDPOLICY over ours makes it the daemon's). */
  onLocalPolicy(name: string, pid: number): void {
    if (pid !== RECEIVER_WRITE_PID && this.ledger.policies.has(name)) {
      this.ledger.removePolicy(name);
      this.ledger.flush();
    }
    if (this.store.policies.has(name)) this.pendingPolicies.add(name);
  }

  /** One pass: delete what the peer no longer has (ours only), then install what the standby lacks. */
  run(): void {
    this.deleteGone();
    this.installSas();
    this.installPolicies();
    this.ledger.flush();
  }

  private deleteGone(): void {
    const sas = [...this.removedSas];
    const policies = [...this.removedPolicies];
    this.removedSas.clear();
    this.removedPolicies.clear();
    // A snapshot that went past --max-sas left records untracked: the ledger's names missing
    // from the store may be among them, still the peer's.
    if (this.sweep && this.store.untracked > 0) this.sweep = false;
    if (this.sweep) {
      this.sweep = false;
      for (const name of this.ledger.sas) if (!this.store.sas.has(name)) sas.push(name);
      for (const name of this.ledger.policies) if (!this.store.policies.has(name)) policies.push(name);
    }
    this.deleteSas(sas.filter((name) => this.ledger.sas.has(name) && !this.store.sas.has(name)));
    this.deletePolicies(policies.filter((name) => this.ledger.policies.has(name) && !this.store.policies.has(name)));
  }

  /** Delete these policies of ours (the ledger is told after the kernel), as deleteSas(). */
  private deletePolicies(names: string[]): void {
    const present: { name: string; policy: XfrmPolicy }[] = [];
    for (const name of new Set(names)) {
      const policy = this.localPolicies.get(name);
      if (policy) present.push({ name, policy });
      else this.ledger.removePolicy(name);
    }
    // By selector (index 0): the kernel may have given ours another index than the peer's.
    const results = this.client.deletePolicies(present.map(({ policy }) => ({ ...policyKeyOf(policy), index: 0 })), RECEIVER_WRITE_PID);
    results.forEach((error, i) => {
      const { name } = present[i]!;
      if (error && error.code !== 'ENOENT') {
        this.counters.errors++;
        return;
      }
      this.ledger.removePolicy(name);
      this.localPolicies.removed(name);
      if (!error) this.counters.removedPolicies++;
    });
  }

  /** Delete these SAs of ours (the ledger is told after the kernel). */
  private deleteSas(names: string[], retired = false): void {
    const unique = [...new Set(names)];
    const present = unique.filter((name) => this.localSas.get(name) !== undefined);
    for (const name of unique) if (!this.localSas.get(name)) this.ledger.removeSa(name);
    const results = this.client.deleteSas(present.map((name) => this.localSas.get(name)!.key), RECEIVER_WRITE_PID);
    results.forEach((error, i) => {
      const name = present[i]!;
      if (error && error.code !== 'ESRCH') {
        this.counters.errors++;
        return;
      }
      this.ledger.removeSa(name);
      this.localSas.removed(name);
      this.traffic.delete(name);
      if (error) return;
      if (retired) this.counters.retiredSas++;
      else this.counters.removedSas++;
    });
  }

  private installSas(): void {
    const installs: { tracked: TrackedSa; config: XfrmSa; info: LocalSaInfo }[] = [];
    for (const name of this.pendingSas) {
      const tracked = this.store.sas.get(name);
      const replica = tracked?.replica;
      // Retired after a takeover: not installed again from what the peer said then, only once
      // the peer sends it anew (store.ts upsert).
      if (!tracked || !replica || tracked.install?.state === 'retired') continue;
      if ('notReplicated' in replica) {
        const redacted = replica.notReplicated.includes('redact');
        settle(tracked, redacted ? 'redacted' : 'refused', `not replicated by the peer: ${replica.notReplicated}`);
        continue;
      }
      if (this.localSas.get(name)) {
        if (!this.ledger.sas.has(name)) settle(tracked, 'conflict', 'a local SA of the same name (made by the IKE daemon or by hand) is kept; its counters are synced');
        else if (tracked.install?.state !== 'installed') settle(tracked, 'installed', undefined);
        continue;
      }
      const problems = saProblems(replica.config);
      const info = infoOf(replica.config);
      if (problems.length > 0 || !info) {
        this.counters.refused++;
        const why = describeProblems(problems) || 'not an SA sync can name';
        settle(tracked, hasRedactedKeys(replica.config) ? 'redacted' : 'refused', `not installed: ${why}`);
        continue;
      }
      installs.push({ tracked, config: replica.config, info });
    }
    this.pendingSas.clear();
    if (installs.length === 0) return;
    // Named in the ledger first: a receiver killed in the middle leaves no SA it does not know.
    for (const { info } of installs) this.ledger.addSa(info.name);
    this.flushOrForget(installs.map(({ info }) => info.name), [], this.pendingSas);
    // The peer's counters and add time go with the SA (XFRMA_LTIME_VAL), so its time limits
    // end when the peer's do; a record without them (add time 0 would expire the SA at once
    // under an add-time limit) installs with this node's clock.
    const withLifetime = (i: { tracked: TrackedSa }): boolean => (i.tracked.synced.lifetime?.addTime ?? 0n) > 0n;
    const counted = installs.filter(withLifetime);
    const uncounted = installs.filter((i) => !withLifetime(i));
    const ordered = [...counted, ...uncounted];
    const results = [
      ...this.client.addSas(counted.map((i) => i.config), { currentLifetime: true }, RECEIVER_WRITE_PID),
      ...this.client.addSas(uncounted.map((i) => i.config), {}, RECEIVER_WRITE_PID),
    ];
    results.forEach((error, i) => {
      const { tracked, info } = ordered[i]!;
      if (error) {
        this.ledger.removeSa(info.name);
        this.counters.errors++;
        // EEXIST: someone made it meanwhile; its notification makes it a conflict.
        settle(tracked, 'error', `not installed: ${refusal(error)}`);
        return;
      }
      this.counters.installedSas++;
      this.localSas.installed(info);
      this.store.markSaDirty(tracked.synced.key);
      settle(tracked, 'installed', undefined);
    });
  }

  /**
   * The ledger names what is about to be installed before the kernel has it. If the file
   * cannot be written, nothing is installed: the names leave the ledger again (so a same-named
   * SA made later is not taken for ours) and wait in `pending` for the next pass.
   */
  private flushOrForget(sas: string[], policies: string[], pending: Set<string>, retry: string[] = sas): void {
    try {
      this.ledger.flush();
    } catch (error) {
      for (const name of sas) this.ledger.removeSa(name);
      for (const name of policies) this.ledger.removePolicy(name);
      for (const name of retry) pending.add(name);
      throw error;
    }
  }

  private installPolicies(): void {
    const installs: { tracked: TrackedPolicy; update: boolean }[] = [];
    for (const name of this.pendingPolicies) {
      const tracked = this.store.policies.get(name);
      if (!tracked) continue;
      const policy = tracked.synced.policy;
      const problems = policyProblems(policy);
      if (problems.length > 0) {
        this.counters.refused++;
        settlePolicy(tracked, 'refused', `not installed: ${describeProblems(problems)}`);
        continue;
      }
      const local = this.localPolicies.get(name);
      const ours = this.ledger.policies.has(name);
      if (local && !ours) {
        if (samePolicy(local, policy)) settlePolicy(tracked, 'present', 'a local policy of the same name does the same: kept');
        else settlePolicy(tracked, 'conflict', 'a local policy of the same name (made by the IKE daemon or by hand) differs: kept');
        continue;
      }
      if (local && samePolicy(local, policy)) {
        settlePolicy(tracked, 'installed', undefined);
        continue;
      }
      installs.push({ tracked, update: local !== undefined });
    }
    this.pendingPolicies.clear();
    if (installs.length === 0) return;
    for (const { tracked } of installs) this.ledger.addPolicy(tracked.synced.name);
    this.flushOrForget([], installs.filter((i) => !i.update).map((i) => i.tracked.synced.name), this.pendingPolicies, installs.map((i) => i.tracked.synced.name));
    for (const update of [false, true]) {
      const batch = installs.filter((i) => i.update === update);
      const results = this.client.addPolicies(batch.map((i) => i.tracked.synced.policy), { update }, RECEIVER_WRITE_PID);
      results.forEach((error, i) => {
        const { tracked } = batch[i]!;
        if (error) {
          if (!update) this.ledger.removePolicy(tracked.synced.name);
          this.counters.errors++;
          settlePolicy(tracked, 'error', `not installed: ${refusal(error)}`);
          return;
        }
        if (!update) this.counters.installedPolicies++;
        this.localPolicies.installed(tracked.synced.name, tracked.synced.policy);
        settlePolicy(tracked, 'installed', undefined);
      });
    }
  }

  /**
   * After a takeover, every second: an installed SA is deleted once the node's own IKE
   * daemon has an SA for the same peer and direction (pathOf()) and the installed one has
   * carried no packet for retireAfterMs. Counted with GETAE's lifetime packets.
   */
  retire(now: number): void {
    const ours = [...this.ledger.sas].map((name) => this.localSas.get(name)).filter((sa): sa is LocalSaInfo => sa !== undefined);
    if (ours.length === 0) return;
    const daemonPaths = new Set<string>();
    for (const sa of this.localSas.all()) if (!this.ledger.sas.has(sa.name)) daemonPaths.add(pathOf(sa));
    const states = this.client.getAeMany(ours.map((sa) => sa.key));
    const retire: string[] = [];
    states.forEach((state, i) => {
      const sa = ours[i]!;
      if (state instanceof NetlinkError) return;
      const packets = state.lifetime?.packets ?? 0n;
      const seen = this.traffic.get(sa.name);
      if (!seen || seen.packets !== packets) {
        this.traffic.set(sa.name, { packets, movedAt: now });
        return;
      }
      if (daemonPaths.has(pathOf(sa)) && now - seen.movedAt >= this.retireAfterMs) retire.push(sa.name);
    });
    if (retire.length === 0) return;
    this.deleteSas(retire, true);
    for (const name of retire) {
      const tracked = this.store.sas.get(name);
      if (tracked) settle(tracked, 'retired', `deleted after the IKE daemon's own SA took its traffic (no packet for ${this.retireAfterMs / 1000} s)`);
    }
    this.ledger.flush();
  }

  /** The node became a standby again: retirement stops (it starts afresh at the next takeover). */
  stopRetiring(): void {
    this.traffic.clear();
  }
}

function settle(tracked: TrackedSa, state: InstallState, note: string | undefined): void {
  tracked.install = { state, note };
}

function settlePolicy(tracked: TrackedPolicy, state: TrackedPolicy['state'], note: string | undefined): void {
  tracked.state = state;
  tracked.notes = note ? [note] : [];
}
