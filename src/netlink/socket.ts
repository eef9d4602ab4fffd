import { parseAck } from './ack.js';
import { readS32, U32_MAX } from './bytes.js';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP } from './constants.js';
import { readSocketDrops } from './drops.js';
import { callNative, isOverrun, NetlinkError, NetlinkOverrunError, NetlinkTimeoutError, syscallError, withErrnoCode } from './errors.js';
import { encodedLength, encodeMessageInto, parseMessages, type NetlinkMessage } from './message.js';
import { loadAddon, type NativeConstants, type NativeNetlinkSocket } from './native.js';

/** How a request ends (netlink has no generic "this is the last reply" marker). */
export type Completion =
  /** One reply message (or an NLMSG_ERROR), e.g. XFRM GETAE. */
  | 'reply'
  /** An NLMSG_ERROR with error 0 (ack) or an errno; replies before it are collected. */
  | 'ack'
  /** NLM_F_MULTI messages until NLMSG_DONE. */
  | 'dump';

export interface Request {
  type: number;
  /** NLM_F_REQUEST is always added; NLM_F_ACK for 'ack', NLM_F_DUMP for 'dump'. */
  flags?: number;
  /** Fixed header and attributes, already encoded and 4-aligned. */
  parts: Buffer[];
  completion: Completion;
  /**
   * nlmsg_pid to put in the header, 0 by default. Some kernel notifications echo it (XFRM
   * NEWAE's CU event, docs/kernel/newae.md), which lets a listener recognise its own writes.
   */
  pid?: number;
  /**
   * The request or its answers hold secrets (an SA's keys): the datagram the socket packs the
   * parts into is zeroed once sent, so no copy is left in Node's shared buffer pool, and a
   * dump's receive buffer is zeroed when the dump ends. The parts are the caller's to zero.
   */
  secret?: boolean;
}

export type RequestResult = { replies: NetlinkMessage[] } | { error: NetlinkError };

export interface ListenHandlers {
  /** Datagrams in arrival order, as received (split them with splitMessages). */
  onDatagrams: (datagrams: Buffer[]) => void;
  /**
   * A datagram longer than the read buffer: `kept` holds its first bytes (already cut, not in
   * onDatagrams), `fullBytes` its real size. Delivered in arrival order with the others.
   */
  onTruncated: (kept: Buffer, fullBytes: number) => void;
  /** The kernel dropped messages: how many since the last report, undefined if unknown. */
  onOverrun: (dropped: number | undefined) => void;
  /** Receiving failed for another reason and has stopped. */
  onError: (error: Error) => void;
}

export interface OpenOptions {
  /** Receive buffer size in bytes (SO_RCVBUFFORCE, falling back to SO_RCVBUF). */
  receiveBufferBytes?: number;
  /** How long a request may wait for its answer. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
/**
 * Requests packed into one datagram by requestMany. The kernel answers all of them while
 * we are still in sendto(); the replies must fit our receive buffer at once, or the kernel
 * drops them (netlink_unicast from the kernel never waits).
 */
const PIPELINE_CHUNK = 128;
export const PIPELINE_RCVBUF = 4 * 1024 * 1024;
/** receiveQueued() reads at most this many batches (of up to 1024 datagrams), so a flood cannot keep it. */
const QUEUED_ROUNDS = 64;

/** Enter a named network namespace (/run/netns/NAME, like `ip -n`): this thread, until the next. */
export function enterNetworkNamespace(name: string): void {
  enterNetworkNamespaceFile(`/run/netns/${name}`);
}

/** Enter the network namespace of a namespace file, e.g. /proc/self/fd/N for one held open. */
export function enterNetworkNamespaceFile(path: string): void {
  const addon = loadAddon();
  callNative(() => addon.enterNetns(path));
}

/**
 * A netlink socket with request/reply matching. Replies are matched by sequence number,
 * never by pid: XFRM GETAE echoes the request's header pid, not the socket's port id
 * (docs/kernel/netlink.md; net/xfrm/xfrm_user.c: xfrm_get_ae()).
 * Messages with another sequence number (multicast notifications) are skipped.
 */
export class NetlinkSocket {
  readonly protocol: number;
  private readonly native: NativeNetlinkSocket;
  private readonly timeoutMs: number;
  private nextSeq: number;
  /** The socket's drop counter when losses were last reported: a new socket's starts at 0. */
  private dropsReported = 0;

  private constructor(protocol: number, native: NativeNetlinkSocket, timeoutMs: number) {
    this.protocol = protocol;
    this.native = native;
    this.timeoutMs = timeoutMs;
    // Start from a time-based value so replies to an earlier process's requests can never match.
    this.nextSeq = (Date.now() & 0x3fffffff) + 1;
  }

