// Typed codecs for the XFRM structs, all derived from the one layout table in struct-table.ts.
// What is written by hand here is kernel behaviour the table cannot say: which replay flavour
// a payload is (docs/kernel/newae.md) and the ESN bitmap that follows its header
// (docs/kernel/structs.md). Every decoder checks its length and
// throws DecodeError; addresses are views into the received datagram, not copies.
import { DecodeError } from '../netlink/errors.js';
import { REPLAY_ESN_MAX_BMP_LEN } from './constants.js';
import { XFRM_OFFLOAD_INBOUND, XFRM_OFFLOAD_PACKET, XFRMA_SEC_CTX } from './constants.js';
import {
  AEVENT_ID,
  decodeStruct,
  encodeStruct,
  ENCAP_TMPL,
  LIFETIME_CFG,
  LIFETIME_CUR,
  MARK,
  need,
  REPLAY_STATE,
  REPLAY_STATE_ESN,
  SA_STATS,
  SELECTOR,
  USER_MAPPING,
  USER_OFFLOAD,
  USER_SEC_CTX,
  USERSA_ID,
  USERSA_INFO,
  type StructValue,
} from './struct-table.js';
import { readU32, writeU32 } from '../netlink/bytes.js';

/** struct xfrm_usersa_id; `spi` is the host-order value of the big-endian field. */
export type SaId = StructValue<typeof USERSA_ID.fields>;

/** struct xfrm_aevent_id. */
export type AeventId = StructValue<typeof AEVENT_ID.fields>;

/** struct xfrm_replay_state: the legacy replay state, window of at most 32 packets. */
export type LegacyReplayState = StructValue<typeof REPLAY_STATE.fields> & { kind: 'legacy' };

/** struct xfrm_replay_state_esn with its bitmap: used by ESN and by large-window SAs. */
export type EsnReplayState = Omit<StructValue<typeof REPLAY_STATE_ESN.fields>, 'bmpLen'> & {
  kind: 'esn';
  /** bmp[0..bmp_len-1], u32 words; bmp_len is bitmap.length. */
  bitmap: number[];
};

export type ReplayState = LegacyReplayState | EsnReplayState;

/** struct xfrm_lifetime_cur. u64 counters stay bigint so they are never rounded. */
export type LifetimeCurrent = StructValue<typeof LIFETIME_CUR.fields>;

export type Mark = StructValue<typeof MARK.fields>;

/** struct xfrm_selector; ports are host-order values of the big-endian fields. */
export type Selector = StructValue<typeof SELECTOR.fields>;
/** struct xfrm_lifetime_cfg; XFRM_INF means no limit. */
export type LifetimeConfig = StructValue<typeof LIFETIME_CFG.fields>;
/** struct xfrm_stats. */
export type SaStats = StructValue<typeof SA_STATS.fields>;
/** struct xfrm_encap_tmpl: `type` is UDP_ENCAP_ESPINUDP (2), ..._NON_IKE (1) or TCP_ENCAP_ESPINTCP (7). */
export type Encap = StructValue<typeof ENCAP_TMPL.fields>;

/** XFRMA_SEC_CTX: an LSM (SELinux) label, on SAs and policies. */
export interface SecurityContext {
  alg: number;
  doi: number;
  context: Buffer;
}

/** XFRMA_OFFLOAD_DEV: the SA or policy lives in a NIC (crypto or packet offload). */
export interface Offload {
  ifindex: number;
  flags: number;
  inbound: boolean;
  /** Packet offload (XFRM_OFFLOAD_PACKET), not only crypto. */
  packet: boolean;
}

/** struct xfrm_user_mapping: a NAT-T mapping change (XFRM_MSG_MAPPING). */
export type UserMapping = StructValue<typeof USER_MAPPING.fields>;

/** An xfrm_usersa_id at `offset` (DELSA bodies start with one). */
export function decodeSaId(buf: Buffer, offset = 0): SaId {
  return decodeStruct(USERSA_ID, buf, offset);
}

export function decodeAeventId(buf: Buffer): AeventId {
  return decodeStruct(AEVENT_ID, buf);
}

export function decodeLegacyReplay(buf: Buffer): LegacyReplayState {
  const state = decodeStruct(REPLAY_STATE, buf, 0, 'XFRMA_REPLAY_VAL') as LegacyReplayState;
  state.kind = 'legacy';
  return state;
}

export function encodeLegacyReplay(state: LegacyReplayState, out?: Buffer, offset = 0): Buffer {
  return encodeStruct(REPLAY_STATE, state, out, offset);
}

const BITMAP_WORD_BYTES = 4;

export function esnReplayLength(bmpLen: number): number {
  return REPLAY_STATE_ESN.size + BITMAP_WORD_BYTES * bmpLen;
}

/**
 * XFRMA_REPLAY_ESN_VAL. With `headerOnly`, a payload of just the header stands for a zero
 * bitmap of bmp_len words, as NEWSA takes it (iproute2 sends it so; net/xfrm/xfrm_user.c:
 * verify_replay(), xfrm_alloc_replay_state_esn()); the kernel itself always sends the bitmap.
 */
