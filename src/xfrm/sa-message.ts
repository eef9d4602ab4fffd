// A whole SA as the kernel describes it: decode NEWSA/UPDSA (notifications and each GETSA
// dump entry), DELSA notifications and EXPIRE into one typed value (XfrmSa) that carries
// everything needed to install the same SA elsewhere, and encode NEWSA/UPDSA from that value
// and DELSA by id (docs/kernel/sa-messages.md). The kernel side is net/xfrm/xfrm_user.c:
// copy_to_user_state_extra() (what a dump and a notification hold), xfrm_notify_sa() (DELSA
// wraps the usersa_info in XFRMA_SA), build_expire(), and verify_newsa_info() /
// xfrm_state_construct() (what NEWSA takes).
//
// Keys are SecretKey objects (secret-key.ts): copied out of the message into buffers of their
// own, never printed. Everything else is decoded as copies by default too, so an SA value
// neither keeps nor depends on the datagram it came from.
import { encodeBody, forEachAttribute, payloadU32, payloadU8, u32Attribute, u8Attribute, type AttributeWriter } from '../netlink/attributes.js';
import { readU16, readU64, writeU16, writeU32 } from '../netlink/bytes.js';
import { DecodeError } from '../netlink/errors.js';
import type { NetlinkMessage } from '../netlink/message.js';
import type { Request } from '../netlink/socket.js';
import type { SaKey } from './aevent.js';
import {
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  XFRM_INF,
  XFRM_MSG_DELSA,
  XFRM_MSG_EXPIRE,
  XFRM_MSG_NEWSA,
  XFRM_MSG_UPDSA,
  XFRMA_ALG_AEAD,
  XFRMA_ALG_AUTH,
  XFRMA_ALG_AUTH_TRUNC,
  XFRMA_ALG_COMP,
  XFRMA_ALG_CRYPT,
  XFRMA_COADDR,
  XFRMA_ENCAP,
  XFRMA_ETIMER_THRESH,
  XFRMA_IF_ID,
  XFRMA_IPTFS_DONT_FRAG,
  XFRMA_IPTFS_DROP_TIME,
  XFRMA_IPTFS_INIT_DELAY,
  XFRMA_IPTFS_MAX_QSIZE,
  XFRMA_IPTFS_PKT_SIZE,
  XFRMA_IPTFS_REORDER_WINDOW,
  XFRMA_LASTUSED,
  XFRMA_LTIME_VAL,
  XFRMA_MARK,
  XFRMA_MTIMER_THRESH,
  XFRMA_NAT_KEEPALIVE_INTERVAL,
  XFRMA_OFFLOAD_DEV,
  XFRMA_PAD,
  XFRMA_REPLAY_ESN_VAL,
  XFRMA_REPLAY_THRESH,
  XFRMA_REPLAY_VAL,
  XFRMA_SA,
  XFRMA_SA_DIR,
  XFRMA_SA_EXTRA_FLAGS,
  XFRMA_SA_PCPU,
  XFRMA_SEC_CTX,
  XFRMA_SET_MARK,
  XFRMA_SET_MARK_MASK,
  XFRMA_TFCPAD,
} from './constants.js';
import { SecretKey } from './secret-key.js';
import {
  ADDRESS_BYTES,
  ALGO,
  ALGO_AEAD,
  ALGO_AUTH,
  ALGORITHM_NAME_BYTES,
  decodeStruct,
  encodeStruct,
  ENCAP_TMPL,
  need,
  LIFETIME_CUR,
  MARK,
  REPLAY_STATE,
  USER_EXPIRE,
  USERSA_ID,
  USERSA_INFO,
  type Fields,
  type StructLayout,
  type StructValue,
} from './struct-table.js';
import {
  decodeEsnReplay,
  decodeLegacyReplay,
  decodeMark,
  decodeOffload,
  decodeSecurityContext,
  encodeEsnReplay,
  encodeLegacyReplay,
  encodeSecurityContext,
  esnReplayLength,
  securityContextLength,
  type Encap,
  type LifetimeConfig,
  type LifetimeCurrent,
  type Mark,
  type Offload,
  type ReplayState,
  type SaId,
  type SaStats,
  type SecurityContext,
  type Selector,
} from './structs.js';
export type { Encap, LifetimeConfig, Offload, SaStats, SecurityContext, Selector };

