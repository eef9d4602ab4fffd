// Bulk requests on one socket, byte by byte: a dump streamed batch by batch, and many
// requests that each get exactly one answer (XFRM GETAE), sent back to back and matched to
// their answers by sequence offset. No object per message: callers get offsets into the
// receive buffer, which the next batch overwrites (docs/kernel/netlink.md).
//
// Each comes in two forms. dumpEach/pipelineEach do everything in the calling thread, one
// step after the other. dumpEachInBackground/BackgroundPipeline leave the kernel's share to a
// worker thread (NetlinkSocket.exchangeInto): the next dump batch is read, and the next
// requests answered, while the caller decodes the previous ones, so on two CPUs a bulk read
// costs about the larger of the two shares instead of their sum
// (docs/kernel/netlink.md#bulk-requests-on-a-worker-thread).
import { parseAck } from './ack.js';
import { align4, readS32, readU16, readU32, writeU32 } from './bytes.js';
import { NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP } from './constants.js';
import { DecodeError, NetlinkError } from './errors.js';
import { encodeMessage } from './message.js';
import { forEachMessage, NLMSG_FLAGS_AT, NLMSG_LEN_AT, NLMSG_SEQ_AT, NLMSG_TYPE_AT } from './scan.js';
import { PIPELINE_RCVBUF, type NetlinkSocket, type Request } from './socket.js';

/** Where received datagrams go: 1 MiB holds several dump batches or thousands of small replies. */
const RECEIVE_BUFFER_BYTES = 1 << 20;
/**
 * Requests per datagram. The kernel answers all of them while we are still in sendto(), and
 * drops what does not fit the receive buffer (PIPELINE_RCVBUF) at once: a GETAE reply takes
 * about 1 KiB of it.
 */
export const REQUESTS_PER_SEND = 512;
/** An exchange that only receives. */
const NOTHING_TO_SEND = new Uint8Array(0);

export type MessageVisitor = (buf: Buffer, at: number, length: number) => void;
export type ReplyVisitor = (buf: Buffer, at: number, length: number, index: number) => void;
export type ErrorVisitor = (error: NetlinkError, index: number) => void;

/** The kernel's error answer at `at`: NetlinkError, or undefined for a positive ack. */
function errorAt(buf: Buffer, at: number, length: number): NetlinkError | undefined {
  const ack = parseAck({
    type: NLMSG_ERROR,
    flags: readU16(buf, at + NLMSG_FLAGS_AT),
    seq: readU32(buf, at + NLMSG_SEQ_AT),
    pid: 0,
    payload: buf.subarray(at + NLMSG_HDRLEN, at + length),
  });
  return ack.errno === 0 ? undefined : new NetlinkError(ack.errno, ack.kernelMessage, ack.attributeOffset);
}

/**
 * A background exchange whose failure may go unobserved (the caller threw meanwhile): marked
 * handled so that it is not an unhandled rejection; awaiting it still throws.
 */
function observed(exchange: Promise<number>): Promise<number> {
  exchange.catch(() => undefined);
  return exchange;
}

/** A dump's answers: its entries are visited until NLMSG_DONE, or an error ends it. */
class DumpAnswers {
  done = false;
  private buf: Buffer = Buffer.alloc(0);
  private readonly onMessage = (at: number, length: number): void => {
    const buf = this.buf;
    if (this.done || readU32(buf, at + NLMSG_SEQ_AT) !== this.seq) return;
    const type = readU16(buf, at + NLMSG_TYPE_AT);
    if (type === NLMSG_DONE) {
      // DONE carries an int: a negative errno when the dump failed part-way.
      const status = length >= NLMSG_HDRLEN + 4 ? readS32(buf, at + NLMSG_HDRLEN) : 0;
      if (status < 0) throw new NetlinkError(-status);
      this.done = true;
    } else if (type === NLMSG_ERROR) {
      const error = errorAt(buf, at, length);
      if (error) throw error;
      this.done = true;
    } else if (type !== NLMSG_NOOP) {
      this.visit(buf, at, length);
    }
  };

  constructor(
    readonly seq: number,
    private readonly visit: MessageVisitor,
  ) {}

  /** Visit the dump's messages in buf[0, used). */
  take(buf: Buffer, used: number): void {
    this.buf = buf;
    forEachMessage(buf, used, this.onMessage);
  }

  /** Whether buf[0, used) holds the dump's end (NLMSG_DONE or NLMSG_ERROR), without visiting anything. */
  endsIn(buf: Buffer, used: number): boolean {
    let ends = false;
    forEachMessage(buf, used, (at) => {
      if (readU32(buf, at + NLMSG_SEQ_AT) !== this.seq) return;
      const type = readU16(buf, at + NLMSG_TYPE_AT);
      if (type === NLMSG_DONE || type === NLMSG_ERROR) ends = true;
    });
    return ends;
  }
}

