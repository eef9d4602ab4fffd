// XFRM events: what a NETLINK_XFRM listener receives, classified in ONE function by message
// type (classifyMessage, the counterpart of iproute2's xfrm_accept_msg() in
// ip/xfrm_monitor.c), for the live socket (EventSubscription) and for saved message streams
// (readEventFile) alike. Every received message becomes exactly one event, and every event
// the kernel dropped or a truncated datagram cut off is reported as a loss: nothing vanishes
// silently (docs/kernel/events.md, docs/kernel/netlink.md).
import { readFileChunks } from '../file-chunks.js';
import { NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP } from '../netlink/constants.js';
import { DecodeError } from '../netlink/errors.js';
import { splitMessages, type NetlinkMessage } from '../netlink/message.js';
import { align4 } from '../netlink/bytes.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { familyName, IprouteReceiveBuffer } from './address.js';
import { decodeAePayload, type AeMessage } from './aevent.js';
import {
  NETLINK_XFRM,
  XFRM_AE_CE,
  XFRM_AE_CR,
  XFRM_AE_CU,
  XFRM_MSG_ACQUIRE,
  XFRM_MSG_FLUSHPOLICY,
  XFRM_MSG_FLUSHSA,
  XFRM_MSG_GETDEFAULT,
  XFRM_MSG_MAPPING,
  XFRM_MSG_NEWAE,
  XFRM_MSG_REPORT,
  XFRM_STATE_ESN,
  XFRMNLGRP_AEVENTS,
  XFRMNLGRP_EXPIRE,
  XFRMNLGRP_POLICY,
  XFRMNLGRP_SA,
} from './constants.js';
import {
  decodeAcquire,
  decodePolicyDefaults,
  decodePolicyFlush,
  decodeReport,
  decodeSaFlush,
  type AcquireMessage,
  type PolicyDefaults,
  type ReportMessage,
} from './notifications.js';
import { decodePolicyMessage, isPolicyMessageType, type PolicyMessageKind, type XfrmPolicy } from './policy-message.js';
import { decodeSaMessage, isSaMessageType, type SaMessageKind, type XfrmSa } from './sa-message.js';
import { isSaIdFilterEmpty, matchesSaId, type SaIdFilter } from './sa-filter.js';
import { decodeUserMapping, type Mark, type SaId, type Selector, type UserMapping, type UsersaInfo } from './structs.js';

/** Why the kernel sent an aevent, from the XFRM_AE_CR/CE/CU bits of its flags (first set bit wins). */
export type AeventCause = 'replay' | 'timer' | 'update' | 'unknown';

/**
 * Every event keeps its netlink message. On a CU event its seq and pid are the NEWAE
 * request's, which tells a writer its own events apart; on CR and CE events they are
 * uninitialised kernel memory and mean nothing (docs/kernel/events.md, "Seq and pid of events").
 */
interface EventBase {
  message: NetlinkMessage;
}

/** XFRM_MSG_NEWAE (group XFRMNLGRP_AEVENTS). */
export interface AeventEvent extends EventBase {
  kind: 'aevent';
  cause: AeventCause;
  ae: AeMessage;
}

export type SaChangeKind = SaMessageKind;

/** XFRM_MSG_NEWSA / UPDSA / DELSA (group XFRMNLGRP_SA) and XFRM_MSG_EXPIRE (XFRMNLGRP_EXPIRE). */
export interface SaChangeEvent extends EventBase {
  kind: 'sa';
  change: SaChangeKind;
  /**
   * The whole SA (sa-message.ts), keys included; addresses are views into `message`. An
   * EXPIRE carries no algorithms. Call wipeSaKeys() when done with a key-carrying one.
   */
  sa: XfrmSa;
  /** daddr, spi, proto and the SA's family (sa.saId). */
  saId: SaId;
  /** Parts of the SA's xfrm_usersa_info (for DELSA, from its XFRMA_SA attribute). */
  info: UsersaInfo;
  mark: Mark | undefined;
  /** XFRM_STATE_ESN set in the SA's flags. */
  esn: boolean;
  /**
   * Replay window in packets: XFRMA_REPLAY_ESN_VAL's replay_window when the SA keeps an ESN
   * style state (ESN, or any window over 32), else usersa_info.replay_window.
   */
  replayWindow: number;
  /** Which replay state the SA keeps: the attribute present, not the ESN flag (docs/kernel/newae.md). */
  replayFlavour: 'legacy' | 'esn' | undefined;
  /** EXPIRE only: a hard expiry (the SA is gone) rather than a soft one. */
  hard: boolean | undefined;
}

