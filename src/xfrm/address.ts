import { readU16 } from '../netlink/bytes.js';
import { AF_BRIDGE, AF_INET, AF_INET6, AF_MPLS, AF_PACKET } from './constants.js';

export type Family = 'inet' | 'inet6';

export function familyName(family: number): Family | undefined {
  if (family === AF_INET) return 'inet';
  if (family === AF_INET6) return 'inet6';
  return undefined;
}

/**
 * Format an xfrm_address_t (16 bytes, network order) as iproute2 does (lib/utils.c:
 * rt_addr_n2a_r()): inet_ntop for inet and inet6, link-layer hex for packet, labels for MPLS,
 * the embedded sockaddr for bridge, `???` for any other family. For MPLS and bridge/inet6
 * that function reads past the 16 bytes, into whatever follows in ip's receive buffer: so
 * does this, as far as `bytes` goes (an event's address comes with those bytes, see
 * IprouteReceiveBuffer), and reads zeros beyond it.
 */
export function formatAddress(bytes: Buffer, family: number): string {
  if (family === AF_INET) return formatIPv4(bytes, 0);
  if (family === AF_INET6) return formatIPv6(bytes, 0);
  if (family === AF_PACKET) return [...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  if (family === AF_MPLS) return formatMplsLabels(bytes);
  if (family === AF_BRIDGE) {
    const inner = readU16(bytes, 0);
    if (inner === AF_INET) return formatIPv4(bytes, 4);
    if (inner === AF_INET6) return formatIPv6(zeroPadded(bytes, 24), 8);
  }
  return '???';
}

function formatIPv4(bytes: Buffer, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/** lib/utils.c: rt_addr_n2a() formats into a `static char buf[256]`. */
const IPROUTE_ADDRESS_TEXT_BYTES = 256;
const MPLS_LS_S_MASK = 0x100;
const MPLS_LS_LABEL_SHIFT = 12;

/**
 * Labels, `/`-separated, up to the one with the bottom-of-stack bit, as lib/mpls_ntop.c:
 * mpls_ntop1() writes them: there is no limit on their number, but when the next label (and
 * its terminating NUL) no longer fits the 256-byte text buffer it fails, and ip prints its
 * NULL as `(null)` (glibc's printf).
 */
function formatMplsLabels(bytes: Buffer): string {
  const padded = zeroPadded(bytes, ADDRESS_READ_BYTES);
  let room = IPROUTE_ADDRESS_TEXT_BYTES;
  let text = '';
  // Each label takes at least two characters ("0/"), so the loop ends within ADDRESS_READ_BYTES.
  for (let at = 0; ; at += 4) {
    const entry = padded.readUInt32BE(at);
    const label = String(entry >>> MPLS_LS_LABEL_SHIFT);
    if (label.length >= room) return '(null)';
    if (entry & MPLS_LS_S_MASK) return text + label;
    text += `${label}/`;
    room -= label.length + 1;
  }
}

/** The most formatAddress() reads from an address's start: MPLS labels until ip's text buffer is full. */
export const ADDRESS_READ_BYTES = 4 * (IPROUTE_ADDRESS_TEXT_BYTES / 2);

/** `bytes` if it has `length` bytes, else a copy zero-filled to that length. */
function zeroPadded(bytes: Buffer, length: number): Buffer {
  if (bytes.length >= length) return bytes;
  const padded = Buffer.alloc(length);
  bytes.copy(padded);
  return padded;
}

/** lib/libnetlink.c: rtnl_listen() and rtnl_from_file() read into a `char buf[16384]`. */
const IPROUTE_RECEIVE_BYTES = 16384;

/**
 * What ip's receive buffer holds, for the addresses whose text ip reads past their 16 bytes
 * (formatAddress). ip reads each datagram (rtnl_listen()), or each message of a file with its
 * padding (rtnl_from_file()), into the start of the same buffer: after it lie the bytes of
 * longer earlier ones. Starts zeroed, as ip's buffer is in a fresh process (measured: an MPLS
 * address without a bottom-of-stack label in a file's only message prints `(null)`).
 */
export class IprouteReceiveBuffer {
  private readonly memory = Buffer.alloc(IPROUTE_RECEIVE_BYTES + ADDRESS_READ_BYTES);
  private loaded: Buffer = Buffer.alloc(0);

  /** ip read `data` (a datagram, or one message of a file) into its buffer. */
  load(data: Buffer): void {
    data.copy(this.memory, 0, 0, Math.min(data.length, IPROUTE_RECEIVE_BYTES));
    this.loaded = data;
  }

  /**
   * `address`, a view into the data loaded last, with the bytes ip's buffer holds after it (a
   * copy of ADDRESS_READ_BYTES); `address` itself when it is not in that data.
   */
  withFollowingBytes(address: Buffer): Buffer {
    const at = address.byteOffset - this.loaded.byteOffset;
    if (address.buffer !== this.loaded.buffer || at < 0 || at + address.length > this.loaded.length || at >= IPROUTE_RECEIVE_BYTES) return address;
    return Buffer.from(this.memory.subarray(at, at + ADDRESS_READ_BYTES));
  }
}

/** formatAddress for the address at buf[at], read in place (no view made for inet and inet6). */
export function formatAddressAt(buf: Buffer, at: number, family: number): string {
  if (family === AF_INET) return formatIPv4(buf, at);
  if (family === AF_INET6) return formatIPv6(buf, at);
  return formatAddress(buf.subarray(at, at + 16), family);
}

function formatIPv6(bytes: Buffer, at: number): string {
  const words: number[] = [];
  for (let i = at; i < at + 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // IPv4-mapped and IPv4-compatible forms print the tail as dotted quad, as inet_ntop does.
  const dotted = `${bytes[at + 12]}.${bytes[at + 13]}.${bytes[at + 14]}.${bytes[at + 15]}`;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return `::ffff:${dotted}`;
  if (words.slice(0, 6).every((w) => w === 0) && words[6] !== 0) return `::${dotted}`;
  // Longest run (>= 2) of zero words becomes "::"; the first one wins a tie (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export interface ParsedAddress {
  family: number;
  bytes: Buffer;
}

const IPV4_PART = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4(text: string, out: Buffer, offset: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!IPV4_PART.test(part) || Number(part) > 255) return false;
    out[offset + i] = Number(part);
  }
  return true;
}

/** Groups of one side of "::"; a dotted IPv4 tail counts as two groups. undefined if invalid. */
function ipv6Groups(part: string, allowIPv4Tail: boolean): number[] | undefined {
  if (part === '') return [];
  const pieces = part.split(':');
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (allowIPv4Tail && i === pieces.length - 1 && piece.includes('.')) {
      const quad = Buffer.alloc(4);
      if (!parseIPv4(piece, quad, 0)) return undefined;
      groups.push(quad.readUInt16BE(0), quad.readUInt16BE(2));
    } else if (IPV6_GROUP.test(piece)) {
      groups.push(parseInt(piece, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/**
 * Parse a textual IPv4 or IPv6 address (as inet_pton accepts it, no zone index) into
 * xfrm_address_t bytes; undefined if invalid. Written out rather than taken from node:net,
 * whose loading alone costs a few milliseconds of every run's start-up.
 */
export function parseAddress(text: string): ParsedAddress | undefined {
  const bytes = Buffer.alloc(16);
  if (!text.includes(':')) return parseIPv4(text, bytes, 0) ? { family: AF_INET, bytes } : undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = ipv6Groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? ipv6Groups(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  groups.forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  return { family: AF_INET6, bytes };
}

/**
 * Compare two xfrm_address_t values (b's at bOffset) the way the kernel does: 4 bytes for IPv4
 * (docs/kernel/structs.md; include/net/xfrm.h: xfrm_addr_equal()).
 */
export function addressesEqual(a: Buffer, b: Buffer, family: number, bOffset = 0): boolean {
  const length = family === AF_INET ? 4 : 16;
  return a.compare(b, bOffset, bOffset + length, 0, length) === 0;
}