function dumpRequest(request: Request, seq: number): Buffer {
  const flags = NLM_F_REQUEST | NLM_F_DUMP | (request.flags ?? 0);
  return encodeMessage({ type: request.type, flags, seq, pid: 0 }, ...request.parts);
}

/**
 * Run a dump and visit each of its messages. `afterBatch` runs after each received batch, when
 * the kernel has paused the dump until the next receive: the place to act on what was seen.
 */
export function dumpEach(socket: NetlinkSocket, request: Request, visit: MessageVisitor, afterBatch?: () => void): void {
  const answers = new DumpAnswers(socket.reserveSeqs(1), visit);
  socket.sendRaw(dumpRequest(request, answers.seq));
  const buf = Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES);
  try {
    while (!answers.done) {
      answers.take(buf, socket.receiveInto(buf));
      afterBatch?.();
    }
  } finally {
    if (request.secret) buf.fill(0);
  }
}

/**
 * dumpEach with the kernel's share on a worker thread: while one batch is visited (and
 * `afterBatch` awaited), the next is read. The socket is busy until this settles.
 */
export async function dumpEachInBackground(
  socket: NetlinkSocket,
  request: Request,
  visit: MessageVisitor,
  afterBatch?: () => void | Promise<void>,
): Promise<void> {
  const answers = new DumpAnswers(socket.reserveSeqs(1), visit);
  const buffers = [Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES), Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES)] as const;
  let reading: Promise<number> | undefined = observed(socket.exchangeInto(dumpRequest(request, answers.seq), buffers[0]));
  try {
    for (let which = 0; reading; which ^= 1) {
      const buf = buffers[which]!;
      const used: number = await reading;
      // Another read after the end would wait for the timeout: nothing more is coming.
      reading = answers.endsIn(buf, used) ? undefined : observed(socket.exchangeInto(NOTHING_TO_SEND, buffers[which ^ 1]!));
      answers.take(buf, used);
      await afterBatch?.();
    }
  } catch (error) {
    // Hand the socket back idle: a read still in flight would make every later call on it fail.
    await reading?.catch(() => undefined);
    throw error;
  }
}

/**
 * Up to REQUESTS_PER_SEND requests sent in one datagram, numbered from `first`, and the
 * matching of their answers: each request is answered by exactly one message, a reply or an
 * NLMSG_ERROR (GETAE without NLM_F_ACK), in request order.
 */
class RequestBatch {
  first = 0;
  count = 0;
  /** Index of the batch's first request among all that were sent. */
  base = 0;
  answered = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly onMessage = (at: number, length: number): void => {
    const buf = this.buf;
    const offset = readU32(buf, at + NLMSG_SEQ_AT) - this.first;
    if (offset < 0 || offset >= this.count) return; // not ours: a notification, or an old answer
    if (offset !== this.answered) throw new DecodeError(`the answer to request ${offset} came while ${this.answered} was awaited`);
    this.answered++;
    if (readU16(buf, at + NLMSG_TYPE_AT) !== NLMSG_ERROR) return this.onReply(buf, at, length, this.base + offset);
    const error = errorAt(buf, at, length);
    if (!error) throw new Error('internal: a pipelined request was acked instead of answered (no NLM_F_ACK here)');
    this.onError(error, this.base + offset);
  };

  constructor(
    private readonly onReply: ReplyVisitor,
    private readonly onError: ErrorVisitor,
  ) {}

  /**
   * Number the requests in requests[start, end), at most REQUESTS_PER_SEND of them, in place
   * with sequence numbers from the socket; returns where the batch ends.
   */
  number(socket: NetlinkSocket, requests: Buffer, start: number, end: number, base: number): number {
    this.first = socket.reserveSeqs(REQUESTS_PER_SEND);
    this.base = base;
    this.answered = 0;
    let count = 0;
    let at = start;
    for (; at < end && count < REQUESTS_PER_SEND; count++) {
      writeU32(requests, this.first + count, at + NLMSG_SEQ_AT);
      at += align4(readU32(requests, at + NLMSG_LEN_AT));
    }
    this.count = count;
    return at;
  }

  /** Hand over the answers in buf[0, used), in order; `answered` counts them. */
  take(buf: Buffer, used: number): void {
    this.buf = buf;
    forEachMessage(buf, used, this.onMessage);
  }

