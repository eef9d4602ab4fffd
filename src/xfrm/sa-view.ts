// One SA's state read in place from received bytes: a GETAE reply or a GETSA dump entry. The
// bulk paths (`list`, lookups by SPI) run through tens of thousands of these, so a view is
// reused: from*() points it at the next message and checks every length there (DecodeError),
// and the getters read single fields at offsets taken from the struct table. Nothing is
// allocated per SA. The buffer is the caller's receive buffer: copy what must outlive it.
import { HOST_IS_LITTLE_ENDIAN, readU16, readU32, readU32BE, readU64, U32_BYTES } from '../netlink/bytes.js';
import { DecodeError } from '../netlink/errors.js';
import { attributeLength, indexAttributes } from '../netlink/scan.js';
import { NLA_HDRLEN } from '../netlink/constants.js';
import {
  REPLAY_ESN_MAX_BMP_LEN,
  XFRMA_ETIMER_THRESH,
  XFRMA_IF_ID,
  XFRMA_LTIME_VAL,
  XFRMA_MARK,
  XFRMA_REPLAY_ESN_VAL,
  XFRMA_REPLAY_THRESH,
  XFRMA_REPLAY_VAL,
} from './constants.js';
import {
  ADDRESS_BYTES,
  AEVENT_ID,
  decodeStruct,
  fieldOffset,
  LIFETIME_CUR,
  MARK,
  REPLAY_STATE,
  REPLAY_STATE_ESN,
  USERSA_INFO,
} from './struct-table.js';
import { decodeEsnReplay, decodeLegacyReplay, esnReplayLength, type LifetimeCurrent, type ReplayState } from './structs.js';

const AE = {
  daddr: fieldOffset(AEVENT_ID, 'saId', 'daddr'),
  spi: fieldOffset(AEVENT_ID, 'saId', 'spi'),
  family: fieldOffset(AEVENT_ID, 'saId', 'family'),
  proto: fieldOffset(AEVENT_ID, 'saId', 'proto'),
  saddr: fieldOffset(AEVENT_ID, 'saddr'),
  reqid: fieldOffset(AEVENT_ID, 'reqid'),
};

/** Where an SA's id fields sit in a fixed struct. */
type IdOffsets = Record<'daddr' | 'spi' | 'family' | 'proto' | 'saddr' | 'reqid', number>;

const SA = {
  daddr: fieldOffset(USERSA_INFO, 'id', 'daddr'),
  spi: fieldOffset(USERSA_INFO, 'id', 'spi'),
  proto: fieldOffset(USERSA_INFO, 'id', 'proto'),
  saddr: fieldOffset(USERSA_INFO, 'saddr'),
  curlft: fieldOffset(USERSA_INFO, 'curlft'),
  reqid: fieldOffset(USERSA_INFO, 'reqid'),
  mode: fieldOffset(USERSA_INFO, 'mode'),
  replayWindow: fieldOffset(USERSA_INFO, 'replayWindow'),
  flags: fieldOffset(USERSA_INFO, 'flags'),
  // The SA's own family: xfrm_id has none, and the selector's may differ (docs/kernel/structs.md).
  family: fieldOffset(USERSA_INFO, 'family'),
};

const LEGACY = { oseq: fieldOffset(REPLAY_STATE, 'oseq'), seq: fieldOffset(REPLAY_STATE, 'seq'), bitmap: fieldOffset(REPLAY_STATE, 'bitmap') };
const ESN = {
  bmpLen: fieldOffset(REPLAY_STATE_ESN, 'bmpLen'),
  oseq: fieldOffset(REPLAY_STATE_ESN, 'oseq'),
  seq: fieldOffset(REPLAY_STATE_ESN, 'seq'),
  oseqHi: fieldOffset(REPLAY_STATE_ESN, 'oseqHi'),
  seqHi: fieldOffset(REPLAY_STATE_ESN, 'seqHi'),
  replayWindow: fieldOffset(REPLAY_STATE_ESN, 'replayWindow'),
};

export type LifetimeField = keyof typeof LIFETIME_CUR.fields;
export type ReplayField = 'seq' | 'oseq';

/** Attribute types the views read; the index covers every type below this. */
const INDEXED_TYPES = 32;
const EMPTY = Buffer.alloc(0);
/** Above 2^53 a u64 is not exact as a double. */
const EXACT_HIGH_WORD = 0x200000;

