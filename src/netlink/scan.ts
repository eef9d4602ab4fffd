// Walking netlink bytes without building objects, for readers of tens of thousands of
// messages (`xaev list`): callers get offsets into the received buffer and read only the
// fields they need. The checks are those of parseMessages and forEachAttribute: every length
// is checked against what is left, and a bad one is a DecodeError (docs/kernel/netlink.md).
import { align4, readU16, readU32 } from './bytes.js';
import { NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from './constants.js';
import { DecodeError } from './errors.js';

/** Offsets of the nlmsghdr fields (uapi include/uapi/linux/netlink.h). */
export const NLMSG_LEN_AT = 0;
export const NLMSG_TYPE_AT = 4;
export const NLMSG_FLAGS_AT = 6;
export const NLMSG_SEQ_AT = 8;
export const NLMSG_PID_AT = 12;

/**
 * Visit each message in buf[0, end): visit(at, length) with the offset of its header and its
 * nlmsg_len. The payload is buf[at + NLMSG_HDRLEN, at + length).
 */
export function forEachMessage(buf: Buffer, end: number, visit: (at: number, length: number) => void): void {
  let at = 0;
  while (at < end) {
    const remaining = end - at;
    if (remaining < NLMSG_HDRLEN) throw new DecodeError(`truncated netlink header: ${remaining} bytes left at offset ${at}`);
    const length = readU32(buf, at + NLMSG_LEN_AT);
    if (length < NLMSG_HDRLEN) throw new DecodeError(`netlink message length ${length} at offset ${at} is shorter than its header`);
    if (length > remaining) throw new DecodeError(`netlink message length ${length} at offset ${at} exceeds the ${remaining} bytes left`);
    visit(at, length);
    at += align4(length);
  }
}

/**
 * Index the attributes in buf[start, end): index[type] = offset of the attribute's header for
 * every type below index.length (the last one wins), -1 for types not present; larger types
 * are checked and skipped. The payload of the attribute at `at` is buf[at + NLA_HDRLEN, at +
 * attributeLength(buf, at)).
 */
export function indexAttributes(buf: Buffer, start: number, end: number, index: Int32Array): void {
  index.fill(-1);
  let at = start;
  while (at < end) {
    const remaining = end - at;
    if (remaining < NLA_HDRLEN) throw new DecodeError(`truncated attribute header: ${remaining} bytes left at offset ${at - start}`);
    const length = readU16(buf, at);
    if (length < NLA_HDRLEN) throw new DecodeError(`attribute length ${length} at offset ${at - start} is shorter than its header`);
    if (length > remaining) throw new DecodeError(`attribute length ${length} at offset ${at - start} exceeds the ${remaining} bytes left`);
    const type = readU16(buf, at + 2) & NLA_TYPE_MASK;
    if (type < index.length) index[type] = at;
    // The last attribute's padding may be missing: the message length excludes it.
    at += Math.min(align4(length), remaining);
  }
}

/** nla_len of the attribute at `at`: header plus payload, without padding. */
export function attributeLength(buf: Buffer, at: number): number {
  return readU16(buf, at);
}