/**
 * XFRM_MSG_NEWPOLICY / UPDPOLICY / DELPOLICY (group XFRMNLGRP_POLICY) and XFRM_MSG_POLEXPIRE
 * (XFRMNLGRP_EXPIRE), decoded by policy-message.ts; addresses are views into `message`.
 */
export interface PolicyChangeEvent extends EventBase {
  kind: 'policy';
  change: PolicyMessageKind;
  policy: XfrmPolicy;
  /** POLEXPIRE only. */
  hard: boolean | undefined;
}

/** XFRM_MSG_FLUSHSA (`proto`, 255 for all) and XFRM_MSG_FLUSHPOLICY (`type` when the kernel sends it). */
export type FlushEvent = (EventBase & { kind: 'flush'; what: 'sa'; proto: number }) | (EventBase & { kind: 'flush'; what: 'policy'; type: number | undefined });

/** XFRM_MSG_ACQUIRE (group XFRMNLGRP_ACQUIRE): the kernel asks for an SA. */
export interface AcquireEvent extends EventBase {
  kind: 'acquire';
  acquire: AcquireMessage;
}

/** XFRM_MSG_REPORT (group XFRMNLGRP_REPORT). */
export interface ReportEvent extends EventBase {
  kind: 'report';
  report: ReportMessage;
}

/** XFRM_MSG_GETDEFAULT sent on XFRMNLGRP_POLICY when the default policies change. */
export interface PolicyDefaultsEvent extends EventBase {
  kind: 'policy-defaults';
  defaults: PolicyDefaults;
}

/** XFRM_MSG_MAPPING: a NAT-T peer changed its address or port. */
export interface MappingEvent extends EventBase {
  kind: 'mapping';
  mapping: UserMapping;
}

/** NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE: control messages, never events; ip prints nothing. */
export interface IgnoredMessage extends EventBase {
  kind: 'ignored';
}

/** A type this classifier does not decode. */
export interface UnknownMessage extends EventBase {
  kind: 'unknown';
}

/**
 * A message whose body does not decode, or (message undefined) bytes that do not frame a
 * message at all; a framing error ends its datagram, or the stream.
 */
export interface MalformedMessage {
  kind: 'malformed';
  message: NetlinkMessage | undefined;
  error: DecodeError;
}

export type XfrmEvent =
  | AeventEvent
  | SaChangeEvent
  | PolicyChangeEvent
  | FlushEvent
  | AcquireEvent
  | ReportEvent
  | PolicyDefaultsEvent
  | MappingEvent
  | IgnoredMessage
  | UnknownMessage
  | MalformedMessage;

export function aeventCause(flags: number): AeventCause {
  if (flags & XFRM_AE_CR) return 'replay';
  if (flags & XFRM_AE_CE) return 'timer';
  if (flags & XFRM_AE_CU) return 'update';
  return 'unknown';
}

/**
 * What one message from NETLINK_XFRM is. Decides by type alone, like xfrm_accept_msg(), and
 * never throws: a body that does not decode becomes a 'malformed' event.
 */
