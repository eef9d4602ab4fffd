import { encodeMessage } from '../../src/netlink/message.js';

/** An MPLS label stack entry: the label, and the bottom-of-stack bit when `bottom`. */
export function mplsLabel(label: number, bottom = false): Buffer {
  const entry = Buffer.alloc(4);
  entry.writeUInt32BE(((label << 12) | (bottom ? 0x100 : 0)) >>> 0);
  return entry;
}

export const mplsLabels = (...values: number[]): Buffer[] => values.map((value) => mplsLabel(value));

/**
 * An XFRM_MSG_NEWAE of family AF_MPLS (flags 0x20, reqid 1) with these words at daddr, spi and
 * saddr, and an attribute of type 0x7f holding the `tail` words: ip formats an MPLS address by
 * reading labels past its 16 bytes, through whatever follows.
 */
export function mplsAevent(daddr: Buffer[], spi: Buffer, saddr: Buffer[], tail: Buffer[] = []): Buffer {
  const body = Buffer.alloc(48);
  Buffer.concat(daddr).copy(body, 0);
  spi.copy(body, 16);
  body.writeUInt16LE(28, 20);
  body[22] = 50;
  Buffer.concat(saddr).copy(body, 24);
  body.writeUInt32LE(0x20, 40);
  body.writeUInt32LE(1, 44);
  const attribute = Buffer.alloc(4);
  attribute.writeUInt16LE(4 + 4 * tail.length, 0);
  attribute.writeUInt16LE(0x7f, 2);
  return encodeMessage({ type: 30, flags: 0, seq: 0, pid: 0 }, body, ...(tail.length ? [attribute, ...tail] : []));
}

/** dst reads on into spi, family and saddr: nine labels, the last at saddr's bottom of stack. */
export const NINE_LABELS = mplsAevent(mplsLabels(1, 2, 3, 4), mplsLabel(5), [...mplsLabels(6, 7), mplsLabel(8, true)]);
/** saddr, reqid and flags hold no bottom of stack: ip reads on past the message. */
export const NO_BOTTOM = mplsAevent([mplsLabel(1, true)], mplsLabel(5), mplsLabels(6, 7, 8, 9));
/** A longer message, whose bytes a shorter one after it finds in ip's buffer. */
export const LONGER = mplsAevent(mplsLabels(1, 2, 3, 4), mplsLabel(5), [...mplsLabels(6, 7, 8), mplsLabel(9, true)], Array.from({ length: 40 }, () => mplsLabel(1048575)));
