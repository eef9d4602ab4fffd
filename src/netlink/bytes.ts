// Netlink and XFRM fields are in the host's byte order (docs/kernel/netlink.md), except SPIs
// and ports, which are big-endian. These helpers pick the host order once at load time so the
// codec reads correctly on big-endian machines (s390x, ppc64) too.
import { endianness } from 'node:os';

export const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';
/** The largest values of the kernel's __u32 and __u64 fields. */
export const U32_MAX = 0xffffffff;
export const U64_MAX = 0xffffffffffffffffn;

export function readU16(buf: Buffer, offset: number): number {
  return HOST_IS_LITTLE_ENDIAN ? buf.readUInt16LE(offset) : buf.readUInt16BE(offset);
}

export function readU32(buf: Buffer, offset: number): number {
  return HOST_IS_LITTLE_ENDIAN ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset);
}

export function readS32(buf: Buffer, offset: number): number {
  return HOST_IS_LITTLE_ENDIAN ? buf.readInt32LE(offset) : buf.readInt32BE(offset);
}

/** Unaligned-safe u64 read: lifetime payloads need not be 8-aligned (docs/kernel/structs.md). */
export function readU64(buf: Buffer, offset: number): bigint {
  return HOST_IS_LITTLE_ENDIAN ? buf.readBigUInt64LE(offset) : buf.readBigUInt64BE(offset);
}

export function writeU16(buf: Buffer, value: number, offset: number): void {
  if (HOST_IS_LITTLE_ENDIAN) buf.writeUInt16LE(value, offset);
  else buf.writeUInt16BE(value, offset);
}

export function writeU32(buf: Buffer, value: number, offset: number): void {
  if (HOST_IS_LITTLE_ENDIAN) buf.writeUInt32LE(value >>> 0, offset);
  else buf.writeUInt32BE(value >>> 0, offset);
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