  /** How many of the batch's answers buf[0, used) holds, without handing any over. */
  answersIn(buf: Buffer, used: number): number {
    let answers = 0;
    forEachMessage(buf, used, (at) => {
      const offset = readU32(buf, at + NLMSG_SEQ_AT) - this.first;
      if (offset >= 0 && offset < this.count) answers++;
    });
    return answers;
  }
}

function prepareForPipelining(socket: NetlinkSocket): void {
  if (socket.receiveBufferBytes < PIPELINE_RCVBUF) socket.setReceiveBufferBytes(PIPELINE_RCVBUF);
}

/**
 * Send the requests encoded back to back in requests[0, end) and hand over their answers in
 * request order: onReply(buf, at, length, index) or onError(error, index). Each request must
 * be answered by exactly one message, a reply or an NLMSG_ERROR (GETAE without NLM_F_ACK).
 * Sequence numbers are written here; an answer is matched by its offset from the first.
 */
export function pipelineEach(socket: NetlinkSocket, requests: Buffer, end: number, onReply: ReplyVisitor, onError: ErrorVisitor): void {
  prepareForPipelining(socket);
  const buf = Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES);
  const batch = new RequestBatch(onReply, onError);
  let sent = 0;
  for (let start = 0; start < end; ) {
    const next = batch.number(socket, requests, start, end, sent);
    socket.sendRaw(requests.subarray(start, next));
    while (batch.answered < batch.count) batch.take(buf, socket.receiveInto(buf));
    sent += batch.count;
    start = next;
  }
}

/** A RequestBatch with its own copy of the requests and a buffer for its answers. */
class BackgroundBatch extends RequestBatch {
  requests = Buffer.allocUnsafe(64 * 1024);
  length = 0;
  readonly answers = Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES);
  used = 0;
}

/**
 * pipelineEach with the kernel's share on a worker thread. send() starts the exchange of its
 * requests (a batch at a time) and, while the kernel answers them, hands over the answers to
 * the batch before; finish() hands over the last. The requests are copied: the caller's
 * buffer is free again when send() resolves. The socket is busy until finish() settles.
 */
export class BackgroundPipeline {
  private readonly batches: readonly [BackgroundBatch, BackgroundBatch];
  private next = 0;
  private sent = 0;
  private inFlight: { batch: BackgroundBatch; exchange: Promise<number> } | undefined;

  constructor(
    private readonly socket: NetlinkSocket,
    onReply: ReplyVisitor,
    onError: ErrorVisitor,
  ) {
    prepareForPipelining(socket);
    this.batches = [new BackgroundBatch(onReply, onError), new BackgroundBatch(onReply, onError)];
  }

  /** The requests encoded back to back in requests[0, end), answered in order as in pipelineEach. */
  async send(requests: Buffer, end: number): Promise<void> {
    try {
      await this.sendBatches(requests, end);
    } catch (error) {
      // Hand the socket back idle (its unread answers are skipped by sequence number later).
      await this.inFlight?.exchange.catch(() => undefined);
      this.inFlight = undefined;
      throw error;
    }
  }

  private async sendBatches(requests: Buffer, end: number): Promise<void> {
    for (let start = 0; start < end; ) {
      const answered = await this.settle();
      const batch = this.batches[this.next]!;
      this.next ^= 1;
      const next = batch.number(this.socket, requests, start, end, this.sent);
      batch.length = next - start;
      if (batch.requests.length < batch.length) batch.requests = Buffer.allocUnsafe(batch.length);
      requests.copy(batch.requests, 0, start, next);
      // number() wrote the sequence numbers into the caller's buffer, copied with the rest.
      this.sent += batch.count;
      this.inFlight = { batch, exchange: observed(this.socket.exchangeInto(batch.requests.subarray(0, batch.length), batch.answers)) };
      answered?.take(answered.answers, answered.used);
      start = next;
    }
  }

  /** Hand over the answers still outstanding. */
  async finish(): Promise<void> {
    const answered = await this.settle();
    answered?.take(answered.answers, answered.used);
  }

  /**
   * Wait for the exchange in flight and make sure its batch has all its answers: the kernel
   * queues them all inside sendto(), so the worker's read normally has them; any that came
   * later are read here, while the socket is idle.
   */
  private async settle(): Promise<BackgroundBatch | undefined> {
    const inFlight = this.inFlight;
    if (!inFlight) return undefined;
    this.inFlight = undefined;
    const batch = inFlight.batch;
    batch.used = await inFlight.exchange;
    for (let answers = batch.answersIn(batch.answers, batch.used); answers < batch.count; ) {
      const rest = batch.answers.subarray(batch.used);
      const used = this.socket.receiveInto(rest);
      answers += batch.answersIn(rest, used);
      batch.used += used;
    }
    return batch;
  }
}
