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

/** Build one message: header, then the parts back to back (each already 4-aligned). */
export function encodeMessage(header: NetlinkHeader, ...parts: Buffer[]): Buffer {
  let length = NLMSG_HDRLEN;
  for (const part of parts) length += part.length;
  const message = Buffer.alloc(align4(length));
  writeU32(message, length, 0);
  writeU16(message, header.type, 4);
  writeU16(message, header.flags, 6);
  writeU32(message, header.seq, 8);
  writeU32(message, header.pid, 12);
  let offset = NLMSG_HDRLEN;
  for (const part of parts) {
    part.copy(message, offset);
    offset += part.length;
  }
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