/** An algorithm and its key (XFRMA_ALG_CRYPT, XFRMA_ALG_COMP; XFRMA_ALG_AUTH when sent alone). */
export interface Algorithm {
  /** The kernel's name, e.g. `cbc(aes)`. */
  name: string;
  /** alg_key_len: the key's length in bits. The key holds ceil(keyBits / 8) bytes. */
  keyBits: number;
  key: SecretKey;
}

/** XFRMA_ALG_AUTH_TRUNC (or XFRMA_ALG_AUTH alone: truncBits undefined, the kernel's default). */
export interface AuthAlgorithm extends Algorithm {
  truncBits: number | undefined;
}

/** XFRMA_ALG_AEAD. */
export interface AeadAlgorithm extends Algorithm {
  icvBits: number;
}

/** XFRMA_SET_MARK and XFRMA_SET_MARK_MASK: the mark put on packets the SA has processed. */
export interface OutputMark {
  value: number;
  /** Undefined when the message had no XFRMA_SET_MARK_MASK (the kernel then uses all ones). */
  mask: number | undefined;
}

/** The IP-TFS attributes (Linux 6.14+, mode XFRM_MODE_IPTFS); each undefined when absent. */
export interface IptfsParameters {
  dropTimeMicroseconds: number | undefined;
  reorderWindow: number | undefined;
  dontFragment: boolean;
  initialDelayMicroseconds: number | undefined;
  maxQueueSize: number | undefined;
  packetSize: number | undefined;
}

/**
 * One SA: struct xfrm_usersa_info and every attribute the kernel sends with it. Optional
 * parts are undefined when their attribute was absent.
 */
export interface XfrmSa {
  /** id.daddr, id.spi, id.proto and the SA's own family (usersa_info.family). */
  saId: SaId;
  saddr: Buffer;
  selector: Selector;
  lifetime: LifetimeConfig;
  current: LifetimeCurrent;
  stats: SaStats;
  /** km.seq: the ACQUIRE sequence the SA answered (0 for SAs made without one). */
  seq: number;
  reqid: number;
  mode: number;
  /** Legacy window (at most 32); 0 when the replay state is an XFRMA_REPLAY_ESN_VAL. */
  replayWindow: number;
  flags: number;
  aead: AeadAlgorithm | undefined;
  crypt: Algorithm | undefined;
  auth: AuthAlgorithm | undefined;
  /** Compression (IPcomp): a name and no key. */
  comp: Algorithm | undefined;
  encap: Encap | undefined;
  mark: Mark | undefined;
  outputMark: OutputMark | undefined;
  ifId: number | undefined;
  tfcPad: number | undefined;
  replay: ReplayState | undefined;
  /** XFRMA_REPLAY_THRESH: never in dumps; a NEWSA may set it. */
  replayThreshold: number | undefined;
  /** XFRMA_ETIMER_THRESH as NEWSA takes it: raw jiffies (docs/kernel/timer-units.md). Never in dumps. */
  timerThresholdJiffies: number | undefined;
  extraFlags: number | undefined;
  coaddr: Buffer | undefined;
  securityContext: SecurityContext | undefined;
  offload: Offload | undefined;
  /** XFRMA_LASTUSED: Unix seconds of the last use; state, not configuration. */
  lastUsed: bigint | undefined;
  /** XFRMA_MTIMER_THRESH: NAT-T mapping maximum age, seconds. */
  mappingMaxAge: number | undefined;
  /** XFRMA_SA_DIR (6.10+): XFRM_SA_DIR_IN 1, XFRM_SA_DIR_OUT 2. */
  direction: number | undefined;
  /** XFRMA_SA_PCPU (6.13+): the CPU of a per-CPU SA. */
  pcpu: number | undefined;
  /** XFRMA_NAT_KEEPALIVE_INTERVAL (6.11+), seconds. */
  natKeepaliveInterval: number | undefined;
  iptfs: IptfsParameters | undefined;
  /** Attribute types this decoder does not know; their contents are dropped. */
  unknownAttributes: number[];
}

export type SaMessageKind = 'new' | 'update' | 'delete' | 'expire';

/** A decoded SA message: which event, and the SA. */
export interface SaMessage {
  kind: SaMessageKind;
  sa: XfrmSa;
  /** EXPIRE only: a hard expiry (the SA is gone) rather than a soft one. */
  hard: boolean | undefined;
}

export interface SaDecodeOptions {
  /**
   * Copy addresses out of the message (the default). Without, they are views into it: for a
   * caller that holds the message anyway (events.ts) and prints addresses as iproute2 does,
   * which for some families reads the bytes that follow (address.ts). Keys are always copied.
   */
  copy?: boolean;
}

