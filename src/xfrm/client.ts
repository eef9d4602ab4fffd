import { constants as osConstants } from 'node:os';
import { readU16 } from '../netlink/bytes.js';
import { NLMSG_HDRLEN } from '../netlink/constants.js';
import { NetlinkError } from '../netlink/errors.js';
import { BackgroundPipeline, dumpEach, dumpEachInBackground, type MessageVisitor } from '../netlink/pipeline.js';
import { NLMSG_TYPE_AT } from '../netlink/scan.js';
import { NetlinkSocket, type OpenOptions, type Request } from '../netlink/socket.js';
import {
  decodeAeMessage,
  encodeGetAe,
  encodeGetAeFromDump,
  encodeNewAe,
  MAX_GETAE_LENGTH,
  type AeMessage,
  type AeUpdate,
  type SaKey,
} from './aevent.js';
import { NETLINK_XFRM } from './constants.js';
import {
  decodeSaEntry,
  encodeGetSa,
  encodeSaDump,
  entryOf,
  matchesFilter,
  namedKeys,
  viewDumpEntry,
  viewMatchesFilter,
  type SaEntry,
  type SaFilter,
} from './sa-dump.js';
import { SaStateView } from './sa-view.js';
import { decodePolicyMessage, encodeDelPolicy, encodeNewPolicy, encodePolicyDump, type PolicyKey, type XfrmPolicy } from './policy-message.js';
import { decodeSaMessage, encodeDelSa, encodeNewSa, wipeRequest, type NewSaOptions, type XfrmSa } from './sa-message.js';
import type { NetlinkMessage } from '../netlink/message.js';

/** No such SA: what GETAE and GETSA answer for an SA that is not (or no longer) there. */
const { ESRCH } = osConstants.errno;
/** GETAE requests encoded per dump batch start with room for this many; the buffer grows as needed. */
const INITIAL_REQUEST_BYTES = 64 * 1024;

export type SaVisitor = (view: SaStateView) => void;

/** Dump entries through a reused view, filtered. */
function dumpVisitor(filter: SaFilter, visit: SaVisitor): MessageVisitor {
  const view = new SaStateView();
  return (buf, at, length) => {
    viewDumpEntry(view, readU16(buf, at + NLMSG_TYPE_AT), buf, at + NLMSG_HDRLEN, at + length);
    if (viewMatchesFilter(view, filter)) visit(view);
  };
}

/** XFRM requests on one NETLINK_XFRM socket: SA and policy dumps, GETAE, NEWAE, installing and deleting SAs and policies. */
export class XfrmClient {
  private readonly socket: NetlinkSocket;
  /** `list` dumps on a second socket, read on a worker thread while GETAEs go out on the first. */
  private dumpSocket: NetlinkSocket | undefined;

  private constructor(socket: NetlinkSocket) {
    this.socket = socket;
  }

  /** Opens in the calling thread's network namespace (enter another first, see enterNetworkNamespace). */
  static open(options: OpenOptions = {}): XfrmClient {
    return new XfrmClient(NetlinkSocket.open(NETLINK_XFRM, options));
  }

  /** Every SA in the namespace that matches the filter, in dump order. */
  listSas(filter: SaFilter = {}): SaEntry[] {
    const entries: SaEntry[] = [];
    this.forEachDumpedSa(filter, (view) => entries.push(entryOf(view, true)));
    return entries;
  }

  /**
   * Visit every SA that matches the filter as the dump shows it (counters, no thresholds),
   * read in place: the view and its buffer are reused for the next SA.
   */
  forEachDumpedSa(filter: SaFilter, visit: SaVisitor): void {
    dumpEach(this.socket, encodeSaDump(filter.proto), dumpVisitor(filter, visit));
  }

  /**
   * forEachDumpedSa with the kernel's share on a worker thread, for reading the whole table:
   * the next dump batch is read while this one is visited (and `afterBatch` awaited).
   */
  async forEachDumpedSaInBackground(filter: SaFilter, visit: SaVisitor, afterBatch?: () => Promise<void>): Promise<void> {
    this.dumpSocket ??= NetlinkSocket.open(NETLINK_XFRM);
    try {
      await dumpEachInBackground(this.dumpSocket, encodeSaDump(filter.proto), dumpVisitor(filter, visit), afterBatch);
    } catch (error) {
      // A dump left half-read keeps the kernel from starting another on that socket (EBUSY):
      // the next one (a later line of a `batch --force`) gets a fresh socket.
      this.dumpSocket.close();
      this.dumpSocket = undefined;
      throw error;
    }
  }

