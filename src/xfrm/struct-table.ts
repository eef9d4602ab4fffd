// The one description of every fixed-layout kernel struct xaev reads or writes: each field's
// name, type and offset, and each struct's size (docs/kernel/structs.md; uapi
// include/uapi/linux/xfrm.h). Encoders, decoders and the byte-level fast paths of `list` all
// work from these tables, so a layout is written down exactly once.
//
// Host byte order unless the type says big-endian (be16, be32): the SPI and ports travel in
// network order. An `address` is an xfrm_address_t, 16 bytes in network order; a `bytes`
// field is a fixed-size char array (an algorithm's name), read as raw bytes.
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from '../netlink/bytes.js';
import { DecodeError } from '../netlink/errors.js';

export type ScalarType = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 'be16' | 'be32' | 'address';

export interface ScalarField {
  readonly offset: number;
  readonly type: ScalarType;
}

export interface NestedField {
  readonly offset: number;
  readonly struct: StructLayout<any>;
}

/** A fixed-size byte array (char name[64]): decoded as a Buffer of exactly `bytes` bytes. */
export interface BytesField {
  readonly offset: number;
  readonly bytes: number;
}

export type Field = ScalarField | NestedField | BytesField;
export type Fields = Readonly<Record<string, Field>>;

export interface StructLayout<F extends Fields> {
  /** The kernel's name, used in DecodeError messages. */
  readonly name: string;
  /** sizeof() on 64-bit ABIs, trailing padding included. */
  readonly size: number;
  readonly fields: F;
  /** The fields as a list, resolved once: what the codecs walk. */
  readonly walk: readonly FieldStep[];
}

interface FieldStep {
  readonly name: string;
  readonly offset: number;
  readonly type: ScalarType | undefined;
  readonly struct: StructLayout<Fields> | undefined;
  readonly bytes: number | undefined;
}

type FieldValue<T> = T extends { struct: StructLayout<infer G> }
  ? StructValue<G>
  : T extends { bytes: number }
    ? Buffer
    : T extends { type: 'u64' }
      ? bigint
      : T extends { type: 'address' }
        ? Buffer
        : number;

/**
 * The decoded form of a struct: u64 as bigint, addresses and byte arrays as Buffers (views
 * into the input unless decoded as copies), the rest numbers.
 */
export type StructValue<F extends Fields> = { -readonly [K in keyof F]: FieldValue<F[K]> };

export const ADDRESS_BYTES = 16;

const SCALAR_SIZE: Record<ScalarType, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, be16: 2, be32: 4, address: ADDRESS_BYTES };

function fieldSize(field: Field): number {
  if ('struct' in field) return field.struct.size;
  if ('bytes' in field) return field.bytes;
  return SCALAR_SIZE[field.type];
}

/** Checks the table itself once, at load: every field inside the struct, none overlapping. */
function defineStruct<F extends Fields>(name: string, size: number, fields: F): StructLayout<F> {
  const spans = Object.entries(fields)
    .map(([field, spec]) => ({ field, start: spec.offset, end: spec.offset + fieldSize(spec) }))
    .sort((a, b) => a.start - b.start);
  spans.forEach((span, i) => {
    const previous = spans[i - 1];
    if (span.end > size || (previous && span.start < previous.end)) {
      throw new Error(`internal: ${name}.${span.field} at ${span.start}..${span.end} does not fit the table`);
    }
  });
  const walk = Object.entries(fields).map(([field, spec]) => ({
    name: field,
    offset: spec.offset,
    type: 'type' in spec ? spec.type : undefined,
    struct: 'struct' in spec ? (spec.struct as StructLayout<Fields>) : undefined,
    bytes: 'bytes' in spec ? spec.bytes : undefined,
  }));
  return { name, size, fields, walk };
}

// ---------------------------------------------------------------------------------------
// The tables. Field names are the kernel's in camelCase; fields xaev never touches are left
// out (their bytes count as padding: zero when encoding, skipped when decoding).

/** struct xfrm_usersa_id: the key GETAE and NEWAE look an SA up by. */
export const USERSA_ID = defineStruct('xfrm_usersa_id', 24, {
  daddr: { offset: 0, type: 'address' },
  spi: { offset: 16, type: 'be32' },
  family: { offset: 20, type: 'u16' },
  proto: { offset: 22, type: 'u8' },
});