const SA_MESSAGE_KINDS = new Map<number, SaMessageKind>([
  [XFRM_MSG_NEWSA, 'new'],
  [XFRM_MSG_UPDSA, 'update'],
  [XFRM_MSG_DELSA, 'delete'],
  [XFRM_MSG_EXPIRE, 'expire'],
]);

/** Whether a message type is one decodeSaMessage reads. */
export function isSaMessageType(type: number): boolean {
  return SA_MESSAGE_KINDS.has(type);
}

/**
 * Decode NEWSA, UPDSA (a notification or a GETSA dump entry or reply), DELSA (a notification:
 * xfrm_usersa_id, then XFRMA_SA with the full usersa_info) or EXPIRE (xfrm_user_expire: the
 * usersa_info without algorithms, then mark, if_id, direction). Throws DecodeError.
 */
export function decodeSaMessage(message: NetlinkMessage, options: SaDecodeOptions = {}): SaMessage {
  const kind = SA_MESSAGE_KINDS.get(message.type);
  if (kind === undefined) throw new DecodeError(`message type ${message.type} is not an SA message`);
  const body = message.payload;
  const copy = options.copy ?? true;
  if (kind === 'delete') {
    // The id in front only repeats what XFRMA_SA holds; it is checked for length, then skipped.
    need(body, 0, USERSA_ID.size, 'XFRM_MSG_DELSA');
    let info: Buffer | undefined;
    forEachAttribute(body, USERSA_ID.size, (type, payload) => {
      if (type === XFRMA_SA && info === undefined) info = payload;
    });
    if (!info) throw new DecodeError('XFRM_MSG_DELSA without XFRMA_SA');
    const sa = decodeUsersaInfoFull(info, 0, 'XFRMA_SA', copy);
    decodeSaAttributes(sa, body, USERSA_ID.size, copy);
    return { kind, sa, hard: undefined };
  }
  if (kind === 'expire') {
    need(body, 0, USER_EXPIRE.size, USER_EXPIRE.name);
    const sa = decodeUsersaInfoFull(body, 0, USER_EXPIRE.name, copy);
    const hard = body[USER_EXPIRE.fields.hard.offset] !== 0;
    decodeSaAttributes(sa, body, USER_EXPIRE.size, copy);
    return { kind, sa, hard };
  }
  const sa = decodeUsersaInfoFull(body, 0, USERSA_INFO.name, copy);
  decodeSaAttributes(sa, body, USERSA_INFO.size, copy);
  return { kind, sa, hard: undefined };
}

/** The usersa_info at `offset`, with every attribute-borne part still undefined. */
function decodeUsersaInfoFull(buf: Buffer, offset: number, what: string, copy: boolean): XfrmSa {
  const info = decodeStruct(USERSA_INFO, buf, offset, what, copy);
  return createSa({
    // xfrm_id has no family: the SA's own is the usersa_info field (docs/kernel/structs.md).
    saId: { daddr: info.id.daddr, spi: info.id.spi, family: info.family, proto: info.id.proto },
    saddr: info.saddr,
    selector: info.sel,
    lifetime: info.lft,
    current: info.curlft,
    stats: info.stats,
    seq: info.seq,
    reqid: info.reqid,
    mode: info.mode,
    replayWindow: info.replayWindow,
    flags: info.flags,
  });
}

/** A selector that matches nothing in particular: all zero, as an SA's is when made without `sel`. */
export function emptySelector(): Selector {
  return {
    daddr: Buffer.alloc(ADDRESS_BYTES),
    saddr: Buffer.alloc(ADDRESS_BYTES),
    dport: 0,
    dportMask: 0,
    sport: 0,
    sportMask: 0,
    family: 0,
    prefixlenD: 0,
    prefixlenS: 0,
    proto: 0,
    ifindex: 0,
    user: 0,
  };
}

/** No byte or packet limit and no time limit, as `ip xfrm state add` and `policy add` send by default. */
export function unlimitedLifetime(): LifetimeConfig {
  return {
    softByteLimit: XFRM_INF,
    hardByteLimit: XFRM_INF,
    softPacketLimit: XFRM_INF,
    hardPacketLimit: XFRM_INF,
    softAddExpiresSeconds: 0n,
    hardAddExpiresSeconds: 0n,
    softUseExpiresSeconds: 0n,
    hardUseExpiresSeconds: 0n,
  };
}

/**
 * An SA value for building one by hand (tests, records from elsewhere): the fields given,
 * and for the rest what `ip xfrm state add` sends when not told otherwise (no selector, no
 * limits, transport mode, no attributes).
 */