export function classifyMessage(message: NetlinkMessage, receiveBuffer?: IprouteReceiveBuffer): XfrmEvent {
  try {
    const { type } = message;
    if (type === XFRM_MSG_NEWAE) {
      const ae = decodeAePayload(message.payload);
      if (receiveBuffer && familyName(ae.id.saId.family) === undefined) {
        const { saId, saddr } = ae.id;
        ae.id = { ...ae.id, saId: { ...saId, daddr: receiveBuffer.withFollowingBytes(saId.daddr) }, saddr: receiveBuffer.withFollowingBytes(saddr) };
      }
      return { kind: 'aevent', message, cause: aeventCause(ae.id.flags), ae };
    }
    if (isSaMessageType(type)) return saChangeEvent(message, receiveBuffer);
    if (isPolicyMessageType(type)) {
      const { kind: change, policy, hard } = decodePolicyMessage(message, { copy: false });
      if (receiveBuffer) followPolicyAddresses(policy, receiveBuffer);
      return { kind: 'policy', message, change, policy, hard };
    }
    if (type === XFRM_MSG_MAPPING) {
      let mapping = decodeUserMapping(message.payload);
      if (receiveBuffer && familyName(mapping.saId.family) === undefined) {
        const follow = (address: Buffer): Buffer => receiveBuffer.withFollowingBytes(address);
        mapping = { ...mapping, saId: { ...mapping.saId, daddr: follow(mapping.saId.daddr) }, oldSaddr: follow(mapping.oldSaddr), newSaddr: follow(mapping.newSaddr) };
      }
      return { kind: 'mapping', message, mapping };
    }
    if (type === XFRM_MSG_FLUSHSA) return { kind: 'flush', what: 'sa', message, proto: decodeSaFlush(message.payload).proto };
    if (type === XFRM_MSG_FLUSHPOLICY) return { kind: 'flush', what: 'policy', message, type: decodePolicyFlush(message.payload).type };
    if (type === XFRM_MSG_ACQUIRE) {
      const acquire = decodeAcquire(message.payload, false);
      if (receiveBuffer && (unusual(acquire.selector.family) || unusual(acquire.policy.selector.family) || acquire.policy.templates.some((t) => unusual(t.family)))) {
        const follow = (address: Buffer): Buffer => receiveBuffer.withFollowingBytes(address);
        acquire.id.daddr = follow(acquire.id.daddr);
        acquire.saddr = follow(acquire.saddr);
        followSelector(acquire.selector, follow);
        followPolicyAddresses(acquire.policy, receiveBuffer);
      }
      return { kind: 'acquire', message, acquire };
    }
    if (type === XFRM_MSG_REPORT) {
      const report = decodeReport(message.payload, false);
      if (receiveBuffer && unusual(report.selector.family)) {
        const follow = (address: Buffer): Buffer => receiveBuffer.withFollowingBytes(address);
        followSelector(report.selector, follow);
        if (report.coaddr) report.coaddr = follow(report.coaddr);
      }
      return { kind: 'report', message, report };
    }
    if (type === XFRM_MSG_GETDEFAULT) return { kind: 'policy-defaults', message, defaults: decodePolicyDefaults(message.payload) };
    if (type === NLMSG_NOOP || type === NLMSG_ERROR || type === NLMSG_DONE) return { kind: 'ignored', message };
    return { kind: 'unknown', message };
  } catch (error) {
    if (error instanceof DecodeError) return { kind: 'malformed', message, error };
    throw error;
  }
}

/** Every message of a datagram (or buffer) as events; bytes that do not frame end it as one 'malformed'. */
export function classifyDatagram(datagram: Buffer, baseOffset = 0, receiveBuffer?: IprouteReceiveBuffer): XfrmEvent[] {
  receiveBuffer?.load(datagram);
  const { messages, error } = splitMessages(datagram, baseOffset);
  const events: XfrmEvent[] = messages.map((message) => classifyMessage(message, receiveBuffer));
  if (error) events.push({ kind: 'malformed', message: undefined, error });
  return events;
}

/**
 * An SA message as an event: the whole SA (sa-message.ts decodes the body layouts of NEWSA,
 * UPDSA, DELSA and EXPIRE), and the identity fields sync reads.
 */
function saChangeEvent(message: NetlinkMessage, receiveBuffer: IprouteReceiveBuffer | undefined): SaChangeEvent {
  const { kind: change, sa, hard } = decodeSaMessage(message, { copy: false });
  if (receiveBuffer && (unusual(sa.saId.family) || unusual(sa.selector.family))) {
    const follow = (address: Buffer): Buffer => receiveBuffer.withFollowingBytes(address);
    sa.saId.daddr = follow(sa.saId.daddr);
    sa.saddr = follow(sa.saddr);
    followSelector(sa.selector, follow);
    if (sa.encap) sa.encap.originalAddress = follow(sa.encap.originalAddress);
    if (sa.coaddr) sa.coaddr = follow(sa.coaddr);
  }
  const info: UsersaInfo = { saId: sa.saId, saddr: sa.saddr, reqid: sa.reqid, mode: sa.mode, replayWindow: sa.replayWindow, flags: sa.flags };
  const flavour = sa.replay?.kind;
  return {
    kind: 'sa',
    message,
    change,
    sa,
    saId: sa.saId,
    info,
    mark: sa.mark,
    esn: (sa.flags & XFRM_STATE_ESN) !== 0,
    replayWindow: sa.replay?.kind === 'esn' ? sa.replay.replayWindow : sa.replayWindow,
    replayFlavour: flavour,
    hard,
  };
}

/** A family whose addresses iproute2 prints by reading past their 16 bytes (address.ts). */
function unusual(family: number): boolean {
  return family !== 0 && familyName(family) === undefined;
}

function followSelector(selector: Selector, follow: (address: Buffer) => Buffer): void {
  selector.daddr = follow(selector.daddr);
  selector.saddr = follow(selector.saddr);
}