/** struct xfrm_aevent_id: the fixed part of GETAE, NEWAE and every aevent. */
export const AEVENT_ID = defineStruct('xfrm_aevent_id', 48, {
  saId: { offset: 0, struct: USERSA_ID },
  saddr: { offset: 24, type: 'address' },
  flags: { offset: 40, type: 'u32' },
  reqid: { offset: 44, type: 'u32' },
});

/** struct xfrm_replay_state: payload of XFRMA_REPLAY_VAL (window of at most 32 packets). */
export const REPLAY_STATE = defineStruct('xfrm_replay_state', 12, {
  oseq: { offset: 0, type: 'u32' },
  seq: { offset: 4, type: 'u32' },
  bitmap: { offset: 8, type: 'u32' },
});

/** struct xfrm_replay_state_esn without its flexible bmp[] of bmpLen u32 words, which follows. */
export const REPLAY_STATE_ESN = defineStruct('xfrm_replay_state_esn', 24, {
  bmpLen: { offset: 0, type: 'u32' },
  oseq: { offset: 4, type: 'u32' },
  seq: { offset: 8, type: 'u32' },
  oseqHi: { offset: 12, type: 'u32' },
  seqHi: { offset: 16, type: 'u32' },
  replayWindow: { offset: 20, type: 'u32' },
});

/** struct xfrm_lifetime_cur: payload of XFRMA_LTIME_VAL; add/use times in Unix seconds. */
export const LIFETIME_CUR = defineStruct('xfrm_lifetime_cur', 32, {
  bytes: { offset: 0, type: 'u64' },
  packets: { offset: 8, type: 'u64' },
  addTime: { offset: 16, type: 'u64' },
  useTime: { offset: 24, type: 'u64' },
});

/** struct xfrm_mark: payload of XFRMA_MARK (v, m). */
export const MARK = defineStruct('xfrm_mark', 8, {
  value: { offset: 0, type: 'u32' },
  mask: { offset: 4, type: 'u32' },
});

/** struct xfrm_id: an SA's daddr, SPI and proto inside xfrm_usersa_info. It has no family. */
export const XFRM_ID = defineStruct('xfrm_id', 24, {
  daddr: { offset: 0, type: 'address' },
  spi: { offset: 16, type: 'be32' },
  proto: { offset: 20, type: 'u8' },
});

/** struct xfrm_selector: the traffic an SA or policy applies to. Ports are big-endian. */
export const SELECTOR = defineStruct('xfrm_selector', 56, {
  daddr: { offset: 0, type: 'address' },
  saddr: { offset: 16, type: 'address' },
  dport: { offset: 32, type: 'be16' },
  dportMask: { offset: 34, type: 'be16' },
  sport: { offset: 36, type: 'be16' },
  sportMask: { offset: 38, type: 'be16' },
  family: { offset: 40, type: 'u16' },
  prefixlenD: { offset: 42, type: 'u8' },
  prefixlenS: { offset: 43, type: 'u8' },
  proto: { offset: 44, type: 'u8' },
  ifindex: { offset: 48, type: 's32' },
  user: { offset: 52, type: 'u32' },
});

/** struct xfrm_lifetime_cfg: limits; XFRM_INF (all ones) is no limit. */
export const LIFETIME_CFG = defineStruct('xfrm_lifetime_cfg', 64, {
  softByteLimit: { offset: 0, type: 'u64' },
  hardByteLimit: { offset: 8, type: 'u64' },
  softPacketLimit: { offset: 16, type: 'u64' },
  hardPacketLimit: { offset: 24, type: 'u64' },
  softAddExpiresSeconds: { offset: 32, type: 'u64' },
  hardAddExpiresSeconds: { offset: 40, type: 'u64' },
  softUseExpiresSeconds: { offset: 48, type: 'u64' },
  hardUseExpiresSeconds: { offset: 56, type: 'u64' },
});

/** struct xfrm_stats: an SA's error counters. */
export const SA_STATS = defineStruct('xfrm_stats', 12, {
  replayWindow: { offset: 0, type: 'u32' },
  replay: { offset: 4, type: 'u32' },
  integrityFailed: { offset: 8, type: 'u32' },
});

/**
 * struct xfrm_usersa_info: the body of NEWSA/UPDSA (requests, notifications, each GETSA dump
 * entry) and XFRMA_SA. `sel.family` is the selector's; the SA's own family is the field at 212.
 */