  static open(protocol: number, options: OpenOptions = {}): NetlinkSocket {
    const addon = loadAddon();
    const native = callNative(() => new addon.NetlinkSocket(protocol));
    const socket = new NetlinkSocket(protocol, native, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      // Extended acks explain EINVAL; capped acks keep the ack of a big request small. Both
      // are niceties that old kernels lack (ENOPROTOOPT), never a reason to fail.
      for (const option of [addon.constants.NETLINK_EXT_ACK, addon.constants.NETLINK_CAP_ACK]) {
        socket.setOptionIfKnown(addon.constants.SOL_NETLINK, option, 1);
      }
      if (options.receiveBufferBytes !== undefined) socket.setReceiveBufferBytes(options.receiveBufferBytes);
    } catch (error) {
      native.close();
      throw error;
    }
    return socket;
  }

  private get constants(): NativeConstants {
    return loadAddon().constants;
  }

  private setOptionIfKnown(level: number, option: number, value: number): void {
    try {
      callNative(() => this.native.setSockOptInt(level, option, value));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOPROTOOPT') throw error;
    }
  }

  get portId(): number {
    return this.native.portId;
  }

  get receiveBufferBytes(): number {
    const { SOL_SOCKET, SO_RCVBUF } = this.constants;
    return callNative(() => this.native.getSockOptInt(SOL_SOCKET, SO_RCVBUF));
  }

  /**
   * SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; without it, the capped
   * SO_RCVBUF is the best there is. Returns what the kernel granted (it doubles the request).
   */
  setReceiveBufferBytes(bytes: number): number {
    const { SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE } = this.constants;
    try {
      callNative(() => this.native.setSockOptInt(SOL_SOCKET, SO_RCVBUFFORCE, bytes));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
      callNative(() => this.native.setSockOptInt(SOL_SOCKET, SO_RCVBUF, bytes));
    }
    return this.receiveBufferBytes;
  }

  private flagsOf(request: Request): number {
    let flags = NLM_F_REQUEST | (request.flags ?? 0);
    if (request.completion === 'ack') flags |= NLM_F_ACK;
    if (request.completion === 'dump') flags |= NLM_F_DUMP;
    return flags;
  }

  /**
   * requests[start, end) in one datagram, numbered from firstSeq. With ackLastOnly, NLM_F_ACK
   * is left off every request but the last (writeMany).
   */
  private packDatagram(requests: Request[], start: number, end: number, firstSeq: number, ackLastOnly: boolean): Buffer {
    let size = 0;
    for (let i = start; i < end; i++) size += encodedLength(requests[i]!.parts);
    const datagram = Buffer.allocUnsafe(size);
    let offset = 0;
    for (let i = start; i < end; i++) {
      const request = requests[i]!;
      let flags = this.flagsOf(request);
      if (ackLastOnly && i < end - 1) flags &= ~NLM_F_ACK;
      offset = encodeMessageInto(datagram, offset, { type: request.type, flags, seq: firstSeq + (i - start), pid: request.pid ?? 0 }, request.parts);
    }
    return datagram;
  }

  private sendPacked(requests: Request[], start: number, end: number, firstSeq: number, ackLastOnly: boolean): void {
    const datagram = this.packDatagram(requests, start, end, firstSeq, ackLastOnly);
    try {
      callNative(() => this.native.send(datagram));
    } finally {
      for (let i = start; i < end; i++) {
        if (requests[i]!.secret) {
          datagram.fill(0);
          break;
        }
      }
    }
  }

  /** Send one request and wait for its complete answer; a kernel error throws NetlinkError. */
  request(request: Request): NetlinkMessage[] {
    const [result] = this.requestMany([request]);
    if (!result) throw new Error('internal: no result for request');
    if ('error' in result) throw result.error;
    return result.replies;
  }

  /**
   * Send many requests, packed several to a datagram, and collect each one's answer.
   * Per-request kernel errors are returned, not thrown, so a caller can skip e.g. an SA that
   * vanished (ESRCH) and keep the rest.
   */
  requestMany(requests: Request[]): RequestResult[] {
    const results: RequestResult[] = new Array(requests.length);
    if (requests.length > 1 && this.receiveBufferBytes < PIPELINE_RCVBUF) this.setReceiveBufferBytes(PIPELINE_RCVBUF);
    for (let start = 0; start < requests.length; start += PIPELINE_CHUNK) {
      const end = Math.min(start + PIPELINE_CHUNK, requests.length);
      const firstSeq = this.reserveSeqs(end - start);
      const pending = new Map<number, { index: number; request: Request; replies: NetlinkMessage[] }>();
      for (let i = start; i < end; i++) pending.set(firstSeq + (i - start), { index: i, request: requests[i]!, replies: [] });
      this.sendPacked(requests, start, end, firstSeq, false);
      while (pending.size > 0) {
        for (const datagram of this.receiveDatagrams()) {
          for (const message of parseMessages(datagram)) {
            const entry = pending.get(message.seq);
            if (!entry) continue;
            const outcome = settle(entry.request.completion, message, entry.replies);
            if (outcome === undefined) continue;
            results[entry.index] = outcome;
            pending.delete(message.seq);
          }
        }
      }
    }
    return results;
  }