/**
 * Give a policy's addresses the bytes ip's receive buffer holds after them, when a family in
 * it is one whose text ip reads past the address (as classifyMessage does for aevents).
 */
function followPolicyAddresses(policy: XfrmPolicy, receiveBuffer: IprouteReceiveBuffer): void {
  if (!unusual(policy.selector.family) && !policy.templates.some((template) => unusual(template.family))) return;
  const follow = (address: Buffer): Buffer => receiveBuffer.withFollowingBytes(address);
  followSelector(policy.selector, follow);
  for (const template of policy.templates) {
    template.id.daddr = follow(template.id.daddr);
    template.saddr = follow(template.saddr);
  }
}

/** The SA an event is about, if it is about one. */
export function eventSaId(event: XfrmEvent): SaId | undefined {
  if (event.kind === 'aevent') return event.ae.id.saId;
  if (event.kind === 'sa') return event.saId;
  if (event.kind === 'mapping') return event.mapping.saId;
  return undefined;
}

/** A filtered stream keeps only events about a matching SA; an unfiltered one keeps everything. */
export function eventMatches(event: XfrmEvent, filter: SaIdFilter): boolean {
  const saId = eventSaId(event);
  return saId ? matchesSaId(saId, filter) : isSaIdFilterEmpty(filter);
}

/** Events that were sent but never delivered. */
export type EventLoss =
  /**
   * The kernel dropped `events` for a full socket receive buffer (undefined: count unreadable).
   * Its counter counts datagrams; the kernel sends every XFRM event as a datagram of its own
   * (net/xfrm/xfrm_user.c: xfrm_aevent_state_notify()), so for kernel events that is exact.
   */
  | { kind: 'overrun'; events: number | undefined }
  /**
   * A datagram longer than the read buffer: its first `readBytes` were delivered as far as they
   * frame whole messages, the rest (at least one event, how many is unknowable) is lost.
   */
  | { kind: 'truncated'; datagramBytes: number; readBytes: number };

export interface SubscriptionOptions {
  /** Batches of events in arrival order, one batch per wake-up. */
  onEvents: (events: XfrmEvent[]) => void;
  /** Losses as they are detected, and once more from close() for drops seen only then. */
  onLoss: (loss: EventLoss) => void;
  /** Receiving failed (a recv() error other than an overrun); the subscription has stopped. */
  onError: (error: Error) => void;
  /** Also join XFRMNLGRP_SA (NEWSA/UPDSA/DELSA/FLUSHSA) and XFRMNLGRP_EXPIRE; aevents are always joined. */
  saChanges?: boolean;
  /** Also join XFRMNLGRP_POLICY (NEWPOLICY/UPDPOLICY/DELPOLICY/FLUSHPOLICY, default changes). */
  policyChanges?: boolean;
  /** Socket receive buffer in bytes (SO_RCVBUFFORCE, falling back to SO_RCVBUF). */
  receiveBufferBytes?: number;
}

/**
 * A live subscription to XFRM events on its own NETLINK_XFRM socket, in the calling thread's
 * network namespace. Events reach onEvents; every event the kernel could not queue is
 * counted and reported through onLoss, so printed + lost is exact.
 */
export class EventSubscription {
  private readonly socket: NetlinkSocket;
  private readonly options: SubscriptionOptions;
  private closed = false;
  /** Addresses of unusual families print what ip would read after them (formatAddress). */
  private readonly receiveBuffer = new IprouteReceiveBuffer();

  private constructor(socket: NetlinkSocket, options: SubscriptionOptions) {
    this.socket = socket;
    this.options = options;
  }

  static open(options: SubscriptionOptions): EventSubscription {
    const socket = NetlinkSocket.open(NETLINK_XFRM, { receiveBufferBytes: options.receiveBufferBytes });
    try {
      socket.joinGroup(XFRMNLGRP_AEVENTS);
      if (options.saChanges) {
        socket.joinGroup(XFRMNLGRP_SA);
        socket.joinGroup(XFRMNLGRP_EXPIRE);
      }
      if (options.policyChanges) socket.joinGroup(XFRMNLGRP_POLICY);
      const subscription = new EventSubscription(socket, options);
      subscription.listen();
      return subscription;
    } catch (error) {
      socket.close();
      throw error;
    }
  }

  /** The socket's netlink port id (for recognising this process in /proc/net/netlink). */
  get portId(): number {
    return this.socket.portId;
  }

