import { align4, readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { NLMSG_HDRLEN } from './constants.js';
import { DecodeError } from './errors.js';

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
  writeU32(target, length, offset);
  writeU16(target, header.type, offset + 4);
  writeU16(target, header.flags, offset + 6);
  writeU32(target, header.seq, offset + 8);
  writeU32(target, header.pid, offset + 12);
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

/**
 * Split a datagram into its messages (several share one datagram, each starting at the
 * 4-aligned end of the previous one). Throws DecodeError on any length that does not fit;
 * never loops forever, because every step advances by at least NLMSG_HDRLEN.
 */
export function parseMessages(datagram: Buffer): NetlinkMessage[] {
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    const remaining = datagram.length - offset;
    if (remaining < NLMSG_HDRLEN) {
      throw new DecodeError(`truncated netlink header: ${remaining} bytes left at offset ${offset}`);
    }
    const length = readU32(datagram, offset);
    if (length < NLMSG_HDRLEN) {
      throw new DecodeError(`netlink message length ${length} at offset ${offset} is shorter than its header`);
    }
    if (length > remaining) {
      throw new DecodeError(`netlink message length ${length} at offset ${offset} exceeds the ${remaining} bytes left`);
    }
    messages.push({
      type: readU16(datagram, offset + 4),
      flags: readU16(datagram, offset + 6),
      seq: readU32(datagram, offset + 8),
      pid: readU32(datagram, offset + 12),
      payload: datagram.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return messages;
}
