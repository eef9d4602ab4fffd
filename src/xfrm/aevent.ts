// GETAE / NEWAE encoding and NEWAE decoding (docs/kernel/getae.md, docs/kernel/newae.md,
// docs/kernel/events.md). GETAE replies, events and our own NEWAE requests all share the
// NEWAE layout (net/xfrm/xfrm_user.c: build_aevent()), so one decoder serves all of them.
import { attributeSpace, forEachAttribute, payloadU32, payloadU8, writeAttributeHeader, type Attribute } from '../netlink/attributes.js';
import { readU32, U32_BYTES, writeU16, writeU32 } from '../netlink/bytes.js';
import { NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_HDRLEN } from '../netlink/constants.js';
import { NLMSG_FLAGS_AT, NLMSG_LEN_AT, NLMSG_PID_AT, NLMSG_SEQ_AT, NLMSG_TYPE_AT } from '../netlink/scan.js';
import { DecodeError, type NetlinkError } from '../netlink/errors.js';
import type { NetlinkMessage } from '../netlink/message.js';
import type { Request } from '../netlink/socket.js';
import {
  XFRM_AE_ETHR,
  XFRM_AE_RTHR,
  XFRM_MSG_GETAE,
  XFRM_MSG_NEWAE,
  XFRMA_ETIMER_THRESH,
  XFRMA_IF_ID,
  XFRMA_LTIME_VAL,
  XFRMA_MARK,
  XFRMA_PAD,
  XFRMA_REPLAY_ESN_VAL,
  XFRMA_REPLAY_THRESH,
  XFRMA_REPLAY_VAL,
  XFRMA_SA_DIR,
} from './constants.js';
import type { SaStateView } from './sa-view.js';
import { ADDRESS_BYTES, AEVENT_ID, encodeStruct, fieldOffset, LIFETIME_CUR, MARK, REPLAY_STATE } from './struct-table.js';
import {
  decodeAeventId,
  decodeEsnReplay,
  decodeLegacyReplay,
  decodeLifetime,
  decodeMark,
  encodeEsnReplay,
  encodeLegacyReplay,
  encodeLifetime,
  encodeMark,
  esnReplayLength,
  type AeventId,
  type LifetimeCurrent,
  type Mark,
  type ReplayState,
  type SaId,
} from './structs.js';

/**
 * What GETAE and NEWAE look an SA up by: sa_id plus the SA's own mark (docs/kernel/getae.md;
 * net/xfrm/xfrm_user.c: xfrm_get_ae() -> xfrm_state_lookup()).
 */
export interface SaKey {
  saId: SaId;
  mark?: Mark | undefined;
}

/** A decoded XFRM_MSG_NEWAE: a GETAE reply or an event. */
export interface AeMessage {
  /** For events, `id.flags` is the cause (XFRM_AE_CR/CE/CU); for replies, the request's flags echoed. */
  id: AeventId;
  replay: ReplayState | undefined;
  lifetime: LifetimeCurrent | undefined;
  /** Packets. Only in GETAE replies asked with XFRM_AE_RTHR. */
  replayThreshold: number | undefined;
  /** Raw XFRMA_ETIMER_THRESH as read: units of 100 ms, not jiffies (see timer-units.ts). Replies only. */
  timerThreshold100ms: number | undefined;
  mark: Mark | undefined;
  ifId: number | undefined;
  /** XFRMA_SA_DIR (6.10+): 1 in, 2 out. */
  direction: number | undefined;
  /** Attributes this version does not know, kept for inspection and otherwise ignored. */
  unknownAttributes: Attribute[];
}

const NO_ADDRESS = Buffer.alloc(ADDRESS_BYTES);
const MARK_ATTRIBUTE_LENGTH = attributeSpace(MARK.size);

/** Bytes of the xfrm_aevent_id and, for a marked SA, its XFRMA_MARK. */
function aeventHeaderLength(key: SaKey): number {
  return AEVENT_ID.size + (key.mark ? MARK_ATTRIBUTE_LENGTH : 0);
}

/**
 * The xfrm_aevent_id and, for a marked SA, its XFRMA_MARK, into `out` (zeroed) from offset 0;
 * returns where they end.
 */
function writeAeventHeader(out: Buffer, key: SaKey, flags: number): number {
  // saddr and reqid are ignored by the kernel's lookup (docs/kernel/getae.md): send zeros.
  encodeStruct(AEVENT_ID, { saId: key.saId, saddr: NO_ADDRESS, flags, reqid: 0 }, out, 0);
  if (key.mark) encodeMark(key.mark, out, writeAttributeHeader(out, AEVENT_ID.size, XFRMA_MARK, MARK.size));
  return aeventHeaderLength(key);
}

function aeventHeader(key: SaKey, flags: number): Buffer[] {
  const out = Buffer.alloc(aeventHeaderLength(key));
  writeAeventHeader(out, key, flags);
  return [out];
}