export function createSa(fields: Pick<XfrmSa, 'saId' | 'saddr'> & Partial<XfrmSa>): XfrmSa {
  return {
    selector: emptySelector(),
    lifetime: unlimitedLifetime(),
    current: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: 0,
    mode: 0,
    replayWindow: 0,
    flags: 0,
    aead: undefined,
    crypt: undefined,
    auth: undefined,
    comp: undefined,
    encap: undefined,
    mark: undefined,
    outputMark: undefined,
    ifId: undefined,
    tfcPad: undefined,
    replay: undefined,
    replayThreshold: undefined,
    timerThresholdJiffies: undefined,
    extraFlags: undefined,
    coaddr: undefined,
    securityContext: undefined,
    offload: undefined,
    lastUsed: undefined,
    mappingMaxAge: undefined,
    direction: undefined,
    pcpu: undefined,
    natKeepaliveInterval: undefined,
    iptfs: undefined,
    unknownAttributes: [],
    ...fields,
  };
}

/** The algorithm name: the bytes before the first NUL, which the 64-byte array must hold. */
function algorithmName(name: Buffer, what: string): string {
  const nul = name.indexOf(0);
  if (nul < 0) throw new DecodeError(`${what}: algorithm name is not NUL-terminated within ${ALGORITHM_NAME_BYTES} bytes`);
  return name.toString('utf8', 0, nul);
}

/** Bytes of a key of `keyBits` bits, as the kernel stores it: (bits + 7) / 8. */
export function keyBytes(keyBits: number): number {
  return Math.ceil(keyBits / 8);
}

/** The key that follows an algorithm header of `headerSize` bytes, checked against the attribute's length. */
function algorithmKey(payload: Buffer, headerSize: number, keyBits: number, what: string): SecretKey {
  const length = keyBytes(keyBits);
  if (payload.length - headerSize < length) {
    throw new DecodeError(`${what}: key of ${keyBits} bits needs ${length} bytes, the attribute holds ${Math.max(0, payload.length - headerSize)}`);
  }
  return SecretKey.copyOf(payload, headerSize, headerSize + length);
}

function decodeAlgorithm(payload: Buffer, what: string): Algorithm {
  const { name, keyBits } = decodeStruct(ALGO, payload, 0, what);
  return { name: algorithmName(name, what), keyBits, key: algorithmKey(payload, ALGO.size, keyBits, what) };
}

function decodeAuthTrunc(payload: Buffer): AuthAlgorithm {
  const what = 'XFRMA_ALG_AUTH_TRUNC';
  const { name, keyBits, truncBits } = decodeStruct(ALGO_AUTH, payload, 0, what);
  return { name: algorithmName(name, what), keyBits, truncBits, key: algorithmKey(payload, ALGO_AUTH.size, keyBits, what) };
}

function decodeAead(payload: Buffer): AeadAlgorithm {
  const what = 'XFRMA_ALG_AEAD';
  const { name, keyBits, icvBits } = decodeStruct(ALGO_AEAD, payload, 0, what);
  return { name: algorithmName(name, what), keyBits, icvBits, key: algorithmKey(payload, ALGO_AEAD.size, keyBits, what) };
}

function noIptfs(): IptfsParameters {
  return {
    dropTimeMicroseconds: undefined,
    reorderWindow: undefined,
    dontFragment: false,
    initialDelayMicroseconds: undefined,
    maxQueueSize: undefined,
    packetSize: undefined,
  };
}

function copyAddress(payload: Buffer, what: string, copy: boolean): Buffer {
  if (payload.length < ADDRESS_BYTES) throw new DecodeError(`${what}: ${payload.length} bytes, expected at least ${ADDRESS_BYTES}`);
  return copy ? Buffer.from(payload.subarray(0, ADDRESS_BYTES)) : payload.subarray(0, ADDRESS_BYTES);
}

/**
 * Fill in the SA's attribute-borne parts from the attributes at `start`. When an attribute
 * comes twice the first one counts, as iproute2 reads it (lib/libnetlink.c:
 * parse_rtattr_flags()); the kernel never sends one twice. The kernel sends every auth
 * algorithm twice, as XFRMA_ALG_AUTH and as XFRMA_ALG_AUTH_TRUNC with the truncation
 * (net/xfrm/xfrm_user.c: copy_to_user_auth()): the latter, which says more, is kept.
 */
