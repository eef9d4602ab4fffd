import { align4, readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { NLMSG_HDRLEN } from './constants.js';
import { DecodeError } from './errors.js';
import { NLMSG_FLAGS_AT, NLMSG_LEN_AT, NLMSG_PID_AT, NLMSG_SEQ_AT, NLMSG_TYPE_AT } from './scan.js';

export interface NetlinkHeader {
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export interface NetlinkMessage extends NetlinkHeader {
  /** Everything after the 16-byte header, `nlmsg_len - 16` bytes (a view, not a copy). */
  payload: Buffer;
}

/** nlmsg_len of a message with these parts: header and parts, without the final padding. */
function messageLength(parts: Buffer[]): number {
  let length = NLMSG_HDRLEN;
  for (const part of parts) length += part.length;
  return length;
}

/** nlmsg_len of a received message: its header and payload. */
export function receivedLength(message: NetlinkMessage): number {
  return NLMSG_HDRLEN + message.payload.length;
}

/** Bytes a message with these parts takes in a datagram, padding included. */
export function encodedLength(parts: Buffer[]): number {
  return align4(messageLength(parts));
}

/**
 * Write one message (header, then the parts back to back, each already 4-aligned) into
 * `target` at `offset`; returns the offset after it. Lets many requests share one datagram
 * without an allocation per request.
 */
export function encodeMessageInto(target: Buffer, offset: number, header: NetlinkHeader, parts: Buffer[]): number {
  const length = messageLength(parts);
  writeU32(target, length, offset + NLMSG_LEN_AT);
  writeU16(target, header.type, offset + NLMSG_TYPE_AT);
  writeU16(target, header.flags, offset + NLMSG_FLAGS_AT);
  writeU32(target, header.seq, offset + NLMSG_SEQ_AT);
  writeU32(target, header.pid, offset + NLMSG_PID_AT);
  let at = offset + NLMSG_HDRLEN;
  for (const part of parts) at += part.copy(target, at);
  target.fill(0, at, offset + align4(length));
  return offset + align4(length);
}

/** Build one message: header, then the parts back to back (each already 4-aligned). */
export function encodeMessage(header: NetlinkHeader, ...parts: Buffer[]): Buffer {
  const message = Buffer.allocUnsafe(encodedLength(parts));
  encodeMessageInto(message, 0, header, parts);
  return message;
}

/** Messages split off a buffer, and why splitting stopped early, if it did. */
export interface SplitMessages {
  messages: NetlinkMessage[];
  /** The bytes from `consumed` on do not frame a message; unset when every byte was used. */
  error: DecodeError | undefined;
  /** Bytes taken by `messages`, padding included. */
  consumed: number;
}

/**
 * Take messages off `buffer` until it ends or a length does not fit. Several messages share
 * one datagram, each starting at the 4-aligned end of the previous one. Never loops forever:
 * every step advances by at least NLMSG_HDRLEN. `baseOffset` is where `buffer` starts in its
 * stream, so that errors name the offset a reader can find. With `partial`, an incomplete
 * last message is no error but left for more data (a stream read in chunks).
 */
export function splitMessages(buffer: Buffer, baseOffset = 0, partial = false): SplitMessages {
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const remaining = buffer.length - offset;
    const at = baseOffset + offset;
    if (remaining < NLMSG_HDRLEN) {
      if (partial) break;
      return { messages, consumed: offset, error: new DecodeError(`truncated netlink header: ${remaining} bytes left at offset ${at}`) };
    }
    const length = readU32(buffer, offset);
    if (length < NLMSG_HDRLEN) {
      return { messages, consumed: offset, error: new DecodeError(`netlink message length ${length} at offset ${at} is shorter than its header`) };
    }
    if (length > remaining) {
      if (partial && length <= MAX_MESSAGE_BYTES) break;
      const limit = partial ? `the ${MAX_MESSAGE_BYTES} bytes a message may have` : `the ${remaining} bytes left`;
      return { messages, consumed: offset, error: new DecodeError(`netlink message length ${length} at offset ${at} exceeds ${limit}`) };
    }
    messages.push({
      type: readU16(buffer, offset + NLMSG_TYPE_AT),
      flags: readU16(buffer, offset + NLMSG_FLAGS_AT),
      seq: readU32(buffer, offset + NLMSG_SEQ_AT),
      pid: readU32(buffer, offset + NLMSG_PID_AT),
      payload: buffer.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset = Math.min(offset + align4(length), buffer.length);
  }
  return { messages, consumed: offset, error: undefined };
}

/**
 * The largest message a stream of saved messages may hold. The kernel's own messages stay far
 * below it (an SA with every attribute is a few KiB); the bound keeps a corrupt length field
 * from making a reader buffer gigabytes before it can tell.
 */
export const MAX_MESSAGE_BYTES = 1 << 20;

/** Every message of a datagram; throws DecodeError on any length that does not fit. */
export function parseMessages(datagram: Buffer): NetlinkMessage[] {
  const { messages, error } = splitMessages(datagram);
  if (error) throw error;
  return messages;
}