/** GETAE asking for both thresholds; exactly one NEWAE message answers it. */
export function encodeGetAe(key: SaKey): Request {
  return {
    type: XFRM_MSG_GETAE,
    parts: aeventHeader(key, GETAE_FLAGS),
    completion: 'reply',
  };
}

const GETAE_FLAGS = XFRM_AE_RTHR | XFRM_AE_ETHR;
const LOOKUP = {
  daddr: fieldOffset(AEVENT_ID, 'saId', 'daddr'),
  spi: fieldOffset(AEVENT_ID, 'saId', 'spi'),
  family: fieldOffset(AEVENT_ID, 'saId', 'family'),
  proto: fieldOffset(AEVENT_ID, 'saId', 'proto'),
  flags: fieldOffset(AEVENT_ID, 'flags'),
  saddr: fieldOffset(AEVENT_ID, 'saddr'),
  reqid: fieldOffset(AEVENT_ID, 'reqid'),
};

/**
 * The same GETAE as encodeGetAe(keyOf(entry)), as a whole message written straight from a
 * dump entry's bytes into out[at]: `list` sends one per SA. The sequence number is left 0
 * for the pipeline to fill in. Returns the offset after it (4-aligned).
 */
export function encodeGetAeFromDump(entry: SaStateView, out: Buffer, at: number): number {
  const length = NLMSG_HDRLEN + AEVENT_ID.size + (entry.markAt >= 0 ? MARK_ATTRIBUTE_LENGTH : 0);
  if (at + length > out.length) throw new RangeError(`GETAE of ${length} bytes at ${at} does not fit in ${out.length}`);
  // Every 4-byte word is written once, zeros included, instead of fill() and copy() (native
  // calls with argument checks, several times the cost when done once per SA).
  writeU32(out, length, at + NLMSG_LEN_AT);
  writeU16(out, XFRM_MSG_GETAE, at + NLMSG_TYPE_AT);
  writeU16(out, NLM_F_REQUEST, at + NLMSG_FLAGS_AT);
  writeU32(out, 0, at + NLMSG_SEQ_AT);
  writeU32(out, 0, at + NLMSG_PID_AT);
  const body = at + NLMSG_HDRLEN;
  for (let word = 0; word < ADDRESS_BYTES; word += 4) writeU32(out, readU32(entry.buf, entry.daddrAt + word), body + LOOKUP.daddr + word);
  out.writeUInt32BE(entry.spi, body + LOOKUP.spi);
  writeU16(out, entry.family, body + LOOKUP.family);
  out[body + LOOKUP.proto] = entry.proto;
  out[body + LOOKUP.proto + 1] = 0; // sa_id's padding
  // saddr and reqid are ignored by the kernel's lookup (docs/kernel/getae.md): zeros.
  for (let word = 0; word < ADDRESS_BYTES; word += 4) writeU32(out, 0, body + LOOKUP.saddr + word);
  writeU32(out, 0, body + LOOKUP.reqid);
  writeU32(out, GETAE_FLAGS, body + LOOKUP.flags);
  if (entry.markAt >= 0) {
    const mark = writeAttributeHeader(out, body + AEVENT_ID.size, XFRMA_MARK, MARK.size);
    writeU32(out, entry.markValue, mark + MARK.fields.value.offset);
    writeU32(out, entry.markMask, mark + MARK.fields.mask.offset);
  }
  return at + length;
}

/** The most bytes encodeGetAeFromDump writes. */
export const MAX_GETAE_LENGTH = NLMSG_HDRLEN + AEVENT_ID.size + MARK_ATTRIBUTE_LENGTH;

/** Values a NEWAE writes; absent ones are left untouched by the kernel. */
export interface AeUpdate {
  /**
   * Sent as REPLAY_VAL or REPLAY_ESN_VAL by its kind: it must match the SA's flavour, or the
   * kernel ignores it and still says yes (docs/kernel/newae.md; net/xfrm/xfrm_user.c:
   * xfrm_update_ae_params()).
   */
  replay?: ReplayState;
  lifetime?: LifetimeCurrent;
  /** The kernel stores XFRMA_ETIMER_THRESH raw, in jiffies: convert with timer-units.ts first. */
  timerJiffies?: number;
  replayThreshold?: number;
}

/**
 * The NEWAE of one SA: header and values written in place into one buffer of exactly the
 * message's length, zeroed, so padding and unused fields are zeros. One allocation per SA,
 * because a takeover writes thousands of them (bench/README.md).
 */