function decodeSaAttributes(sa: XfrmSa, body: Buffer, start: number, copy: boolean): void {
  const seen = new Set<number>();
  let authAlone: Algorithm | undefined;
  let setMarkMask: number | undefined;
  forEachAttribute(body, start, (type, payload) => {
    if (seen.has(type)) return;
    seen.add(type);
    switch (type) {
      case XFRMA_ALG_AUTH:
        authAlone = decodeAlgorithm(payload, 'XFRMA_ALG_AUTH');
        return;
      case XFRMA_ALG_CRYPT:
        sa.crypt = decodeAlgorithm(payload, 'XFRMA_ALG_CRYPT');
        return;
      case XFRMA_ALG_COMP:
        sa.comp = decodeAlgorithm(payload, 'XFRMA_ALG_COMP');
        return;
      case XFRMA_ALG_AUTH_TRUNC:
        sa.auth = decodeAuthTrunc(payload);
        return;
      case XFRMA_ALG_AEAD:
        sa.aead = decodeAead(payload);
        return;
      case XFRMA_ENCAP:
        sa.encap = decodeStruct(ENCAP_TMPL, payload, 0, 'XFRMA_ENCAP', copy);
        return;
      case XFRMA_SA:
        // DELSA's usersa_info, read by decodeSaMessage.
        return;
      case XFRMA_SEC_CTX:
        sa.securityContext = decodeSecurityContext(payload, copy);
        return;
      case XFRMA_LTIME_VAL:
        // Only in requests: NEWSA sets the current lifetime from it (xfrm_update_ae_params()).
        sa.current = decodeStruct(LIFETIME_CUR, payload, 0, 'XFRMA_LTIME_VAL');
        return;
      case XFRMA_REPLAY_VAL:
        sa.replay = decodeLegacyReplay(payload);
        return;
      case XFRMA_REPLAY_ESN_VAL:
        sa.replay = decodeEsnReplay(payload, true);
        return;
      case XFRMA_REPLAY_THRESH:
        sa.replayThreshold = payloadU32(payload, 'XFRMA_REPLAY_THRESH');
        return;
      case XFRMA_ETIMER_THRESH:
        sa.timerThresholdJiffies = payloadU32(payload, 'XFRMA_ETIMER_THRESH');
        return;
      case XFRMA_COADDR:
        sa.coaddr = copyAddress(payload, 'XFRMA_COADDR', copy);
        return;
      case XFRMA_LASTUSED:
        if (payload.length < 8) throw new DecodeError(`XFRMA_LASTUSED: payload of ${payload.length} bytes, expected 8`);
        sa.lastUsed = readU64(payload, 0);
        return;
      case XFRMA_MARK:
        sa.mark = decodeMark(payload);
        return;
      case XFRMA_TFCPAD:
        sa.tfcPad = payloadU32(payload, 'XFRMA_TFCPAD');
        return;
      case XFRMA_SA_EXTRA_FLAGS:
        sa.extraFlags = payloadU32(payload, 'XFRMA_SA_EXTRA_FLAGS');
        return;
      case XFRMA_PAD:
        return;
      case XFRMA_OFFLOAD_DEV:
        sa.offload = decodeOffload(payload);
        return;
      case XFRMA_SET_MARK:
        sa.outputMark = { value: payloadU32(payload, 'XFRMA_SET_MARK'), mask: undefined };
        return;
      case XFRMA_SET_MARK_MASK:
        setMarkMask = payloadU32(payload, 'XFRMA_SET_MARK_MASK');
        return;
      case XFRMA_IF_ID:
        sa.ifId = payloadU32(payload, 'XFRMA_IF_ID');
        return;
      case XFRMA_MTIMER_THRESH:
        sa.mappingMaxAge = payloadU32(payload, 'XFRMA_MTIMER_THRESH');
        return;
      case XFRMA_SA_DIR:
        sa.direction = payloadU8(payload, 'XFRMA_SA_DIR');
        return;
      case XFRMA_NAT_KEEPALIVE_INTERVAL:
        sa.natKeepaliveInterval = payloadU32(payload, 'XFRMA_NAT_KEEPALIVE_INTERVAL');
        return;
      case XFRMA_SA_PCPU:
        sa.pcpu = payloadU32(payload, 'XFRMA_SA_PCPU');
        return;
      case XFRMA_IPTFS_DROP_TIME:
        (sa.iptfs ??= noIptfs()).dropTimeMicroseconds = payloadU32(payload, 'XFRMA_IPTFS_DROP_TIME');
        return;
      case XFRMA_IPTFS_REORDER_WINDOW:
        if (payload.length < 2) throw new DecodeError(`XFRMA_IPTFS_REORDER_WINDOW: payload of ${payload.length} bytes, expected 2`);
        (sa.iptfs ??= noIptfs()).reorderWindow = readU16(payload, 0);
        return;
      case XFRMA_IPTFS_DONT_FRAG:
        (sa.iptfs ??= noIptfs()).dontFragment = true;
        return;
      case XFRMA_IPTFS_INIT_DELAY:
        (sa.iptfs ??= noIptfs()).initialDelayMicroseconds = payloadU32(payload, 'XFRMA_IPTFS_INIT_DELAY');
        return;
      case XFRMA_IPTFS_MAX_QSIZE:
        (sa.iptfs ??= noIptfs()).maxQueueSize = payloadU32(payload, 'XFRMA_IPTFS_MAX_QSIZE');
        return;
      case XFRMA_IPTFS_PKT_SIZE:
        (sa.iptfs ??= noIptfs()).packetSize = payloadU32(payload, 'XFRMA_IPTFS_PKT_SIZE');
        return;
      default:
        sa.unknownAttributes.push(type);
    }
  });
  if (!sa.auth && authAlone) sa.auth = { ...authAlone, truncBits: undefined };
  else authAlone?.key.wipe();
  if (sa.outputMark) sa.outputMark.mask = setMarkMask;
}