export class SaStateView {
  buf: Buffer = EMPTY;
  /** The message payload: buf[start, end). */
  start = 0;
  end = 0;
  daddrAt = 0;
  saddrAt = 0;
  family = 0;
  proto = 0;
  spi = 0;
  reqid = 0;
  /** Payload offsets of what the message carries; -1 where it carries nothing. */
  markAt = -1;
  ifIdAt = -1;
  lifetimeAt = -1;
  replayAt = -1;
  /** The replay state at replayAt is an xfrm_replay_state_esn (ESN or a large window). */
  esn = false;
  replayThresholdAt = -1;
  timerThresholdAt = -1;
  /** Dump entries only (xfrm_usersa_info): mode, the legacy replay_window, the XFRM_STATE_* flags. */
  mode = 0;
  legacyWindow = 0;
  stateFlags = 0;
  private readonly index = new Int32Array(INDEXED_TYPES);

  /** A GETAE reply or an aevent: the XFRM_MSG_NEWAE payload buf[start, end). */
  fromAePayload(buf: Buffer, start: number, end: number): this {
    if (end - start < AEVENT_ID.size) {
      throw new DecodeError(`XFRM_MSG_NEWAE payload of ${end - start} bytes, expected at least ${AEVENT_ID.size}`);
    }
    this.point(buf, start, end, AE, AEVENT_ID.size);
    this.lifetimeAt = this.attribute(XFRMA_LTIME_VAL, LIFETIME_CUR.size, 'XFRMA_LTIME_VAL');
    this.replayThresholdAt = this.attribute(XFRMA_REPLAY_THRESH, U32_BYTES, 'XFRMA_REPLAY_THRESH');
    this.timerThresholdAt = this.attribute(XFRMA_ETIMER_THRESH, U32_BYTES, 'XFRMA_ETIMER_THRESH');
    return this;
  }

  /** A GETSA dump entry: the XFRM_MSG_NEWSA payload buf[start, end). Carries no thresholds. */
  fromDumpPayload(buf: Buffer, start: number, end: number): this {
    if (end - start < USERSA_INFO.size) {
      throw new DecodeError(`xfrm_usersa_info: ${end - start} bytes, expected at least ${USERSA_INFO.size}`);
    }
    this.point(buf, start, end, SA, USERSA_INFO.size);
    // The dump reports the counters inside xfrm_usersa_info, not as XFRMA_LTIME_VAL.
    this.lifetimeAt = start + SA.curlft;
    this.mode = buf[start + SA.mode]!;
    this.legacyWindow = buf[start + SA.replayWindow]!;
    this.stateFlags = buf[start + SA.flags]!;
    this.replayThresholdAt = -1;
    this.timerThresholdAt = -1;
    return this;
  }

  /** The SA's id fields at their offsets in the fixed struct, then the attributes after it. */
  private point(buf: Buffer, start: number, end: number, id: IdOffsets, fixedSize: number): void {
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.daddrAt = start + id.daddr;
    this.saddrAt = start + id.saddr;
    this.family = readU16(buf, start + id.family);
    this.proto = buf[start + id.proto]!;
    this.spi = readU32BE(buf, start + id.spi);
    this.reqid = readU32(buf, start + id.reqid);
    indexAttributes(buf, start + fixedSize, end, this.index);
    this.readAttributes();
  }

  /** Attributes both messages carry alike (net/xfrm/xfrm_user.c: build_aevent(), copy_to_user_state_extra()). */
  private readAttributes(): void {
    this.markAt = this.attribute(XFRMA_MARK, MARK.size, 'XFRMA_MARK');
    this.ifIdAt = this.attribute(XFRMA_IF_ID, U32_BYTES, 'XFRMA_IF_ID');
    // Exactly one of the two, by how the SA was made (docs/kernel/structs.md); if a message
    // carried both, the later one would count, as in decodeAePayload.
    const legacyAt = this.index[XFRMA_REPLAY_VAL]!;
    const esnAt = this.index[XFRMA_REPLAY_ESN_VAL]!;
    this.esn = esnAt > legacyAt;
    if (this.esn) {
      this.replayAt = this.attribute(XFRMA_REPLAY_ESN_VAL, REPLAY_STATE_ESN.size, 'XFRMA_REPLAY_ESN_VAL');
      const bmpLen = this.bmpLen;
      if (bmpLen > REPLAY_ESN_MAX_BMP_LEN) {
        throw new DecodeError(`XFRMA_REPLAY_ESN_VAL: bmp_len ${bmpLen} exceeds the kernel maximum ${REPLAY_ESN_MAX_BMP_LEN}`);
      }
      this.attribute(XFRMA_REPLAY_ESN_VAL, esnReplayLength(bmpLen), `XFRMA_REPLAY_ESN_VAL with bmp_len ${bmpLen}`);
    } else {
      this.replayAt = this.attribute(XFRMA_REPLAY_VAL, REPLAY_STATE.size, 'XFRMA_REPLAY_VAL');
    }
  }