  /**
   * Visit the GETAE answer of every SA that matches the filter, in dump order, read in place.
   * The kernel has no aevent dump and SA dumps carry no thresholds (docs/kernel/sa-lookup.md#reply-stream;
   * net/xfrm/xfrm_user.c: copy_to_user_state_extra(), build_aevent()): after each dump batch
   * one GETAE per SA goes out, encoded straight from the dump bytes and pipelined. SAs deleted
   * since the dump (ESRCH) are skipped. The dump and the GETAEs each run on a worker thread,
   * on their own sockets, while the answers before are visited here.
   */
  async forEachAeState(filter: SaFilter, visit: SaVisitor): Promise<void> {
    const reply = new SaStateView();
    let requests = Buffer.allocUnsafe(INITIAL_REQUEST_BYTES);
    let end = 0;
    const onEntry = (entry: SaStateView): void => {
      if (end + MAX_GETAE_LENGTH > requests.length) {
        const bigger = Buffer.allocUnsafe(requests.length * 2);
        requests.copy(bigger, 0, 0, end);
        requests = bigger;
      }
      end = encodeGetAeFromDump(entry, requests, end);
    };
    const onReply = (buf: Buffer, at: number, length: number): void => visit(reply.fromAePayload(buf, at + NLMSG_HDRLEN, at + length));
    const onError = (error: NetlinkError): void => {
      if (error.errno !== ESRCH) throw error;
    };
    const pipeline = new BackgroundPipeline(this.socket, onReply, onError);
    const sendBatch = async (): Promise<void> => {
      if (end > 0) await pipeline.send(requests, end);
      end = 0;
    };
    await this.forEachDumpedSaInBackground(filter, onEntry, sendBatch);
    await pipeline.finish();
  }

  /**
   * The SAs a filter names by SPI and destination, found with one GETSA per protocol in one
   * datagram instead of a dump: the kernel's own lookup, at the same cost at any table size
   * (docs/kernel/sa-lookup.md). undefined when that cannot settle it and the dump must: the
   * kernel found none (ESRCH everywhere), or found one the filter does not mean (its lookup
   * ignores saddr and matches marks by mask).
   */
  getNamedSas(filter: SaFilter): SaEntry[] | undefined {
    const keys = namedKeys(filter);
    if (keys.length === 0) return undefined;
    const found: SaEntry[] = [];
    for (const result of this.socket.requestMany(keys.map(encodeGetSa))) {
      if ('error' in result) {
        if (result.error.errno === ESRCH) continue;
        throw result.error;
      }
      const reply = result.replies[0];
      if (!reply) continue;
      const entry = decodeSaEntry(reply);
      if (!matchesFilter(entry, filter)) return undefined;
      found.push(entry);
    }
    return found.length > 0 ? found : undefined;
  }

  getAe(key: SaKey): AeMessage {
    const [reply] = this.socket.request(encodeGetAe(key));
    if (!reply) throw new NetlinkError(ESRCH);
    return decodeAeMessage(reply);
  }

  /** GETAE for many SAs, pipelined; an SA that vanished meanwhile yields its NetlinkError (ESRCH). */
  getAeMany(keys: SaKey[]): (AeMessage | NetlinkError)[] {
    return this.socket.requestMany(keys.map(encodeGetAe)).map((result) => {
      if ('error' in result) return result.error;
      const reply = result.replies[0];
      return reply ? decodeAeMessage(reply) : new NetlinkError(ESRCH);
    });
  }

  /**
   * NEWAE and wait for the ack. A subscribed socket sees its own CU event (same seq) before
   * the ack (docs/kernel/newae.md; net/xfrm/xfrm_user.c: xfrm_new_ae()); the request collects
   * and drops it. `pid` goes in the request's header and comes back in that CU event.
   */
  newAe(key: SaKey, update: AeUpdate, pid = 0): void {
    this.socket.request({ ...encodeNewAe(key, update), pid });
  }

  /**
   * NEWAE for many SAs, pipelined with one ack per datagram (NetlinkSocket.writeMany); each
   * result is undefined (done) or the kernel's refusal. `pid` goes in every request's header
   * and comes back in the CU events they cause.
   */
  newAeMany(writes: { key: SaKey; update: AeUpdate }[], pid = 0): (NetlinkError | undefined)[] {
    return this.socket.writeMany(writes.map(({ key, update }) => ({ ...encodeNewAe(key, update), pid })));
  }

