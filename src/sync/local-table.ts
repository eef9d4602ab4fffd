// The receiver's view of this node's own SAs: which SAs sync can write here, by shared name
// (identity.ts), and the last known counters of each. Filled from a dump and kept current by
// the SA group (new, updated, deleted SAs) and the aevent group (counters), so that an SA the
// IKE daemon installs later is known the moment it appears, and a takeover can plan from
// states already read. SAs the receiver installs (installer.ts) are entered at once, before
// their notification arrives.
import { NetlinkError } from '../netlink/errors.js';
import type { AeMessage, AeUpdate } from '../xfrm/aevent.js';
import type { XfrmClient } from '../xfrm/client.js';
import { isSyncWrite } from './echo.js';
import { localSaFromEntry, localSaInfo, nameOfAe, type LocalSaInfo } from './identity.js';
import type { SaNotice } from './intake.js';

/** What an SA-group notice changed. */
export interface LocalChange {
  name: string;
  /** The SA is here now (new or updated); false: it went away. */
  present: boolean;
  /** The nlmsg_pid of the request that caused it (echo.ts tells the receiver's own). */
  pid: number;
}

export class LocalSaTable {
  private readonly sas = new Map<string, LocalSaInfo>();
  /** Last known state, by name: read by read(), moved on by events and by our own writes. */
  private readonly states = new Map<string, AeMessage>();

  constructor(private readonly client: XfrmClient) {}

  /** (Re)read every SA: at start, and after SA-group notifications were lost. */
  load(): void {
    this.sas.clear();
    this.states.clear();
    for (const entry of this.client.listSas()) {
      const sa = localSaFromEntry(entry);
      if (sa) this.sas.set(sa.name, sa);
    }
  }

  /** An SA-group notice; undefined for an SA sync does not replicate. */
  onNotice(notice: SaNotice): LocalChange | undefined {
    const sa = localSaInfo(notice.saId, notice.mark, notice.esn ?? false, notice.sa.saddr);
    if (!sa) return undefined;
    // A new or updated SA (a rekey under the same name) has new counters: read them again.
    this.states.delete(sa.name);
    if (notice.change === 'delete') {
      this.sas.delete(sa.name);
      return { name: sa.name, present: false, pid: notice.pid };
    }
    this.sas.set(sa.name, sa);
    return { name: sa.name, present: true, pid: notice.pid };
  }

  get(name: string): LocalSaInfo | undefined {
    return this.sas.get(name);
  }

  /** Every SA sync can write here. */
  all(): IterableIterator<LocalSaInfo> {
    return this.sas.values();
  }

  /** An SA the receiver installed, known before its notification arrives. */
  installed(sa: LocalSaInfo): void {
    this.sas.set(sa.name, sa);
  }

  /** An SA the receiver deleted. */
  removed(name: string): void {
    this.sas.delete(name);
    this.states.delete(name);
  }

  /**
   * The SAs' current states, in order: GETAE, or with `fromCache` a state read earlier and
   * kept current by this node's own aevents (GETAE only for SAs never read). Why the cache is
   * exact enough at takeover: a standby's counters move only by our writes (recorded by
   * wrote()) or by traffic it should not carry, and then the first packet after an idle
   * period raises an event at once (docs/kernel/events.md), later ones at the SA's thresholds.
   */
  read(sas: readonly LocalSaInfo[], fromCache: boolean): (AeMessage | NetlinkError)[] {
    const unread = fromCache ? sas.filter((sa) => !this.states.has(sa.name)) : sas;
    const fresh = unread.length > 0 ? this.client.getAeMany(unread.map((sa) => sa.key)) : [];
    fresh.forEach((state, i) => {
      if (state instanceof NetlinkError) this.states.delete(unread[i]!.name);
      else this.states.set(unread[i]!.name, state);
    });
    if (!fromCache) return fresh;
    const byName = new Map(fresh.map((state, i) => [unread[i]!.name, state]));
    return sas.map((sa) => byName.get(sa.name) ?? this.states.get(sa.name)!);
  }

  /** The kernel took a write: the cached state (if any) now holds what was written. */
  wrote(name: string, update: AeUpdate): void {
    const cached = this.states.get(name);
    if (cached) this.states.set(name, { ...cached, replay: update.replay ?? cached.replay, lifetime: update.lifetime ?? cached.lifetime });
  }

  /**
   * A local aevent: the SA's counters as of the event. The CU events of sync's own writes are
   * skipped: wrote() has already recorded what the receiver wrote, a sender's threshold write
   * changes no counter, and such an event, handled after a newer write, would set the cache back.
   */
  onAevent(ae: AeMessage, pid: number): void {
    if (isSyncWrite(ae.id.flags, pid)) return;
    const name = nameOfAe(ae);
    if (name !== undefined && this.states.has(name)) this.states.set(name, ae);
  }

  /** Fresh counters (GETAE) of those of `names` present here, for status. */
  currentStates(names: Iterable<string>): Map<string, AeMessage> {
    const present = [...names].filter((name) => this.sas.has(name));
    const states = present.length > 0 ? this.client.getAeMany(present.map((name) => this.sas.get(name)!.key)) : [];
    const out = new Map<string, AeMessage>();
    states.forEach((state, i) => {
      if (!(state instanceof NetlinkError)) out.set(present[i]!, state);
    });
    return out;
  }
}
