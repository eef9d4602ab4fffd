// Bulk requests on one socket, byte by byte: a dump streamed batch by batch, and many
// requests that each get exactly one answer (XFRM GETAE), sent back to back and matched to
// their answers by sequence offset. No object per message: callers get offsets into the
// receive buffer, which the next batch overwrites (docs/kernel/netlink.md).
import { parseAck } from './ack.js';
import { align4, readS32, readU16, readU32, writeU32 } from './bytes.js';
import { NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP } from './constants.js';
import { DecodeError, NetlinkError } from './errors.js';
import { encodeMessage } from './message.js';
import { forEachMessage, NLMSG_FLAGS_AT, NLMSG_LEN_AT, NLMSG_SEQ_AT, NLMSG_TYPE_AT } from './scan.js';
import { PIPELINE_RCVBUF, type NetlinkSocket, type Request } from './socket.js';

/** Where received datagrams go: 1 MiB holds one full dump batch or thousands of small replies. */
const RECEIVE_BUFFER_BYTES = 1 << 20;
/**
 * Requests per datagram. The kernel answers all of them while we are still in sendto(), and
 * drops what does not fit the receive buffer (PIPELINE_RCVBUF) at once: a GETAE reply takes
 * about 1 KiB of it.
 */
const REQUESTS_PER_SEND = 512;

export type MessageVisitor = (buf: Buffer, at: number, length: number) => void;

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
 * Run a dump and visit each of its messages. `afterBatch` runs after each received batch, when
 * the kernel has paused the dump until the next receive: the place to act on what was seen.
 */
export function dumpEach(socket: NetlinkSocket, request: Request, visit: MessageVisitor, afterBatch?: () => void): void {
  const seq = socket.reserveSeqs(1);
  const flags = NLM_F_REQUEST | NLM_F_DUMP | (request.flags ?? 0);
  socket.sendRaw(encodeMessage({ type: request.type, flags, seq, pid: 0 }, ...request.parts));
  const buf = Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES);
  let done = false;
  const onMessage = (at: number, length: number): void => {
    if (done || readU32(buf, at + NLMSG_SEQ_AT) !== seq) return;
    const type = readU16(buf, at + NLMSG_TYPE_AT);
    if (type === NLMSG_DONE) {
      // DONE carries an int: a negative errno when the dump failed part-way.
      const status = length >= NLMSG_HDRLEN + 4 ? readS32(buf, at + NLMSG_HDRLEN) : 0;
      if (status < 0) throw new NetlinkError(-status);
      done = true;
    } else if (type === NLMSG_ERROR) {
      const error = errorAt(buf, at, length);
      if (error) throw error;
      done = true;
    } else if (type !== NLMSG_NOOP) {
      visit(buf, at, length);
    }
  };
  while (!done) {
    forEachMessage(buf, socket.receiveInto(buf), onMessage);
    afterBatch?.();
  }
}

/**
 * Send the requests encoded back to back in requests[0, end) and hand over their answers in
 * request order: onReply(buf, at, length, index) or onError(error, index). Each request must
 * be answered by exactly one message, a reply or an NLMSG_ERROR (GETAE without NLM_F_ACK).
 * Sequence numbers are written here; an answer is matched by its offset from the first.
 */
export function pipelineEach(
  socket: NetlinkSocket,
  requests: Buffer,
  end: number,
  onReply: (buf: Buffer, at: number, length: number, index: number) => void,
  onError: (error: NetlinkError, index: number) => void,
): void {
  if (socket.receiveBufferBytes < PIPELINE_RCVBUF) socket.setReceiveBufferBytes(PIPELINE_RCVBUF);
  const buf = Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES);
  let done = 0;
  for (let start = 0; start < end; ) {
    const first = socket.reserveSeqs(REQUESTS_PER_SEND);
    let count = 0;
    let at = start;
    for (; at < end && count < REQUESTS_PER_SEND; count++) {
      writeU32(requests, first + count, at + NLMSG_SEQ_AT);
      at += align4(readU32(requests, at + NLMSG_LEN_AT));
    }
    socket.sendRaw(requests.subarray(start, at));
    let answered = 0;
    const onMessage = (m: number, length: number): void => {
      const offset = readU32(buf, m + NLMSG_SEQ_AT) - first;
      if (offset < 0 || offset >= count) return; // not ours: a notification, or an old answer
      if (offset !== answered) throw new DecodeError(`the answer to request ${offset} came while ${answered} was awaited`);
      answered++;
      if (readU16(buf, m + NLMSG_TYPE_AT) !== NLMSG_ERROR) return onReply(buf, m, length, done + offset);
      const error = errorAt(buf, m, length);
      if (!error) throw new Error('internal: a pipelined request was acked instead of answered (no NLM_F_ACK here)');
      onError(error, done + offset);
    };
    while (answered < count) forEachMessage(buf, socket.receiveInto(buf), onMessage);
    done += count;
    start = at;
  }
}