export const USERSA_INFO = defineStruct('xfrm_usersa_info', 224, {
  sel: { offset: 0, struct: SELECTOR },
  id: { offset: 56, struct: XFRM_ID },
  saddr: { offset: 80, type: 'address' },
  lft: { offset: 96, struct: LIFETIME_CFG },
  curlft: { offset: 160, struct: LIFETIME_CUR },
  stats: { offset: 192, struct: SA_STATS },
  seq: { offset: 204, type: 'u32' },
  reqid: { offset: 208, type: 'u32' },
  family: { offset: 212, type: 'u16' },
  mode: { offset: 214, type: 'u8' },
  replayWindow: { offset: 215, type: 'u8' },
  flags: { offset: 216, type: 'u8' },
});

/** The size of the alg_name arrays of the xfrm_algo structs. */
export const ALGORITHM_NAME_BYTES = 64;

/** struct xfrm_algo (XFRMA_ALG_CRYPT, XFRMA_ALG_AUTH, XFRMA_ALG_COMP) without its key, which follows. */
export const ALGO = defineStruct('xfrm_algo', 68, {
  name: { offset: 0, bytes: ALGORITHM_NAME_BYTES },
  keyBits: { offset: 64, type: 'u32' },
});

/** struct xfrm_algo_auth (XFRMA_ALG_AUTH_TRUNC) without its key, which follows. */
export const ALGO_AUTH = defineStruct('xfrm_algo_auth', 72, {
  name: { offset: 0, bytes: ALGORITHM_NAME_BYTES },
  keyBits: { offset: 64, type: 'u32' },
  truncBits: { offset: 68, type: 'u32' },
});

/** struct xfrm_algo_aead (XFRMA_ALG_AEAD) without its key, which follows. */
export const ALGO_AEAD = defineStruct('xfrm_algo_aead', 72, {
  name: { offset: 0, bytes: ALGORITHM_NAME_BYTES },
  keyBits: { offset: 64, type: 'u32' },
  icvBits: { offset: 68, type: 'u32' },
});

/** struct xfrm_encap_tmpl (XFRMA_ENCAP): NAT-T encapsulation; ports big-endian. */
export const ENCAP_TMPL = defineStruct('xfrm_encap_tmpl', 24, {
  type: { offset: 0, type: 'u16' },
  sport: { offset: 2, type: 'be16' },
  dport: { offset: 4, type: 'be16' },
  originalAddress: { offset: 8, type: 'address' },
});

/** struct xfrm_user_sec_ctx (XFRMA_SEC_CTX) without the context string, which follows. */
export const USER_SEC_CTX = defineStruct('xfrm_user_sec_ctx', 8, {
  len: { offset: 0, type: 'u16' },
  exttype: { offset: 2, type: 'u16' },
  alg: { offset: 4, type: 'u8' },
  doi: { offset: 5, type: 'u8' },
  contextLength: { offset: 6, type: 'u16' },
});

/** struct xfrm_user_offload (XFRMA_OFFLOAD_DEV). */
export const USER_OFFLOAD = defineStruct('xfrm_user_offload', 8, {
  ifindex: { offset: 0, type: 's32' },
  flags: { offset: 4, type: 'u8' },
});

/** struct xfrm_user_tmpl: one element of XFRMA_TMPL, the SA a policy asks for. */
export const USER_TMPL = defineStruct('xfrm_user_tmpl', 64, {
  id: { offset: 0, struct: XFRM_ID },
  family: { offset: 24, type: 'u16' },
  saddr: { offset: 28, type: 'address' },
  reqid: { offset: 44, type: 'u32' },
  mode: { offset: 48, type: 'u8' },
  share: { offset: 49, type: 'u8' },
  optional: { offset: 50, type: 'u8' },
  aalgos: { offset: 52, type: 'u32' },
  ealgos: { offset: 56, type: 'u32' },
  calgos: { offset: 60, type: 'u32' },
});

