// Finding SAs by SPI: the kernel has no lookup by SPI alone, so dump the SAD with GETSA and
// filter here (docs/kernel/sa-lookup.md; net/xfrm/xfrm_user.c: xfrm_dump_sa()). The filter
// reads each dump entry in place (SaStateView); only the SAs that match become objects.
import { encodeAttribute, encodeU8Attribute } from '../netlink/attributes.js';
import { DecodeError } from '../netlink/errors.js';
import type { NetlinkMessage } from '../netlink/message.js';
import type { Request } from '../netlink/socket.js';
import { addressesEqual, type ParsedAddress } from './address.js';
import type { AeMessage, SaKey } from './aevent.js';
import { IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, XFRM_MSG_GETSA, XFRM_MSG_NEWSA, XFRMA_MARK, XFRMA_PROTO } from './constants.js';
import { matchesSaIdAt, type SaIdFilter } from './sa-filter.js';
import { SaStateView } from './sa-view.js';
import { ADDRESS_BYTES, encodeStruct, USERSA_ID } from './struct-table.js';
import { encodeMark, type Mark, type SaId, type UsersaInfo } from './structs.js';

/** An SA as a lookup found it (a GETSA answer or dump entry): what names it, and what tells it apart. */
export interface SaEntry {
  info: UsersaInfo;
  mark: Mark | undefined;
  ifId: number | undefined;
}

/**
 * The SPI-0 rule, the one place it is decided: an SA without an SPI (a larval acquire state)
 * is never put in the kernel's SPI hash, so GETAE and NEWAE cannot reach it and no command
 * can name it (docs/kernel/sa-lookup.md; net/xfrm/xfrm_state.c: __xfrm_state_insert()).
 */
export function isReachableSpi(spi: number): boolean {
  return spi !== 0;
}

/**
 * GETSA dump request. The body must be empty: the dump parses attributes straight after the
 * netlink header, so a struct there would be read as attributes (docs/kernel/sa-lookup.md;
 * net/xfrm/xfrm_user.c: xfrm_dump_sa()).
 */
export function encodeSaDump(proto?: number): Request {
  return {
    type: XFRM_MSG_GETSA,
    parts: proto === undefined ? [] : [encodeU8Attribute(XFRMA_PROTO, proto)],
    completion: 'dump',
  };
}

/** Point `view` at a dump message, refusing any other message type. */
export function viewDumpEntry(view: SaStateView, type: number, buf: Buffer, start: number, end: number): SaStateView {
  if (type !== XFRM_MSG_NEWSA) throw new DecodeError(`expected XFRM_MSG_NEWSA (16) in SA dump, got type ${type}`);
  return view.fromDumpPayload(buf, start, end);
}

/** The entry of the SA a view shows; `copy` when the view's buffer will be reused. */
export function entryOf(view: SaStateView, copy: boolean): SaEntry {
  const address = (at: number): Buffer => (copy ? view.copyAddress(at) : view.buf.subarray(at, at + ADDRESS_BYTES));
  return {
    info: {
      saId: { daddr: address(view.daddrAt), spi: view.spi, family: view.family, proto: view.proto },
      saddr: address(view.saddrAt),
      reqid: view.reqid,
      mode: view.mode,
      replayWindow: view.legacyWindow,
      flags: view.stateFlags,
    },
    mark: view.markAt < 0 ? undefined : { value: view.markValue, mask: view.markMask },
    ifId: view.ifIdAt < 0 ? undefined : view.ifId,
  };
}

/** A dump entry's counters in the shape of a GETAE answer without thresholds (list --counters-only). */
export function stateOfDumpEntry(view: SaStateView): AeMessage {
  const { info, mark, ifId } = entryOf(view, false);
  return {
    id: { saId: info.saId, saddr: info.saddr, flags: 0, reqid: info.reqid },
    replay: view.replayState(),
    lifetime: view.lifetimeCurrent(),
    replayThreshold: undefined,
    timerThreshold100ms: undefined,
    mark,
    ifId,
    direction: undefined,
    unknownAttributes: [],
  };
}