  /**
   * The dump entries of a request as whole messages, decoded by `decode` while the receive
   * buffer holds them. `afterBatch` runs after each received batch (a caller that must keep
   * writing while a large dump runs, as `sync send` does: pipeline.ts dumpEach).
   */
  private dumpMessages<T>(request: Request, decode: (message: NetlinkMessage) => T, afterBatch?: () => void): T[] {
    const decoded: T[] = [];
    dumpEach(
      this.socket,
      request,
      (buf, at, length) => {
        const message: NetlinkMessage = { type: readU16(buf, at + NLMSG_TYPE_AT), flags: 0, seq: 0, pid: 0, payload: buf.subarray(at + NLMSG_HDRLEN, at + length) };
        decoded.push(decode(message));
      },
      afterBatch,
    );
    return decoded;
  }

  /**
   * Every SA in the namespace with everything it carries, keys included (sa-message.ts), in
   * dump order; decoded as copies, the receive buffer zeroed afterwards. Wipe the keys
   * (wipeSaKeys()) when done. Larval SAs (SPI 0) are included.
   */
  dumpSas(proto?: number, afterBatch?: () => void): XfrmSa[] {
    return this.dumpMessages({ ...encodeSaDump(proto), secret: true }, (message) => decodeSaMessage(message).sa, afterBatch);
  }

  /**
   * Every policy, in dump order, socket policies included (isSocketPolicy() tells them apart;
   * net/xfrm/xfrm_policy.c: xfrm_policy_walk() walks them too).
   */
  dumpPolicies(afterBatch?: () => void): XfrmPolicy[] {
    return this.dumpMessages(encodePolicyDump(), (message) => decodePolicyMessage(message).policy, afterBatch);
  }

  /**
   * Install an SA (NEWSA, or UPDSA with `update`); a refusal throws NetlinkError with the
   * kernel's extack text. The request's copy of the keys is zeroed afterwards.
   */
  addSa(sa: XfrmSa, options: NewSaOptions = {}): void {
    const request = encodeNewSa(sa, options);
    try {
      this.socket.request(request);
    } finally {
      wipeRequest(request);
    }
  }

  /**
   * Install many SAs, pipelined with one ack per datagram; each result is undefined (done) or
   * the refusal. `pid` goes in every request's header and comes back in the NEWSA
   * notifications they cause (net/xfrm/xfrm_user.c: xfrm_add_sa()).
   */
  addSas(sas: XfrmSa[], options: NewSaOptions = {}, pid = 0): (NetlinkError | undefined)[] {
    const requests = sas.map((sa) => ({ ...encodeNewSa(sa, options), pid }));
    try {
      return this.socket.writeMany(requests);
    } finally {
      requests.forEach(wipeRequest);
    }
  }

  /** DELSA by the SA's id and mark; ESRCH (NetlinkError) when there is no such SA. */
  deleteSa(key: SaKey): void {
    this.socket.request(encodeDelSa(key));
  }

  /** DELSA for many SAs, pipelined; each result is undefined (done) or the refusal. `pid` as for addSas. */
  deleteSas(keys: SaKey[], pid = 0): (NetlinkError | undefined)[] {
    return this.socket.writeMany(keys.map((key) => ({ ...encodeDelSa(key), pid })));
  }

  /** Install a policy (NEWPOLICY, or UPDPOLICY with `update`); a refusal throws NetlinkError. */
  addPolicy(policy: XfrmPolicy, options: { update?: boolean } = {}): void {
    this.socket.request(encodeNewPolicy(policy, options));
  }

  /** Install many policies, pipelined; each result is undefined (done) or the refusal. `pid` as for addSas. */
  addPolicies(policies: XfrmPolicy[], options: { update?: boolean } = {}, pid = 0): (NetlinkError | undefined)[] {
    return this.socket.writeMany(policies.map((policy) => ({ ...encodeNewPolicy(policy, options), pid })));
  }

  /** DELPOLICY by index (or selector when the key's index is 0); ENOENT when there is none. */
  deletePolicy(key: PolicyKey): void {
    this.socket.request(encodeDelPolicy(key));
  }

  /** DELPOLICY for many policies, pipelined; each result is undefined (done) or the refusal. `pid` as for addSas. */
  deletePolicies(keys: PolicyKey[], pid = 0): (NetlinkError | undefined)[] {
    return this.socket.writeMany(keys.map((key) => ({ ...encodeDelPolicy(key), pid })));
  }

  close(): void {
    this.dumpSocket?.close();
    this.socket.close();
  }
}