/** struct xfrm_userpolicy_info: the body of NEWPOLICY/UPDPOLICY, each GETPOLICY dump entry, XFRMA_POLICY. */
export const USERPOLICY_INFO = defineStruct('xfrm_userpolicy_info', 168, {
  sel: { offset: 0, struct: SELECTOR },
  lft: { offset: 56, struct: LIFETIME_CFG },
  curlft: { offset: 120, struct: LIFETIME_CUR },
  priority: { offset: 152, type: 'u32' },
  index: { offset: 156, type: 'u32' },
  dir: { offset: 160, type: 'u8' },
  action: { offset: 161, type: 'u8' },
  flags: { offset: 162, type: 'u8' },
  share: { offset: 163, type: 'u8' },
});

/** struct xfrm_userpolicy_id: the body of DELPOLICY/GETPOLICY (by index when non-zero, else by selector). */
export const USERPOLICY_ID = defineStruct('xfrm_userpolicy_id', 64, {
  sel: { offset: 0, struct: SELECTOR },
  index: { offset: 56, type: 'u32' },
  dir: { offset: 60, type: 'u8' },
});

/** struct xfrm_userpolicy_type (XFRMA_POLICY_TYPE): main or sub policy. */
export const USERPOLICY_TYPE = defineStruct('xfrm_userpolicy_type', 6, {
  type: { offset: 0, type: 'u8' },
});

/** struct xfrm_user_polexpire: the body of XFRM_MSG_POLEXPIRE. */
export const USER_POLEXPIRE = defineStruct('xfrm_user_polexpire', 176, {
  pol: { offset: 0, struct: USERPOLICY_INFO },
  hard: { offset: 168, type: 'u8' },
});

/** struct xfrm_user_acquire: the body of XFRM_MSG_ACQUIRE (the kernel asks for an SA). */
export const USER_ACQUIRE = defineStruct('xfrm_user_acquire', 280, {
  id: { offset: 0, struct: XFRM_ID },
  saddr: { offset: 24, type: 'address' },
  sel: { offset: 40, struct: SELECTOR },
  policy: { offset: 96, struct: USERPOLICY_INFO },
  aalgos: { offset: 264, type: 'u32' },
  ealgos: { offset: 268, type: 'u32' },
  calgos: { offset: 272, type: 'u32' },
  seq: { offset: 276, type: 'u32' },
});

/** struct xfrm_usersa_flush: the body of XFRM_MSG_FLUSHSA. */
export const USERSA_FLUSH = defineStruct('xfrm_usersa_flush', 1, {
  proto: { offset: 0, type: 'u8' },
});

/** struct xfrm_user_report: the body of XFRM_MSG_REPORT. */
export const USER_REPORT = defineStruct('xfrm_user_report', 60, {
  proto: { offset: 0, type: 'u8' },
  sel: { offset: 4, struct: SELECTOR },
});

/** struct xfrm_userpolicy_default: the body of XFRM_MSG_GETDEFAULT notifications. */
export const USERPOLICY_DEFAULT = defineStruct('xfrm_userpolicy_default', 3, {
  in: { offset: 0, type: 'u8' },
  fwd: { offset: 1, type: 'u8' },
  out: { offset: 2, type: 'u8' },
});

/** struct xfrm_user_expire: the body of XFRM_MSG_EXPIRE, a usersa_info then `hard`, padded to 8. */
export const USER_EXPIRE = defineStruct('xfrm_user_expire', 232, {
  state: { offset: 0, struct: USERSA_INFO },
  hard: { offset: 224, type: 'u8' },
});

/** struct xfrm_user_mapping: the body of XFRM_MSG_MAPPING (a NAT-T port change). */
export const USER_MAPPING = defineStruct('xfrm_user_mapping', 64, {
  saId: { offset: 0, struct: USERSA_ID },
  reqid: { offset: 24, type: 'u32' },
  oldSaddr: { offset: 28, type: 'address' },
  newSaddr: { offset: 44, type: 'address' },
  oldSport: { offset: 60, type: 'be16' },
  newSport: { offset: 62, type: 'be16' },
});

// ---------------------------------------------------------------------------------------
// Codecs derived from a table.

/** Throws DecodeError unless `buf` holds `length` bytes from `offset`. */
export function need(buf: Buffer, offset: number, length: number, what: string): void {
  if (buf.length - offset < length) {
    throw new DecodeError(`${what}: ${Math.max(0, buf.length - offset)} bytes, expected at least ${length}`);
  }
}