  /**
   * Requests the kernel answers with an ack alone (XFRM NEWAE), packed several to a datagram
   * as in requestMany, but with NLM_F_ACK on the last of each datagram only. The kernel runs
   * a datagram's messages in order and answers every failure whether NLM_F_ACK was set or
   * not, so that last ack comes after every error before it (docs/kernel/netlink.md#one-ack-per-datagram;
   * net/netlink/af_netlink.c: netlink_rcv_skb()). One ack per datagram instead of one per
   * request: the kernel builds, and we read, a fraction of the messages.
   * Each result is undefined (done) or the kernel's refusal; other messages with the
   * requests' seqs (a subscribed socket's own NEWAE events) are skipped.
   */
  writeMany(requests: Request[]): (NetlinkError | undefined)[] {
    const results = new Array<NetlinkError | undefined>(requests.length).fill(undefined);
    if (requests.length > 1 && this.receiveBufferBytes < PIPELINE_RCVBUF) this.setReceiveBufferBytes(PIPELINE_RCVBUF);
    for (let start = 0; start < requests.length; start += PIPELINE_CHUNK) {
      const end = Math.min(start + PIPELINE_CHUNK, requests.length);
      for (let i = start; i < end; i++) {
        if (requests[i]!.completion !== 'ack') throw new Error('internal: writeMany takes requests answered by an ack alone');
      }
      const firstSeq = this.reserveSeqs(end - start);
      const lastSeq = firstSeq + (end - start - 1);
      this.sendPacked(requests, start, end, firstSeq, true);
      let acked = false;
      while (!acked) {
        for (const received of this.receiveDatagrams()) {
          for (const message of parseMessages(received)) {
            if (message.type !== NLMSG_ERROR || message.seq < firstSeq || message.seq > lastSeq) continue;
            const ack = parseAck(message);
            if (ack.errno !== 0) results[start + (message.seq - firstSeq)] = new NetlinkError(ack.errno, ack.kernelMessage, ack.attributeOffset);
            if (message.seq === lastSeq) acked = true;
          }
        }
      }
    }
    return results;
  }

  /** What every receive that waited out the socket's timeout throws. */
  private noAnswer(): NetlinkTimeoutError {
    return new NetlinkTimeoutError(`no answer from the kernel within ${this.timeoutMs} ms`);
  }

  private receiveDatagrams(): Buffer[] {
    let datagrams: Buffer[];
    try {
      datagrams = this.native.receiveAll(this.timeoutMs);
    } catch (error) {
      throw replyLoss(error);
    }
    if (datagrams.length === 0) {
      throw this.noAnswer();
    }
    return datagrams;
  }

  /**
   * `count` consecutive sequence numbers that do not wrap (nlmsg_seq is a u32; 0 is never
   * used); returns the first. request() takes one per request; callers that encode and match
   * requests themselves, byte by byte (see pipeline.ts), take a block.
   */
  reserveSeqs(count: number): number {
    if (this.nextSeq + count - 1 > U32_MAX) this.nextSeq = 1;
    const first = this.nextSeq;
    this.nextSeq += count;
    return first;
  }

  /** Send one datagram of requests encoded by the caller. */
  sendRaw(datagram: Uint8Array): void {
    callNative(() => this.native.send(datagram));
  }

  /**
   * Receive what is queued into `buffer` (at least 64 KiB): whole datagrams back to back at
   * 4-aligned offsets. Returns the bytes used; waits up to the socket's timeout for the first.
   */
  receiveInto(buffer: Buffer): number {
    let used: number;
    try {
      used = this.native.receiveInto(buffer, this.timeoutMs);
    } catch (error) {
      throw replyLoss(error);
    }
    if (used === 0) throw this.noAnswer();
    return used;
  }

  /**
   * sendRaw(request) (unless it is empty) and receiveInto(buffer), on a worker thread: the
   * kernel does its part of a bulk request (it answers inside sendto() and builds the next
   * dump batch inside recv()) on another CPU while the caller decodes the previous answers.
   * One exchange at a time; until it settles, nothing else may use the socket or the buffers.
   */
  async exchangeInto(request: Uint8Array, buffer: Buffer): Promise<number> {
    let used: number;
    try {
      used = await this.native.exchangeInto(request, buffer, this.timeoutMs);
    } catch (error) {
      throw replyLoss(error);
    }
    if (used === 0) throw this.noAnswer();
    return used;
  }

