import { parseAck } from './ack.js';
import { readS32 } from './bytes.js';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP } from './constants.js';
import { DecodeError, NetlinkError, NetlinkTimeoutError } from './errors.js';
import { encodedLength, encodeMessageInto, parseMessages, type NetlinkMessage } from './message.js';
import { loadAddon, type NativeNetlinkSocket } from './native.js';

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
}

export type RequestResult = { replies: NetlinkMessage[] } | { error: NetlinkError };

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

/** Enter a named network namespace (/run/netns/NAME, like `ip -n`) for the rest of the process. */
export function enterNetworkNamespace(name: string): void {
  loadAddon().enterNetns(`/run/netns/${name}`);
}

/**
 * A netlink socket with request/reply matching. Replies are matched by sequence number,
 * never by pid: XFRM GETAE echoes the request's pid, not the socket's (reference §4.3).
 * Messages with another sequence number (multicast notifications) are skipped.
 */
export class NetlinkSocket {
  readonly protocol: number;
  private readonly native: NativeNetlinkSocket;
  private readonly timeoutMs: number;
  private nextSeq: number;

  private constructor(protocol: number, native: NativeNetlinkSocket, timeoutMs: number) {
    this.protocol = protocol;
    this.native = native;
    this.timeoutMs = timeoutMs;
    // Start from a time-based value so replies to an earlier process's requests can never match.
    this.nextSeq = (Date.now() & 0x3fffffff) + 1;
  }

  static open(protocol: number, options: OpenOptions = {}): NetlinkSocket {
    const native = new (loadAddon().NetlinkSocket)(protocol);
    const socket = new NetlinkSocket(protocol, native, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (options.receiveBufferBytes !== undefined) native.setReceiveBufferSize(options.receiveBufferBytes);
    return socket;
  }

  get portId(): number {
    return this.native.portId;
  }

  get receiveBufferBytes(): number {
    return this.native.getReceiveBufferSize();
  }

  setReceiveBufferBytes(bytes: number): number {
    return this.native.setReceiveBufferSize(bytes);
  }

  private takeSeq(): number {
    const seq = this.nextSeq;
    this.nextSeq = this.nextSeq >= 0xffffffff ? 1 : this.nextSeq + 1;
    return seq;
  }

  private flagsOf(request: Request): number {
    let flags = NLM_F_REQUEST | (request.flags ?? 0);
    if (request.completion === 'ack') flags |= NLM_F_ACK;
    if (request.completion === 'dump') flags |= NLM_F_DUMP;
    return flags;
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
    if (requests.length > 1 && this.native.getReceiveBufferSize() < PIPELINE_RCVBUF) {
      this.native.setReceiveBufferSize(PIPELINE_RCVBUF);
    }
    for (let start = 0; start < requests.length; start += PIPELINE_CHUNK) {
      const end = Math.min(start + PIPELINE_CHUNK, requests.length);
      const pending = new Map<number, { index: number; request: Request; replies: NetlinkMessage[] }>();
      let size = 0;
      for (let i = start; i < end; i++) size += encodedLength(requests[i]!.parts);
      const datagram = Buffer.allocUnsafe(size);
      let offset = 0;
      for (let i = start; i < end; i++) {
        const request = requests[i]!;
        const seq = this.takeSeq();
        pending.set(seq, { index: i, request, replies: [] });
        offset = encodeMessageInto(datagram, offset, { type: request.type, flags: this.flagsOf(request), seq, pid: 0 }, request.parts);
      }
      this.native.send(datagram);
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

  private receiveDatagrams(): Buffer[] {
    let datagrams: Buffer[];
    try {
      datagrams = this.native.receiveAll(this.timeoutMs);
    } catch (error) {
      throw overflowAsTimeout(error);
    }
    if (datagrams.length === 0) {
      throw new NetlinkTimeoutError(`no answer from the kernel within ${this.timeoutMs} ms`);
    }
    return datagrams;
  }

  /**
   * For callers that encode and match requests themselves, byte by byte (see pipeline.ts):
   * `count` consecutive sequence numbers that do not wrap; returns the first.
   */
  reserveSeqs(count: number): number {
    if (this.nextSeq > 0xffffffff - count) this.nextSeq = 1;
    const first = this.nextSeq;
    this.nextSeq += count;
    return first;
  }

  /** Send one datagram of requests encoded by the caller. */
  sendRaw(datagram: Uint8Array): void {
    this.native.send(datagram);
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
      throw overflowAsTimeout(error);
    }
    if (used === 0) throw new NetlinkTimeoutError(`no answer from the kernel within ${this.timeoutMs} ms`);
    return used;
  }

  joinGroup(group: number): void {
    this.native.addMembership(group);
  }

  leaveGroup(group: number): void {
    this.native.dropMembership(group);
  }

  /**
   * Receive asynchronously on the event loop. Every wake-up hands over all queued messages
   * at once. A datagram that does not parse is reported through onDecodeError and skipped.
   */
  listen(handlers: {
    onMessages: (messages: NetlinkMessage[]) => void;
    onOverrun: () => void;
    onDecodeError: (error: DecodeError) => void;
  }): void {
    this.native.startReceiving(
      (datagrams) => {
        const messages: NetlinkMessage[] = [];
        for (const datagram of datagrams) {
          try {
            for (const message of parseMessages(datagram)) messages.push(message);
          } catch (error) {
            if (error instanceof DecodeError) handlers.onDecodeError(error);
            else throw error;
          }
        }
        if (messages.length > 0) handlers.onMessages(messages);
      },
      () => handlers.onOverrun(),
    );
  }

  stopListening(): void {
    this.native.stopReceiving();
  }

  close(): void {
    this.native.close();
  }
}

function overflowAsTimeout(error: unknown): unknown {
  if ((error as NodeJS.ErrnoException).code !== 'ENOBUFS') return error;
  return new NetlinkTimeoutError('the kernel dropped replies because the receive buffer overflowed; retry, or ask for fewer items at once');
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