/** `length` bytes at `at`: a view, or (copy) a buffer of its own that shares no memory with `buf`. */
function readBytes(buf: Buffer, at: number, length: number, copy: boolean): Buffer {
  if (!copy) return buf.subarray(at, at + length);
  const owned = Buffer.alloc(length);
  buf.copy(owned, 0, at, at + length);
  return owned;
}

function readScalar(type: ScalarType | undefined, buf: Buffer, at: number, copy: boolean): number | bigint | Buffer {
  switch (type) {
    case 'u8':
      return buf[at]!;
    case 'u16':
      return readU16(buf, at);
    case 'u32':
      return readU32(buf, at);
    case 's32':
      return readU32(buf, at) | 0;
    case 'u64':
      return readU64(buf, at);
    case 'be16':
      return buf.readUInt16BE(at);
    case 'be32':
      return buf.readUInt32BE(at);
    default:
      // An address: a view into the datagram unless a copy is asked for.
      return readBytes(buf, at, ADDRESS_BYTES, copy);
  }
}

function writeScalar(type: ScalarType | undefined, value: unknown, out: Buffer, at: number): void {
  switch (type) {
    case 'u8':
      out[at] = value as number;
      return;
    case 'u16':
      return writeU16(out, value as number, at);
    case 'u32':
    case 's32':
      return writeU32(out, value as number, at);
    case 'u64':
      return writeU64(out, value as bigint, at);
    case 'be16':
      out.writeUInt16BE(value as number, at);
      return;
    case 'be32':
      out.writeUInt32BE((value as number) >>> 0, at);
      return;
    default:
      (value as Buffer).copy(out, at, 0, ADDRESS_BYTES);
  }
}

function readFields<F extends Fields>(layout: StructLayout<F>, buf: Buffer, base: number, copy: boolean): StructValue<F> {
  const value: Record<string, unknown> = {};
  for (const step of layout.walk) {
    const at = base + step.offset;
    if (step.struct) value[step.name] = readFields(step.struct, buf, at, copy);
    else if (step.bytes !== undefined) value[step.name] = readBytes(buf, at, step.bytes, copy);
    else value[step.name] = readScalar(step.type, buf, at, copy);
  }
  return value as StructValue<F>;
}

/**
 * Decode one struct at `offset`. The length is checked once for the whole struct (nested
 * structs lie inside it); `what` names the data in the DecodeError, e.g. the attribute.
 * Addresses and byte arrays are views into `buf`, or with `copy` buffers of their own
 * (unpooled: they share no memory with anything else), for values that outlive `buf`.
 */
export function decodeStruct<F extends Fields>(layout: StructLayout<F>, buf: Buffer, offset = 0, what = layout.name, copy = false): StructValue<F> {
  need(buf, offset, layout.size, what);
  return readFields(layout, buf, offset, copy);
}

function writeFields<F extends Fields>(layout: StructLayout<F>, value: StructValue<F>, out: Buffer, base: number): void {
  for (const step of layout.walk) {
    const fieldValue = (value as Record<string, unknown>)[step.name];
    if (step.struct) writeFields(step.struct, fieldValue as StructValue<Fields>, out, base + step.offset);
    else if (step.bytes !== undefined) (fieldValue as Buffer).copy(out, base + step.offset, 0, Math.min(step.bytes, (fieldValue as Buffer).length));
    else writeScalar(step.type, fieldValue, out, base + step.offset);
  }
}

/** Encode one struct into `out` at `offset` (a new buffer by default); padding is zeroed. */
export function encodeStruct<F extends Fields>(layout: StructLayout<F>, value: StructValue<F>, out: Buffer = Buffer.alloc(layout.size), offset = 0): Buffer {
  out.fill(0, offset, offset + layout.size);
  writeFields(layout, value, out, offset);
  return out;
}

/**
 * Offset of a field, nested fields by path, e.g. fieldOffset(USERSA_INFO, 'id', 'spi') = 72.
 * For fast paths that read single fields straight from received bytes: resolve once at load.
 */
export function fieldOffset(layout: StructLayout<Fields>, ...path: string[]): number {
  let offset = 0;
  let current: StructLayout<Fields> | undefined = layout;
  for (const name of path) {
    const field: Field | undefined = current?.fields[name];
    if (!field) throw new Error(`internal: ${layout.name} has no field ${path.join('.')}`);
    offset += field.offset;
    current = 'struct' in field ? field.struct : undefined;
  }
  return offset;
}