export function decodeEsnReplay(buf: Buffer, headerOnly = false): EsnReplayState {
  const { bmpLen, ...counters } = decodeStruct(REPLAY_STATE_ESN, buf, 0, 'XFRMA_REPLAY_ESN_VAL');
  if (bmpLen > REPLAY_ESN_MAX_BMP_LEN) {
    throw new DecodeError(`XFRMA_REPLAY_ESN_VAL: bmp_len ${bmpLen} exceeds the kernel maximum ${REPLAY_ESN_MAX_BMP_LEN}`);
  }
  if (headerOnly && buf.length === REPLAY_STATE_ESN.size) return { kind: 'esn', ...counters, bitmap: new Array<number>(bmpLen).fill(0) };
  need(buf, 0, esnReplayLength(bmpLen), `XFRMA_REPLAY_ESN_VAL with bmp_len ${bmpLen}`);
  const bitmap: number[] = new Array(bmpLen);
  for (let i = 0; i < bmpLen; i++) bitmap[i] = readU32(buf, esnReplayLength(i));
  return { kind: 'esn', ...counters, bitmap };
}

/** The state and its bitmap words, esnReplayLength(bitmap.length) bytes, into `out` at `offset` (a new buffer by default). */
export function encodeEsnReplay(state: EsnReplayState, out: Buffer = Buffer.alloc(esnReplayLength(state.bitmap.length)), offset = 0): Buffer {
  encodeStruct(REPLAY_STATE_ESN, { ...state, bmpLen: state.bitmap.length }, out, offset);
  state.bitmap.forEach((word, i) => writeU32(out, word, offset + esnReplayLength(i)));
  return out;
}

export function decodeLifetime(buf: Buffer): LifetimeCurrent {
  return decodeStruct(LIFETIME_CUR, buf, 0, 'XFRMA_LTIME_VAL');
}

export function encodeLifetime(lifetime: LifetimeCurrent, out?: Buffer, offset = 0): Buffer {
  return encodeStruct(LIFETIME_CUR, lifetime, out, offset);
}

export function decodeMark(buf: Buffer): Mark {
  return decodeStruct(MARK, buf, 0, 'XFRMA_MARK');
}

export function encodeMark(mark: Mark, out?: Buffer, offset = 0): Buffer {
  return encodeStruct(MARK, mark, out, offset);
}

/** The parts of struct xfrm_usersa_info (GETSA dump body) that xaev uses. */
export interface UsersaInfo {
  /** id.daddr, id.spi, id.proto, and the SA's outer family (the field at 212, not the selector's). */
  saId: SaId;
  saddr: Buffer;
  reqid: number;
  mode: number;
  /** Legacy window; 0 when an ESN attribute is in use. */
  replayWindow: number;
  flags: number;
}

export function decodeUsersaInfo(buf: Buffer): UsersaInfo {
  const { id, saddr, reqid, family, mode, replayWindow, flags } = decodeStruct(USERSA_INFO, buf);
  // xfrm_id has no family: the lookup key takes the SA's own (docs/kernel/structs.md).
  return { saId: { daddr: id.daddr, spi: id.spi, family, proto: id.proto }, saddr, reqid, mode, replayWindow, flags };
}

export function decodeUserMapping(buf: Buffer): UserMapping {
  return decodeStruct(USER_MAPPING, buf);
}

/** XFRMA_SEC_CTX: the header, then ctx_len bytes of context; `copy` as in decodeStruct. */
export function decodeSecurityContext(payload: Buffer, copy: boolean): SecurityContext {
  const what = 'XFRMA_SEC_CTX';
  const header = decodeStruct(USER_SEC_CTX, payload, 0, what);
  need(payload, USER_SEC_CTX.size, header.contextLength, `${what} with ctx_len ${header.contextLength}`);
  const context = payload.subarray(USER_SEC_CTX.size, USER_SEC_CTX.size + header.contextLength);
  return { alg: header.alg, doi: header.doi, context: copy ? Buffer.from(context) : context };
}

/** Bytes of an XFRMA_SEC_CTX payload. */
export function securityContextLength(context: SecurityContext): number {
  return USER_SEC_CTX.size + context.context.length;
}

/** XFRMA_SEC_CTX as the kernel checks it: len = header + ctx_len (net/xfrm/xfrm_user.c: verify_sec_ctx_len()). */
export function encodeSecurityContext(context: SecurityContext, out: Buffer, at: number): void {
  const len = securityContextLength(context);
  encodeStruct(USER_SEC_CTX, { len, exttype: XFRMA_SEC_CTX, alg: context.alg, doi: context.doi, contextLength: context.context.length }, out, at);
  context.context.copy(out, at + USER_SEC_CTX.size);
}

export function decodeOffload(payload: Buffer): Offload {
  const { ifindex, flags } = decodeStruct(USER_OFFLOAD, payload, 0, 'XFRMA_OFFLOAD_DEV');
  return { ifindex, flags, inbound: (flags & XFRM_OFFLOAD_INBOUND) !== 0, packet: (flags & XFRM_OFFLOAD_PACKET) !== 0 };
}
