// Fixed-layout XFRM structs (reference §3), encoded and decoded in one place. Every decoder
// checks the length it was given and throws DecodeError rather than read past it. Decoded
// addresses are views into the received datagram, not copies: no allocation per message.
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from '../netlink/bytes.js';
import { DecodeError } from '../netlink/errors.js';
import {
  REPLAY_ESN_MAX_BMP_LEN,
  SIZEOF_AEVENT_ID,
  SIZEOF_LIFETIME_CUR,
  SIZEOF_MARK,
  SIZEOF_REPLAY_STATE,
  SIZEOF_REPLAY_STATE_ESN_HEADER,
  SIZEOF_USER_MAPPING,
  SIZEOF_USERSA_ID,
  SIZEOF_USERSA_INFO,
} from './constants.js';

/** struct xfrm_usersa_id: the key the kernel looks an SA up by (reference §4.2). */
export interface SaId {
  /** xfrm_address_t, 16 bytes in network order. */
  daddr: Buffer;
  /** Host-order value of the big-endian SPI field. */
  spi: number;
  family: number;
  proto: number;
}

/** struct xfrm_aevent_id (48 bytes). */
export interface AeventId {
  saId: SaId;
  saddr: Buffer;
  flags: number;
  reqid: number;
}

/** struct xfrm_replay_state: the legacy replay state, window of at most 32 packets. */
export interface LegacyReplayState {
  kind: 'legacy';
  oseq: number;
  seq: number;
  bitmap: number;
}

/** struct xfrm_replay_state_esn with its bitmap: used by ESN and by large-window SAs (§3.7). */
export interface EsnReplayState {
  kind: 'esn';
  oseq: number;
  seq: number;
  oseqHi: number;
  seqHi: number;
  replayWindow: number;
  /** bmp[0..bmp_len-1], u32 words; bmp_len is bitmap.length. */
  bitmap: number[];
}

export type ReplayState = LegacyReplayState | EsnReplayState;

/** struct xfrm_lifetime_cur. u64 counters stay bigint so they are never rounded. */
export interface LifetimeCurrent {
  bytes: bigint;
  packets: bigint;
  /** Unix seconds. */
  addTime: bigint;
  /** Unix seconds of first use, 0 if never used. */
  useTime: bigint;
}

export interface Mark {
  value: number;
  mask: number;
}

function need(buf: Buffer, length: number, what: string): void {
  if (buf.length < length) throw new DecodeError(`${what}: ${buf.length} bytes, expected at least ${length}`);
}

export function encodeSaId(id: SaId, out: Buffer, offset: number): void {
  id.daddr.copy(out, offset, 0, 16);
  out.writeUInt32BE(id.spi >>> 0, offset + 16);
  writeU16(out, id.family, offset + 20);
  out[offset + 22] = id.proto;
  out[offset + 23] = 0;
}

export function decodeSaId(buf: Buffer, offset: number): SaId {
  need(buf, offset + SIZEOF_USERSA_ID, 'xfrm_usersa_id');
  return {
    daddr: buf.subarray(offset, offset + 16),
    spi: buf.readUInt32BE(offset + 16),
    family: readU16(buf, offset + 20),
    proto: buf[offset + 22]!,
  };
}

export function encodeAeventId(id: AeventId, out: Buffer = Buffer.alloc(SIZEOF_AEVENT_ID), offset = 0): Buffer {
  encodeSaId(id.saId, out, offset);
  id.saddr.copy(out, offset + 24, 0, 16);
  writeU32(out, id.flags, offset + 40);
  writeU32(out, id.reqid, offset + 44);
  return out;
}

export function decodeAeventId(buf: Buffer): AeventId {
  need(buf, SIZEOF_AEVENT_ID, 'xfrm_aevent_id');
  return {
    saId: decodeSaId(buf, 0),
    saddr: buf.subarray(24, 40),
    flags: readU32(buf, 40),
    reqid: readU32(buf, 44),
  };
}

export function encodeLegacyReplay(state: LegacyReplayState): Buffer {
  const out = Buffer.alloc(SIZEOF_REPLAY_STATE);
  writeU32(out, state.oseq, 0);
  writeU32(out, state.seq, 4);
  writeU32(out, state.bitmap, 8);
  return out;
}

export function decodeLegacyReplay(buf: Buffer): LegacyReplayState {
  need(buf, SIZEOF_REPLAY_STATE, 'XFRMA_REPLAY_VAL');
  return { kind: 'legacy', oseq: readU32(buf, 0), seq: readU32(buf, 4), bitmap: readU32(buf, 8) };
}

export function esnReplayLength(bmpLen: number): number {
  return SIZEOF_REPLAY_STATE_ESN_HEADER + 4 * bmpLen;
}