// ---------------------------------------------------------------------------------------
// Keys.

/** The keys an SA holds (AEAD, crypt, auth; compression has none). */
export function saKeys(sa: XfrmSa): SecretKey[] {
  const keys: SecretKey[] = [];
  for (const algorithm of [sa.aead, sa.crypt, sa.auth, sa.comp]) if (algorithm) keys.push(algorithm.key);
  return keys;
}

/** Zero every key of the SA: call it once the SA has been sent or is no longer needed. */
export function wipeSaKeys(sa: XfrmSa): void {
  for (const key of saKeys(sa)) key.wipe();
}

/**
 * The SA carries key material and every byte of it is zero: what a kernel in lockdown
 * confidentiality mode sends (docs/kernel/sa-messages.md#redacted-keys; net/xfrm/xfrm_user.c:
 * xfrm_redact()). Installing such an SA elsewhere would give it all-zero keys. False for an
 * SA without keys (null algorithms, IPcomp, an EXPIRE message).
 */
export function hasRedactedKeys(sa: XfrmSa): boolean {
  const keys = saKeys(sa).filter((key) => key.length > 0);
  return keys.length > 0 && keys.every((key) => key.isAllZero());
}

/**
 * The IPIP (IPv6: IPv6-in-IPv6) state the kernel adds beside each IPcomp tunnel SA, for the
 * packets too small to compress (docs/kernel/sa-messages.md#the-ipcomp-tunnel-state;
 * net/ipv4/ipcomp.c: ipcomp_tunnel_create(), net/ipv6/ipcomp6.c: ipcomp6_tunnel_create()).
 * Dumps list it with protocol 4 or 41 and the SA's source address as its SPI; DELSA cannot
 * name it (EINVAL) and NEWSA refuses its protocol. It comes and goes with its IPcomp SA:
 * never copy it.
 */
export function isKernelTunnelState(sa: Pick<XfrmSa, 'saId'>): boolean {
  return sa.saId.proto === IPPROTO_IPIP || sa.saId.proto === IPPROTO_IPV6;
}

/** The SA is offloaded to a NIC (XFRMA_OFFLOAD_DEV): encodeNewSa leaves the offload out. */
export function isOffloaded(sa: XfrmSa): boolean {
  return sa.offload !== undefined;
}

// ---------------------------------------------------------------------------------------
// Encoding.

export interface NewSaOptions {
  /** UPDSA instead of NEWSA: replace the SA with the same id (the kernel's xfrm_state_update()). */
  update?: boolean;
  /**
   * Also send the SA's current lifetime (XFRMA_LTIME_VAL): the new SA then counts bytes,
   * packets and its add time from these values, so time limits end when they would have on
   * the node it came from (net/xfrm/xfrm_user.c: xfrm_update_ae_params()).
   */
  currentLifetime?: boolean;
}

function structPart<F extends Fields>(type: number, layout: StructLayout<F>, value: StructValue<F>): AttributeWriter {
  return { type, length: layout.size, write: (out, at) => void encodeStruct(layout, value, out, at) };
}

