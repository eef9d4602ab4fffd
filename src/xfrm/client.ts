import { NetlinkError } from '../netlink/errors.js';
import { NetlinkSocket, type OpenOptions } from '../netlink/socket.js';
import { decodeAeMessage, encodeGetAe, encodeNewAe, type AeMessage, type AeUpdate, type SaKey } from './aevent.js';
import { NETLINK_XFRM } from './constants.js';
import { decodeSaEntry, encodeSaDump, matchesFilter, type SaEntry, type SaFilter } from './sa-dump.js';

/** XFRM requests on one NETLINK_XFRM socket: SA dumps, GETAE, NEWAE. */
export class XfrmClient {
  private readonly socket: NetlinkSocket;

  private constructor(socket: NetlinkSocket) {
    this.socket = socket;
  }

  /** Opens in the calling thread's network namespace (enter another first, see enterNetworkNamespace). */
  static open(options: OpenOptions = {}): XfrmClient {
    return new XfrmClient(NetlinkSocket.open(NETLINK_XFRM, options));
  }

  /** Every SA in the namespace that matches the filter, in dump order. */
  listSas(filter: SaFilter = {}): SaEntry[] {
    const replies = this.socket.request(encodeSaDump(filter.proto));
    const entries: SaEntry[] = [];
    for (const reply of replies) {
      const entry = decodeSaEntry(reply);
      if (matchesFilter(entry, filter)) entries.push(entry);
    }
    return entries;
  }

  getAe(key: SaKey): AeMessage {
    const [reply] = this.socket.request(encodeGetAe(key));
    if (!reply) throw new NetlinkError(3);
    return decodeAeMessage(reply);
  }

  /** GETAE for many SAs, pipelined; an SA that vanished meanwhile yields its NetlinkError (ESRCH). */
  getAeMany(keys: SaKey[]): (AeMessage | NetlinkError)[] {
    return this.socket.requestMany(keys.map(encodeGetAe)).map((result) => {
      if ('error' in result) return result.error;
      const reply = result.replies[0];
      return reply ? decodeAeMessage(reply) : new NetlinkError(3);
    });
  }

  /**
   * NEWAE and wait for the ack. A subscribed socket sees its own CU event (same seq) before
   * the ack (docs/kernel/newae.md; net/xfrm/xfrm_user.c: xfrm_new_ae()); the request collects
   * and drops it.
   */
  newAe(key: SaKey, update: AeUpdate): void {
    this.socket.request(encodeNewAe(key, update));
  }

  /**
   * NEWAE for many SAs, pipelined; each result is undefined (acked) or the kernel's refusal.
   * `pid` goes in every request's header and comes back in the CU events they cause.
   */
  newAeMany(writes: { key: SaKey; update: AeUpdate }[], pid = 0): (NetlinkError | undefined)[] {
    const requests = writes.map(({ key, update }) => ({ ...encodeNewAe(key, update), pid }));
    return this.socket.requestMany(requests).map((result) => ('error' in result ? result.error : undefined));
  }

  close(): void {
    this.socket.close();
  }
}
