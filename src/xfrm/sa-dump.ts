// Finding SAs by SPI: the kernel has no lookup by SPI alone, so dump the SAD with GETSA and
// filter here (docs/kernel/sa-lookup.md; net/xfrm/xfrm_user.c: xfrm_dump_sa()).
import { encodeU8Attribute, forEachAttribute, payloadU32 } from '../netlink/attributes.js';
import { DecodeError } from '../netlink/errors.js';
import type { NetlinkMessage } from '../netlink/message.js';
import type { Request } from '../netlink/socket.js';
import { addressesEqual, type ParsedAddress } from './address.js';
import { matchesSaId, type SaIdFilter } from './sa-filter.js';
import type { SaKey } from './aevent.js';
import { XFRM_MSG_GETSA, XFRM_MSG_NEWSA, XFRMA_IF_ID, XFRMA_MARK, XFRMA_PROTO } from './constants.js';
import { USERSA_INFO } from './struct-table.js';
import { decodeMark, decodeUsersaInfo, type Mark, type UsersaInfo } from './structs.js';

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

export function decodeSaEntry(message: NetlinkMessage): SaEntry {
  if (message.type !== XFRM_MSG_NEWSA) throw new DecodeError(`expected XFRM_MSG_NEWSA (16) in SA dump, got type ${message.type}`);
  const entry: SaEntry = { info: decodeUsersaInfo(message.payload), mark: undefined, ifId: undefined };
  forEachAttribute(message.payload, USERSA_INFO.size, (type, payload) => {
    if (type === XFRMA_MARK) entry.mark = decodeMark(payload);
    else if (type === XFRMA_IF_ID) entry.ifId = payloadU32(payload, 'XFRMA_IF_ID');
  });
  return entry;
}

export interface SaFilter extends SaIdFilter {
  src?: ParsedAddress | undefined;
  /** Mark value, and mask when given. An unmarked SA has mark 0/0. */
  mark?: { value: number; mask?: number | undefined } | undefined;
}

export function matchesFilter(entry: SaEntry, filter: SaFilter): boolean {
  const { saId, saddr } = entry.info;
  if (!isReachableSpi(saId.spi)) return false;
  if (!matchesSaId(saId, filter)) return false;
  if (filter.src && (filter.src.family !== saId.family || !addressesEqual(filter.src.bytes, saddr, saId.family))) return false;
  if (filter.mark) {
    const mark = entry.mark ?? { value: 0, mask: 0 };
    if (mark.value !== filter.mark.value) return false;
    if (filter.mark.mask !== undefined && mark.mask !== filter.mark.mask) return false;
  }
  return true;
}

/** The GETAE/NEWAE key for a dumped SA: its sa_id and its own mark (docs/kernel/getae.md). */
export function keyOf(entry: SaEntry): SaKey {
  return { saId: entry.info.saId, mark: entry.mark };
}