/**
 * An xfrm_algo, xfrm_algo_auth (with truncBits) or xfrm_algo_aead (with icvBits) and its key.
 * The name keeps its terminating NUL: at most 63 bytes are written.
 */
function algorithmPart(type: number, algorithm: Algorithm, tail?: { truncBits: number } | { icvBits: number }): AttributeWriter {
  const header = tail === undefined ? ALGO.size : 'truncBits' in tail ? ALGO_AUTH.size : ALGO_AEAD.size;
  const keyLength = keyBytes(algorithm.keyBits);
  return {
    type,
    length: header + keyLength,
    write: (out, at) => {
      out.write(algorithm.name, at, ALGORITHM_NAME_BYTES - 1, 'utf8');
      writeU32(out, algorithm.keyBits, at + ALGO.fields.keyBits.offset);
      if (tail && 'truncBits' in tail) writeU32(out, tail.truncBits, at + ALGO_AUTH.fields.truncBits.offset);
      if (tail && 'icvBits' in tail) writeU32(out, tail.icvBits, at + ALGO_AEAD.fields.icvBits.offset);
      algorithm.key.bytes.copy(out, at + header, 0, keyLength);
    },
  };
}

/**
 * The attributes of a NEWSA for `sa` (the kernel finds them by type; the order is ours). Left out: the
 * offload (the receiving node's NICs differ), XFRMA_LASTUSED (state the kernel keeps itself)
 * and anything this version does not know.
 */
function newSaAttributes(sa: XfrmSa, options: NewSaOptions): AttributeWriter[] {
  const parts: AttributeWriter[] = [];
  if (sa.aead) parts.push(algorithmPart(XFRMA_ALG_AEAD, sa.aead, { icvBits: sa.aead.icvBits }));
  if (sa.auth) {
    // AUTH_TRUNC carries the truncation; without one known, plain AUTH lets the kernel pick its default.
    if (sa.auth.truncBits === undefined) parts.push(algorithmPart(XFRMA_ALG_AUTH, sa.auth));
    else parts.push(algorithmPart(XFRMA_ALG_AUTH_TRUNC, sa.auth, { truncBits: sa.auth.truncBits }));
  }
  if (sa.crypt) parts.push(algorithmPart(XFRMA_ALG_CRYPT, sa.crypt));
  if (sa.comp) parts.push(algorithmPart(XFRMA_ALG_COMP, sa.comp));
  if (sa.encap) parts.push(structPart(XFRMA_ENCAP, ENCAP_TMPL, sa.encap));
  if (sa.tfcPad !== undefined) parts.push(u32Attribute(XFRMA_TFCPAD, sa.tfcPad));
  const coaddr = sa.coaddr;
  if (coaddr) parts.push({ type: XFRMA_COADDR, length: ADDRESS_BYTES, write: (out, at) => void coaddr.copy(out, at, 0, ADDRESS_BYTES) });
  if (sa.mark) parts.push(structPart(XFRMA_MARK, MARK, sa.mark));
  if (sa.outputMark) {
    parts.push(u32Attribute(XFRMA_SET_MARK, sa.outputMark.value));
    if (sa.outputMark.mask !== undefined) parts.push(u32Attribute(XFRMA_SET_MARK_MASK, sa.outputMark.mask));
  }
  if (sa.ifId !== undefined) parts.push(u32Attribute(XFRMA_IF_ID, sa.ifId));
  if (sa.extraFlags !== undefined) parts.push(u32Attribute(XFRMA_SA_EXTRA_FLAGS, sa.extraFlags));
  const context = sa.securityContext;
  if (context) parts.push({ type: XFRMA_SEC_CTX, length: securityContextLength(context), write: (out, at) => encodeSecurityContext(context, out, at) });
  if (sa.replay?.kind === 'legacy') {
    const replay = sa.replay;
    parts.push({ type: XFRMA_REPLAY_VAL, length: REPLAY_STATE.size, write: (out, at) => void encodeLegacyReplay(replay, out, at) });
  } else if (sa.replay?.kind === 'esn') {
    const replay = sa.replay;
    parts.push({ type: XFRMA_REPLAY_ESN_VAL, length: esnReplayLength(replay.bitmap.length), write: (out, at) => void encodeEsnReplay(replay, out, at) });
  }
  if (options.currentLifetime) parts.push(structPart(XFRMA_LTIME_VAL, LIFETIME_CUR, sa.current));
  if (sa.replayThreshold !== undefined) parts.push(u32Attribute(XFRMA_REPLAY_THRESH, sa.replayThreshold));
  if (sa.timerThresholdJiffies !== undefined) parts.push(u32Attribute(XFRMA_ETIMER_THRESH, sa.timerThresholdJiffies));
  if (sa.mappingMaxAge !== undefined) parts.push(u32Attribute(XFRMA_MTIMER_THRESH, sa.mappingMaxAge));
  if (sa.direction !== undefined) parts.push(u8Attribute(XFRMA_SA_DIR, sa.direction));
  if (sa.pcpu !== undefined) parts.push(u32Attribute(XFRMA_SA_PCPU, sa.pcpu));
  if (sa.natKeepaliveInterval !== undefined) parts.push(u32Attribute(XFRMA_NAT_KEEPALIVE_INTERVAL, sa.natKeepaliveInterval));
  const iptfs = sa.iptfs;
  if (iptfs) {
    if (iptfs.dropTimeMicroseconds !== undefined) parts.push(u32Attribute(XFRMA_IPTFS_DROP_TIME, iptfs.dropTimeMicroseconds));
    if (iptfs.reorderWindow !== undefined) {
      const window = iptfs.reorderWindow;
      parts.push({ type: XFRMA_IPTFS_REORDER_WINDOW, length: 2, write: (out, at) => writeU16(out, window, at) });
    }
    if (iptfs.dontFragment) parts.push({ type: XFRMA_IPTFS_DONT_FRAG, length: 0, write: () => {} });
    if (iptfs.initialDelayMicroseconds !== undefined) parts.push(u32Attribute(XFRMA_IPTFS_INIT_DELAY, iptfs.initialDelayMicroseconds));
    if (iptfs.maxQueueSize !== undefined) parts.push(u32Attribute(XFRMA_IPTFS_MAX_QSIZE, iptfs.maxQueueSize));
    if (iptfs.packetSize !== undefined) parts.push(u32Attribute(XFRMA_IPTFS_PKT_SIZE, iptfs.packetSize));
  }
  return parts;
}