export function decodeSaEntry(message: NetlinkMessage): SaEntry {
  return entryOf(viewDumpEntry(new SaStateView(), message.type, message.payload, 0, message.payload.length), false);
}

export interface SaFilter extends SaIdFilter {
  src?: ParsedAddress | undefined;
  /** Mark value, and mask when given. An unmarked SA has mark 0/0. */
  mark?: { value: number; mask?: number | undefined } | undefined;
}

/** The one filter, on an SA's fields wherever they are (an object, or bytes in place). */
function matches(
  filter: SaFilter,
  id: Omit<SaId, 'daddr'>,
  daddr: Buffer,
  daddrAt: number,
  saddr: Buffer,
  saddrAt: number,
  markValue: number,
  markMask: number,
): boolean {
  if (!isReachableSpi(id.spi)) return false;
  if (!matchesSaIdAt(filter, id, daddr, daddrAt)) return false;
  if (filter.src && (filter.src.family !== id.family || !addressesEqual(filter.src.bytes, saddr, id.family, saddrAt))) return false;
  if (filter.mark) {
    if (markValue !== filter.mark.value) return false;
    if (filter.mark.mask !== undefined && markMask !== filter.mark.mask) return false;
  }
  return true;
}

export function matchesFilter(entry: SaEntry, filter: SaFilter): boolean {
  const { saId, saddr } = entry.info;
  return matches(filter, saId, saId.daddr, 0, saddr, 0, entry.mark?.value ?? 0, entry.mark?.mask ?? 0);
}

export function viewMatchesFilter(view: SaStateView, filter: SaFilter): boolean {
  const marked = view.markAt >= 0;
  return matches(filter, view, view.buf, view.daddrAt, view.buf, view.saddrAt, marked ? view.markValue : 0, marked ? view.markMask : 0);
}

/** The GETAE/NEWAE key for a dumped SA: its sa_id and its own mark (docs/kernel/getae.md). */
export function keyOf(entry: SaEntry): SaKey {
  return { saId: entry.info.saId, mark: entry.mark };
}

/**
 * GETSA for one SA: the kernel's own lookup by daddr, SPI, proto and family, with the mark
 * matched by mask as for GETAE (docs/kernel/sa-lookup.md; net/xfrm/xfrm_user.c: xfrm_get_sa(),
 * xfrm_user_state_lookup()). Answered by one NEWSA message, laid out like a dump entry.
 */
export function encodeGetSa(key: SaKey): Request {
  const parts = [encodeStruct(USERSA_ID, key.saId)];
  if (key.mark) parts.push(encodeAttribute(XFRMA_MARK, encodeMark(key.mark)));
  return { type: XFRM_MSG_GETSA, parts, completion: 'reply' };
}

/** A mark mask that keeps every bit of the value. */
const FULL_MASK = 0xffffffff;
/** The protocols that have SPIs, which GETAE can look up. */
const SPI_PROTOCOLS = [IPPROTO_ESP, IPPROTO_AH, IPPROTO_COMP];

/**
 * The GETAE keys of the SAs a filter names: its SPI and destination, the protocol given or
 * each one that has SPIs, and the mark given (a full mask unless one is given; the kernel
 * compares value & mask with the SA's mark, docs/kernel/getae.md). Empty without an SPI or a
 * destination.
 */
export function namedKeys(filter: SaFilter): SaKey[] {
  const { spi, dst } = filter;
  if (spi === undefined || !dst) return [];
  const mark = filter.mark && { value: filter.mark.value, mask: filter.mark.mask ?? FULL_MASK };
  const protocols = filter.proto === undefined ? SPI_PROTOCOLS : [filter.proto];
  return protocols.map((proto) => ({ saId: { daddr: dst.bytes, spi, family: dst.family, proto }, mark }));
}