  /** The receive buffer the kernel granted, in bytes. */
  get receiveBufferBytes(): number {
    return this.socket.receiveBufferBytes;
  }

  /**
   * Stop delivering: events queue in the socket meanwhile, and once it is full the kernel
   * drops and counts them, reported as an overrun after resume(). A consumer that cannot keep
   * up (a blocked stdout) pauses instead of buffering without bound.
   */
  pause(): void {
    if (!this.closed) this.socket.stopListening();
  }

  /**
   * Deliver again. Drops while paused are reported at once, from the counter: the kernel raises
   * ENOBUFS once per congestion (net/netlink/af_netlink.c: netlink_overrun()), so drops that
   * follow an overrun already reported would otherwise wait for close() to be counted. They
   * are reported after listening again (delivery itself waits for the event loop), so that a
   * consumer that pauses in its loss handler (a fresh snapshot) stays paused.
   */
  resume(): void {
    if (this.closed) return;
    const dropped = this.socket.takeUnreportedDrops();
    this.listen();
    if (dropped) this.reportDrops(dropped);
  }

  private listen(): void {
    this.socket.listen({
      onDatagrams: (datagrams) => this.deliver(datagrams),
      onTruncated: (kept, fullBytes) => this.deliverCut(kept, fullBytes),
      onOverrun: (dropped) => this.reportDrops(dropped),
      onError: (error) => this.options.onError(error),
    });
  }

  /** An overrun whose drops were all counted already (at a resume) reports nothing. */
  private reportDrops(dropped: number | undefined): void {
    if (dropped !== 0) this.options.onLoss({ kind: 'overrun', events: dropped });
  }

  /** The whole messages at the start of a cut datagram are genuine; the cut one and any after it are lost. */
  private deliverCut(kept: Buffer, fullBytes: number): void {
    this.receiveBuffer.load(kept);
    const { messages } = splitMessages(kept);
    if (messages.length > 0) this.options.onEvents(messages.map((message) => classifyMessage(message, this.receiveBuffer)));
    this.options.onLoss({ kind: 'truncated', datagramBytes: fullBytes, readBytes: kept.length });
  }

  private deliver(datagrams: Buffer[]): void {
    const events: XfrmEvent[] = [];
    for (const datagram of datagrams) for (const event of classifyDatagram(datagram, 0, this.receiveBuffer)) events.push(event);
    if (events.length > 0) this.options.onEvents(events);
  }

  /**
   * Stop for good. Events already queued in the socket are delivered first (they were sent
   * before the end); then drops the kernel counted after the last overrun report (it raises
   * ENOBUFS once per congestion, docs/kernel/netlink.md) are reported, so the total is exact.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.stopListening();
    this.deliver(this.socket.receiveQueued());
    const dropped = this.socket.takeUnreportedDrops();
    this.socket.close();
    if (dropped) this.reportDrops(dropped);
  }
}

/** Bytes read from a file at a time: the memory a saved stream costs is this plus one message. */
const FILE_CHUNK_BYTES = 64 * 1024;

/**
 * The events saved in a file of back-to-back netlink messages (as `ip xfrm monitor file`
 * reads), in batches, read as a stream: memory stays bounded whatever the file's size, and a
 * consumer that stops early (--count) reads no further. Events before a framing error are
 * yielded first; then the DecodeError is thrown, naming the file offset.
 */
export async function* readEventFile(path: string): AsyncGenerator<XfrmEvent[], void, undefined> {
  let carry: Buffer = Buffer.alloc(0);
  let carryOffset = 0;
  // ip reads a file one message at a time, with its padding, into the same buffer.
  const receiveBuffer = new IprouteReceiveBuffer();
  const classifyInFile = (message: NetlinkMessage, end: number): XfrmEvent => {
    const start = message.payload.byteOffset - NLMSG_HDRLEN;
    receiveBuffer.load(Buffer.from(message.payload.buffer, start, Math.min(align4(NLMSG_HDRLEN + message.payload.length), end - start)));
    return classifyMessage(message, receiveBuffer);
  };
  for await (const chunk of readFileChunks(path, FILE_CHUNK_BYTES)) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const { messages, error, consumed } = splitMessages(data, carryOffset, true);
    const end = data.byteOffset + data.length;
    if (messages.length > 0) yield messages.map((message) => classifyInFile(message, end));
    if (error) throw error;
    carry = data.subarray(consumed);
    carryOffset += consumed;
  }
  // What is left is a message the file ends in the middle of: report it as the datagram case would.
  const { error } = splitMessages(carry, carryOffset);
  if (error) throw error;
}