export function encodeEsnReplay(state: EsnReplayState): Buffer {
  const out = Buffer.alloc(esnReplayLength(state.bitmap.length));
  writeU32(out, state.bitmap.length, 0);
  writeU32(out, state.oseq, 4);
  writeU32(out, state.seq, 8);
  writeU32(out, state.oseqHi, 12);
  writeU32(out, state.seqHi, 16);
  writeU32(out, state.replayWindow, 20);
  state.bitmap.forEach((word, i) => writeU32(out, word, 24 + 4 * i));
  return out;
}

export function decodeEsnReplay(buf: Buffer): EsnReplayState {
  need(buf, SIZEOF_REPLAY_STATE_ESN_HEADER, 'XFRMA_REPLAY_ESN_VAL');
  const bmpLen = readU32(buf, 0);
  if (bmpLen > REPLAY_ESN_MAX_BMP_LEN) {
    throw new DecodeError(`XFRMA_REPLAY_ESN_VAL: bmp_len ${bmpLen} exceeds the kernel maximum ${REPLAY_ESN_MAX_BMP_LEN}`);
  }
  need(buf, esnReplayLength(bmpLen), `XFRMA_REPLAY_ESN_VAL with bmp_len ${bmpLen}`);
  const bitmap: number[] = new Array(bmpLen);
  for (let i = 0; i < bmpLen; i++) bitmap[i] = readU32(buf, 24 + 4 * i);
  return {
    kind: 'esn',
    oseq: readU32(buf, 4),
    seq: readU32(buf, 8),
    oseqHi: readU32(buf, 12),
    seqHi: readU32(buf, 16),
    replayWindow: readU32(buf, 20),
    bitmap,
  };
}

export function encodeLifetime(lifetime: LifetimeCurrent): Buffer {
  const out = Buffer.alloc(SIZEOF_LIFETIME_CUR);
  writeU64(out, lifetime.bytes, 0);
  writeU64(out, lifetime.packets, 8);
  writeU64(out, lifetime.addTime, 16);
  writeU64(out, lifetime.useTime, 24);
  return out;
}

export function decodeLifetime(buf: Buffer): LifetimeCurrent {
  need(buf, SIZEOF_LIFETIME_CUR, 'XFRMA_LTIME_VAL');
  return {
    bytes: readU64(buf, 0),
    packets: readU64(buf, 8),
    addTime: readU64(buf, 16),
    useTime: readU64(buf, 24),
  };
}

export function encodeMark(mark: Mark): Buffer {
  const out = Buffer.alloc(SIZEOF_MARK);
  writeU32(out, mark.value, 0);
  writeU32(out, mark.mask, 4);
  return out;
}

export function decodeMark(buf: Buffer): Mark {
  need(buf, SIZEOF_MARK, 'XFRMA_MARK');
  return { value: readU32(buf, 0), mask: readU32(buf, 4) };
}

/** The parts of struct xfrm_usersa_info (GETSA dump body, §3.11) that xaev uses. */
export interface UsersaInfo {
  /** id.daddr, id.spi, id.proto, and the SA's outer family (@212, not the selector's). */
  saId: SaId;
  saddr: Buffer;
  reqid: number;
  mode: number;
  /** Legacy window; 0 when an ESN attribute is in use. */
  replayWindow: number;
  flags: number;
}

export function decodeUsersaInfo(buf: Buffer): UsersaInfo {
  need(buf, SIZEOF_USERSA_INFO, 'xfrm_usersa_info');
  const family = readU16(buf, 212);
  return {
    saId: {
      daddr: buf.subarray(56, 72),
      spi: buf.readUInt32BE(72),
      family,
      proto: buf[76]!,
    },
    saddr: buf.subarray(80, 96),
    reqid: readU32(buf, 208),
    mode: buf[214]!,
    replayWindow: buf[215]!,
    flags: buf[216]!,
  };
}

/** struct xfrm_user_mapping: a NAT-T mapping change (XFRM_MSG_MAPPING). */
export interface UserMapping {
  saId: SaId;
  reqid: number;
  oldSaddr: Buffer;
  newSaddr: Buffer;
  oldSport: number;
  newSport: number;
}

export function decodeUserMapping(buf: Buffer): UserMapping {
  need(buf, SIZEOF_USER_MAPPING, 'xfrm_user_mapping');
  return {
    saId: decodeSaId(buf, 0),
    reqid: readU32(buf, 24),
    oldSaddr: buf.subarray(28, 44),
    newSaddr: buf.subarray(44, 60),
    oldSport: buf.readUInt16BE(60),
    newSport: buf.readUInt16BE(62),
  };
}