/**
 * NEWSA (or UPDSA) installing `sa` as the kernel expects it (docs/kernel/sa-messages.md#newsa;
 * net/xfrm/xfrm_user.c: verify_newsa_info(), xfrm_state_construct()). The usersa_info goes as
 * decoded except what NEWSA ignores (current lifetime, stats: zero) and the legacy window,
 * which must be 0 when the replay state is ESN-style (verify_replay()). The request is
 * answered by an ack; its datagram is zeroed once sent (it holds the keys). Run saProblems()
 * (validate.ts) first: this encodes what it is given.
 */
export function encodeNewSa(sa: XfrmSa, options: NewSaOptions = {}): Request {
  const body = encodeBody(
    USERSA_INFO.size,
    (out) =>
      encodeStruct(
        USERSA_INFO,
        {
          sel: sa.selector,
          id: { daddr: sa.saId.daddr, spi: sa.saId.spi, proto: sa.saId.proto },
          saddr: sa.saddr,
          lft: sa.lifetime,
          curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
          stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
          seq: sa.seq,
          reqid: sa.reqid,
          family: sa.saId.family,
          mode: sa.mode,
          replayWindow: sa.replay?.kind === 'esn' ? 0 : sa.replayWindow,
          flags: sa.flags,
        },
        out,
        0,
      ),
    newSaAttributes(sa, options),
  );
  return { type: options.update ? XFRM_MSG_UPDSA : XFRM_MSG_NEWSA, parts: [body], completion: 'ack', secret: true };
}

/** Zero the key bytes a request built by encodeNewSa holds, once it has been sent. */
export function wipeRequest(request: Request): void {
  for (const part of request.parts) part.fill(0);
}

/**
 * DELSA for the SA a key names: its daddr, SPI, proto and family, and its mark, which the
 * kernel matches by mask (net/xfrm/xfrm_user.c: xfrm_del_sa(), xfrm_user_state_lookup()).
 */
export function encodeDelSa(key: SaKey): Request {
  const attributes: AttributeWriter[] = key.mark ? [structPart(XFRMA_MARK, MARK, key.mark)] : [];
  const body = encodeBody(USERSA_ID.size, (out) => void encodeStruct(USERSA_ID, key.saId, out, 0), attributes);
  return { type: XFRM_MSG_DELSA, parts: [body], completion: 'ack' };
}

/** The DELSA/GETAE key of an SA: its id and its own mark. */
export function saKeyOf(sa: XfrmSa): SaKey {
  return { saId: sa.saId, mark: sa.mark };
}
