// Netlink and XFRM fields are in the host's byte order (docs/kernel/netlink.md), except SPIs
// and ports, which are big-endian. These helpers pick the host order once at load time so the
// codec reads correctly on big-endian machines (s390x, ppc64) too.
import { endianness } from 'node:os';

export const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';
/** The largest values of the kernel's __u32 and __u64 fields. */
export const U32_MAX = 0xffffffff;
export const U64_MAX = 0xffffffffffffffffn;
/** sizeof(__u32): the payload of a u32 attribute. */
export const U32_BYTES = 4;

// The u16/u32 helpers read and write the bytes themselves rather than through Buffer's
// readUInt32LE() and friends: `list` calls them tens of times per SA, and Node's argument
// validation behind each call was a visible share of its cost before V8 optimised it. Each
// keeps their guarantee with its own check (inline: a call less per field in the interpreter):
// an offset outside the buffer is a RangeError, never a silent read past the end.

function outOfRange(buf: Uint8Array, offset: number, size: number): RangeError {
  return new RangeError(`offset ${offset}: ${size} bytes needed, buffer has ${buf.length}`);
}

export function readU16(buf: Uint8Array, offset: number): number {
  if ((offset >>> 0) !== offset || offset + 2 > buf.length) throw outOfRange(buf, offset, 2);
  if (HOST_IS_LITTLE_ENDIAN) return buf[offset]! | (buf[offset + 1]! << 8);
  return (buf[offset]! << 8) | buf[offset + 1]!;
}

export function readU32(buf: Uint8Array, offset: number): number {
  if ((offset >>> 0) !== offset || offset + 4 > buf.length) throw outOfRange(buf, offset, 4);
  if (HOST_IS_LITTLE_ENDIAN) return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
  return ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
}

/** A big-endian u32 (SPIs): network order on every host. */
export function readU32BE(buf: Uint8Array, offset: number): number {
  if ((offset >>> 0) !== offset || offset + 4 > buf.length) throw outOfRange(buf, offset, 4);
  return ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
}

export function readS32(buf: Uint8Array, offset: number): number {
  return readU32(buf, offset) | 0;
}

/** Unaligned-safe u64 read: lifetime payloads need not be 8-aligned (docs/kernel/structs.md). */
export function readU64(buf: Buffer, offset: number): bigint {
  return HOST_IS_LITTLE_ENDIAN ? buf.readBigUInt64LE(offset) : buf.readBigUInt64BE(offset);
}

export function writeU16(buf: Uint8Array, value: number, offset: number): void {
  if ((offset >>> 0) !== offset || offset + 2 > buf.length) throw outOfRange(buf, offset, 2);
  if ((value & 0xffff) !== value) throw new RangeError(`${value} does not fit in 16 bits`);
  buf[offset + (HOST_IS_LITTLE_ENDIAN ? 0 : 1)] = value;
  buf[offset + (HOST_IS_LITTLE_ENDIAN ? 1 : 0)] = value >>> 8;
}

/** Any number is taken modulo 2^32, as the C field would. */
export function writeU32(buf: Uint8Array, value: number, offset: number): void {
  if ((offset >>> 0) !== offset || offset + 4 > buf.length) throw outOfRange(buf, offset, 4);
  const low = HOST_IS_LITTLE_ENDIAN ? 0 : 3;
  const step = HOST_IS_LITTLE_ENDIAN ? 1 : -1;
  buf[offset + low] = value;
  buf[offset + low + step] = value >>> 8;
  buf[offset + low + 2 * step] = value >>> 16;
  buf[offset + low + 3 * step] = value >>> 24;
}

export function writeU64(buf: Buffer, value: bigint, offset: number): void {
  if (HOST_IS_LITTLE_ENDIAN) buf.writeBigUInt64LE(value, offset);
  else buf.writeBigUInt64BE(value, offset);
}

/** NLMSG_ALIGN / NLA_ALIGN: both netlink messages and attributes align to 4 bytes. */
export function align4(length: number): number {
  return (length + 3) & ~3;
}

/** A number as iproute2 prints it with %#x, except that 0 is 0x0: 0x1000. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
