// Finding SAs by SPI: the kernel has no lookup by SPI alone, so dump the SAD with GETSA and
// filter here (reference §9).
import { encodeU8Attribute, parseAttributes, payloadU32 } from '../netlink/attributes.js';
import { DecodeError } from '../netlink/errors.js';
import type { NetlinkMessage } from '../netlink/message.js';
import type { Request } from '../netlink/socket.js';
import { addressesEqual, type ParsedAddress } from './address.js';
import { matchesSaId, type SaIdFilter } from './sa-filter.js';
import type { SaKey } from './aevent.js';
import {
  SIZEOF_USERSA_INFO,
  XFRM_MSG_GETSA,
  XFRM_MSG_NEWSA,
  XFRMA_IF_ID,
  XFRMA_MARK,
  XFRMA_PROTO,
  XFRMA_REPLAY_ESN_VAL,
} from './constants.js';
import { decodeMark, decodeUsersaInfo, type Mark, type UsersaInfo } from './structs.js';

export interface SaEntry {
  info: UsersaInfo;
  mark: Mark | undefined;
  ifId: number | undefined;
  /** The SA keeps an ESN-style replay state (REPLAY_ESN_VAL), whatever its ESN flag says (§3.7). */
  esnStyleReplay: boolean;
}

/**
 * GETSA dump request. The body must be empty: the dump parses attributes straight after the
 * netlink header, so a struct there would be read as attributes (§9.1).
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
  const entry: SaEntry = { info: decodeUsersaInfo(message.payload), mark: undefined, ifId: undefined, esnStyleReplay: false };
  for (const attribute of parseAttributes(message.payload, SIZEOF_USERSA_INFO)) {
    if (attribute.type === XFRMA_MARK) entry.mark = decodeMark(attribute.payload);
    else if (attribute.type === XFRMA_IF_ID) entry.ifId = payloadU32(attribute.payload, 'XFRMA_IF_ID');
    else if (attribute.type === XFRMA_REPLAY_ESN_VAL) entry.esnStyleReplay = true;
  }
  return entry;
}

export interface SaFilter extends SaIdFilter {
  src?: ParsedAddress | undefined;
  /** Mark value, and mask when given. An unmarked SA has mark 0/0. */
  mark?: { value: number; mask?: number | undefined } | undefined;
}

export function matchesFilter(entry: SaEntry, filter: SaFilter): boolean {
  const { saId, saddr } = entry.info;
  // SPI 0 marks larval acquire states, which GETAE cannot reach (§4.2 item 7).
  if (saId.spi === 0) return false;
  if (!matchesSaId(saId, filter)) return false;
  if (filter.src && (filter.src.family !== saId.family || !addressesEqual(filter.src.bytes, saddr, saId.family))) return false;
  if (filter.mark) {
    const mark = entry.mark ?? { value: 0, mask: 0 };
    if (mark.value !== filter.mark.value) return false;
    if (filter.mark.mask !== undefined && mark.mask !== filter.mark.mask) return false;
  }
  return true;
}

/** The GETAE/NEWAE key for a dumped SA: its sa_id and its own mark (§9.3 step 4). */
export function keyOf(entry: SaEntry): SaKey {
  return { saId: entry.info.saId, mark: entry.mark };
}