export function encodeNewAe(key: SaKey, update: AeUpdate): Request {
  const { replay, lifetime, timerJiffies, replayThreshold } = update;
  if (replay === undefined && lifetime === undefined && timerJiffies === undefined && replayThreshold === undefined) {
    // The kernel would refuse it with a bare EINVAL on 6.1 (docs/kernel/newae.md;
    // net/xfrm/xfrm_user.c: xfrm_new_ae()); say why here.
    throw new RangeError('NEWAE needs at least one value to set');
  }
  const replayLength = replay === undefined ? 0 : replay.kind === 'legacy' ? REPLAY_STATE.size : esnReplayLength(replay.bitmap.length);
  const length =
    aeventHeaderLength(key) +
    (replay === undefined ? 0 : attributeSpace(replayLength)) +
    (lifetime === undefined ? 0 : attributeSpace(LIFETIME_CUR.size)) +
    (timerJiffies === undefined ? 0 : attributeSpace(U32_BYTES)) +
    (replayThreshold === undefined ? 0 : attributeSpace(U32_BYTES));
  // From the shared pool, then zeroed: padding and unused fields are zeros.
  const out = Buffer.allocUnsafe(length).fill(0);
  let at = writeAeventHeader(out, key, 0);
  if (replay?.kind === 'legacy') encodeLegacyReplay(replay, out, writeAttributeHeader(out, at, XFRMA_REPLAY_VAL, replayLength));
  if (replay?.kind === 'esn') encodeEsnReplay(replay, out, writeAttributeHeader(out, at, XFRMA_REPLAY_ESN_VAL, replayLength));
  if (replay !== undefined) at += attributeSpace(replayLength);
  if (lifetime !== undefined) {
    encodeLifetime(lifetime, out, writeAttributeHeader(out, at, XFRMA_LTIME_VAL, LIFETIME_CUR.size));
    at += attributeSpace(LIFETIME_CUR.size);
  }
  if (timerJiffies !== undefined) {
    writeU32(out, timerJiffies, writeAttributeHeader(out, at, XFRMA_ETIMER_THRESH, U32_BYTES));
    at += attributeSpace(U32_BYTES);
  }
  if (replayThreshold !== undefined) writeU32(out, replayThreshold, writeAttributeHeader(out, at, XFRMA_REPLAY_THRESH, U32_BYTES));
  return { type: XFRM_MSG_NEWAE, flags: NLM_F_REPLACE, parts: [out], completion: 'ack' };
}

/**
 * Whether a NEWAE failed because the SA is not VALID: an IKE daemon's larval SA (ALLOCSPI),
 * or one expiring or being deleted. xaev's requests always carry a value and NLM_F_REPLACE,
 * so a bare EINVAL (6.1 sends no text) means this or an ESN length mismatch; 6.2+ names it
 * (docs/kernel/newae.md, docs/kernel/versions.md; net/xfrm/xfrm_user.c: xfrm_new_ae()).
 */
export function refusedAsNotValid(error: NetlinkError): boolean {
  return error.code === 'EINVAL' && (error.kernelMessage === undefined || error.kernelMessage.includes('VALID state'));
}

export function decodeAeMessage(message: NetlinkMessage): AeMessage {
  if (message.type !== XFRM_MSG_NEWAE) throw new DecodeError(`expected XFRM_MSG_NEWAE (30), got type ${message.type}`);
  return decodeAePayload(message.payload);
}

export function decodeAePayload(payload: Buffer): AeMessage {
  if (payload.length < AEVENT_ID.size) {
    throw new DecodeError(`XFRM_MSG_NEWAE payload of ${payload.length} bytes, expected at least ${AEVENT_ID.size}`);
  }
  const result: AeMessage = {
    id: decodeAeventId(payload),
    replay: undefined,
    lifetime: undefined,
    replayThreshold: undefined,
    timerThreshold100ms: undefined,
    mark: undefined,
    ifId: undefined,
    direction: undefined,
    unknownAttributes: [],
  };
  forEachAttribute(payload, AEVENT_ID.size, (type, value) => {
    switch (type) {
      case XFRMA_REPLAY_VAL:
        result.replay = decodeLegacyReplay(value);
        break;
      case XFRMA_REPLAY_ESN_VAL:
        result.replay = decodeEsnReplay(value);
        break;
      case XFRMA_LTIME_VAL:
        result.lifetime = decodeLifetime(value);
        break;
      case XFRMA_REPLAY_THRESH:
        result.replayThreshold = payloadU32(value, 'XFRMA_REPLAY_THRESH');
        break;
      case XFRMA_ETIMER_THRESH:
        result.timerThreshold100ms = payloadU32(value, 'XFRMA_ETIMER_THRESH');
        break;
      case XFRMA_MARK:
        result.mark = decodeMark(value);
        break;
      case XFRMA_IF_ID:
        result.ifId = payloadU32(value, 'XFRMA_IF_ID');
        break;
      case XFRMA_SA_DIR:
        result.direction = payloadU8(value, 'XFRMA_SA_DIR');
        break;
      case XFRMA_PAD:
        // Alignment filler before LTIME_VAL on some architectures (docs/kernel/structs.md).
        break;
      default:
        result.unknownAttributes.push({ type, payload: value });
    }
  });
  return result;
}