  joinGroup(group: number): void {
    const { SOL_NETLINK, NETLINK_ADD_MEMBERSHIP } = this.constants;
    callNative(() => this.native.setSockOptInt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group));
  }

  /**
   * Receive asynchronously on the event loop: every wake-up hands over all queued datagrams
   * at once, unsplit. Losses are reported as they are detected (docs/kernel/netlink.md):
   * an overrun with the number of messages the kernel dropped since the last report.
   * Calling listen() again after stopListening() resumes without a new baseline.
   */
  listen(handlers: ListenHandlers): void {
    callNative(() =>
      this.native.startReceiving(
        (datagrams, fullSizes) => {
          if (fullSizes) deliverCut(datagrams, fullSizes, handlers);
          else handlers.onDatagrams(datagrams);
        },
        (errno) => {
          // The drop counter is read now, before the addon polls again: the report covers
          // every drop up to the moment the overrun was seen.
          if (isOverrun(errno)) return handlers.onOverrun(this.takeUnreportedDrops());
          this.native.stopReceiving();
          handlers.onError(syscallError('recv', errno));
        },
      ),
    );
  }

  /**
   * The datagrams queued right now, without waiting: what a listener that stops still owes its
   * consumer. Bounded by the receive buffer; an overrun here is left to takeUnreportedDrops().
   */
  receiveQueued(): Buffer[] {
    const queued: Buffer[] = [];
    for (let round = 0; round < QUEUED_ROUNDS; round++) {
      let datagrams: Buffer[];
      try {
        datagrams = this.native.receiveAll(0);
      } catch (error) {
        if (isOverrun((error as NodeJS.ErrnoException).errno)) continue;
        throw withErrnoCode(error);
      }
      if (datagrams.length === 0) break;
      queued.push(...datagrams);
    }
    return queued;
  }

  /** Stop receiving; what arrives meanwhile queues in the socket (and overflows it). */
  stopListening(): void {
    callNative(() => this.native.stopReceiving());
  }

  /**
   * Messages the kernel dropped since the last report, read from /proc/net/netlink, and
   * counted as reported from now on. The kernel raises ENOBUFS once per congestion episode
   * (net/netlink/af_netlink.c: netlink_overrun()) but keeps counting drops until the queue
   * drains, so drops after the last report show up only here: call it once more at the end.
   * undefined when the counter cannot be read.
   */
  takeUnreportedDrops(): number | undefined {
    const drops = readSocketDrops(this.protocol, this.portId);
    if (drops === undefined) return undefined;
    const fresh = drops - this.dropsReported;
    this.dropsReported = drops;
    return fresh;
  }

  close(): void {
    callNative(() => this.native.close());
  }
}

/** An overrun while waiting for replies means replies were dropped; other errors keep their errno code. */
function replyLoss(error: unknown): unknown {
  if (isOverrun((error as NodeJS.ErrnoException).errno)) {
    return new NetlinkOverrunError('the kernel dropped replies because the receive buffer overflowed; retry, or ask for fewer items at once');
  }
  return withErrnoCode(error);
}

/** Hand a batch with cut datagrams over in order: whole ones as runs, each cut one alone. */
function deliverCut(datagrams: Buffer[], fullSizes: number[], handlers: ListenHandlers): void {
  let run: Buffer[] = [];
  datagrams.forEach((datagram, i) => {
    const fullBytes = fullSizes[i] ?? datagram.length;
    if (fullBytes === datagram.length) {
      run.push(datagram);
      return;
    }
    if (run.length > 0) handlers.onDatagrams(run);
    run = [];
    handlers.onTruncated(datagram, fullBytes);
  });
  if (run.length > 0) handlers.onDatagrams(run);
}

/** Apply one matching message to a request; returns its result once the request is complete. */
function settle(completion: Completion, message: NetlinkMessage, replies: NetlinkMessage[]): RequestResult | undefined {
  if (message.type === NLMSG_ERROR) {
    const ack = parseAck(message);
    if (ack.errno !== 0) return { error: new NetlinkError(ack.errno, ack.kernelMessage, ack.attributeOffset) };
    return { replies };
  }
  if (message.type === NLMSG_NOOP) return undefined;
  if (completion === 'dump' && message.type === NLMSG_DONE) {
    // DONE carries an int: a negative errno when the dump failed part-way.
    if (message.payload.length >= 4) {
      const error = readS32(message.payload, 0);
      if (error < 0) return { error: new NetlinkError(-error) };
    }
    return { replies };
  }
  replies.push(message);
  return completion === 'reply' ? { replies } : undefined;
}