  /** Payload offset of an indexed attribute after checking its length, or -1 if absent. */
  private attribute(type: number, minimum: number, what: string): number {
    const at = this.index[type]!;
    if (at < 0) return -1;
    const length = attributeLength(this.buf, at) - NLA_HDRLEN;
    if (length < minimum) throw new DecodeError(`${what}: ${length} bytes, expected at least ${minimum}`);
    return at + NLA_HDRLEN;
  }

  get markValue(): number {
    return readU32(this.buf, this.markAt + MARK.fields.value.offset);
  }

  get markMask(): number {
    return readU32(this.buf, this.markAt + MARK.fields.mask.offset);
  }

  get ifId(): number {
    return readU32(this.buf, this.ifIdAt);
  }

  get replayThreshold(): number {
    return readU32(this.buf, this.replayThresholdAt);
  }

  get timerThreshold100ms(): number {
    return readU32(this.buf, this.timerThresholdAt);
  }

  /** seq or oseq: the low 32 bits with ESN. */
  replay(field: ReplayField): number {
    return readU32(this.buf, this.replayAt + (this.esn ? ESN[field] : LEGACY[field]));
  }

  /** Legacy replay state only. */
  get legacyBitmap(): number {
    return readU32(this.buf, this.replayAt + LEGACY.bitmap);
  }

  /** ESN replay state only. */
  get seqHi(): number {
    return readU32(this.buf, this.replayAt + ESN.seqHi);
  }

  get oseqHi(): number {
    return readU32(this.buf, this.replayAt + ESN.oseqHi);
  }

  get replayWindow(): number {
    return readU32(this.buf, this.replayAt + ESN.replayWindow);
  }

  get bmpLen(): number {
    return readU32(this.buf, this.replayAt + ESN.bmpLen);
  }

  bitmapWord(i: number): number {
    return readU32(this.buf, this.replayAt + esnReplayLength(i));
  }

  /** A lifetime counter, exact: a number up to 2^53, a bigint above. */
  lifetime(field: LifetimeField): number | bigint {
    const at = this.lifetimeAt + LIFETIME_CUR.fields[field].offset;
    // Host order: on big-endian hosts the high word comes first.
    const high = readU32(this.buf, HOST_IS_LITTLE_ENDIAN ? at + U32_BYTES : at);
    if (high >= EXACT_HIGH_WORD) return readU64(this.buf, at);
    return high * 0x100000000 + readU32(this.buf, HOST_IS_LITTLE_ENDIAN ? at : at + U32_BYTES);
  }

  /** The replay state as an object (for text output), or undefined if none was reported. */
  replayState(): ReplayState | undefined {
    if (this.replayAt < 0) return undefined;
    const length = this.esn ? esnReplayLength(this.bmpLen) : REPLAY_STATE.size;
    const payload = this.buf.subarray(this.replayAt, this.replayAt + length);
    return this.esn ? decodeEsnReplay(payload) : decodeLegacyReplay(payload);
  }

  /** The lifetime counters as an object (for text output), or undefined if none were reported. */
  lifetimeCurrent(): LifetimeCurrent | undefined {
    return this.lifetimeAt < 0 ? undefined : decodeStruct(LIFETIME_CUR, this.buf, this.lifetimeAt);
  }

  /** The SA's addresses as standalone copies, for what outlives the receive buffer. */
  copyAddress(at: number): Buffer {
    return Buffer.from(this.buf.subarray(at, at + ADDRESS_BYTES));
  }
}
