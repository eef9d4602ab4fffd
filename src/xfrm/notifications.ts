// The other XFRM notifications a listener on the SA, policy and acquire groups receives,
// besides SAs (sa-message.ts) and policies (policy-message.ts): ACQUIRE (the kernel asks the
// key manager for an SA), FLUSHSA, FLUSHPOLICY, REPORT and GETDEFAULT (default policy
// changed). Layouts: net/xfrm/xfrm_user.c: build_acquire(), xfrm_notify_sa_flush(),
// xfrm_notify_policy_flush(), build_report(), xfrm_notify_userpolicy().
import { forEachAttribute, payloadU32 } from '../netlink/attributes.js';
import { align4 } from '../netlink/bytes.js';
import { XFRMA_COADDR, XFRMA_POLICY_TYPE, XFRMA_SA_PCPU } from './constants.js';
import { decodePolicyAttributes, decodePolicyInfo, type XfrmPolicy } from './policy-message.js';
import { ADDRESS_BYTES, decodeStruct, need, USER_ACQUIRE, USER_REPORT, USERPOLICY_DEFAULT, USERPOLICY_TYPE, USERSA_FLUSH, XFRM_ID, type StructValue } from './struct-table.js';
import type { Selector } from './structs.js';

/** struct xfrm_id: daddr, SPI (host-order value), proto. */
export type XfrmId = StructValue<typeof XFRM_ID.fields>;

/** XFRM_MSG_ACQUIRE: an SA wanted for traffic a policy matched. */
export interface AcquireMessage {
  id: XfrmId;
  saddr: Buffer;
  selector: Selector;
  /** The policy that matched, with its templates, mark, if_id and type from the attributes. */
  policy: XfrmPolicy;
  aalgos: number;
  ealgos: number;
  calgos: number;
  seq: number;
  /** XFRMA_SA_PCPU (6.13+): the CPU the acquire is for. */
  pcpu: number | undefined;
}

export function decodeAcquire(payload: Buffer, copy = true): AcquireMessage {
  const acquire = decodeStruct(USER_ACQUIRE, payload, 0, USER_ACQUIRE.name, copy);
  const policy = decodePolicyInfo(payload, USER_ACQUIRE.fields.policy.offset, USER_ACQUIRE.name, copy);
  let pcpu: number | undefined;
  decodePolicyAttributes(policy, payload, USER_ACQUIRE.size, copy, (type, value) => {
    if (type !== XFRMA_SA_PCPU) return false;
    pcpu = payloadU32(value, 'XFRMA_SA_PCPU');
    return true;
  });
  const { id, saddr, sel, aalgos, ealgos, calgos, seq } = acquire;
  return { id, saddr, selector: sel, policy, aalgos, ealgos, calgos, seq, pcpu };
}

/**
 * XFRM_MSG_FLUSHSA: every SA of `proto` was deleted (IPSEC_PROTO_ANY 255: of every protocol).
 * The kernel pads the one-byte body to 4 (nlmsg_put()); iproute2 requires those 4 bytes.
 */
export function decodeSaFlush(payload: Buffer): { proto: number } {
  need(payload, 0, align4(USERSA_FLUSH.size), USERSA_FLUSH.name);
  return { proto: payload[0]! };
}

/** XFRM_MSG_FLUSHPOLICY: no body; XFRMA_POLICY_TYPE on kernels with sub-policies. */
export function decodePolicyFlush(payload: Buffer): { type: number | undefined } {
  let type: number | undefined;
  forEachAttribute(payload, 0, (attribute, value) => {
    if (attribute === XFRMA_POLICY_TYPE && type === undefined) type = decodeStruct(USERPOLICY_TYPE, value, 0, 'XFRMA_POLICY_TYPE').type;
  });
  return { type };
}

/** XFRM_MSG_REPORT: a protocol event (Mobile IPv6) for a selector, with the care-of address. */
export interface ReportMessage {
  proto: number;
  selector: Selector;
  coaddr: Buffer | undefined;
}

export function decodeReport(payload: Buffer, copy = true): ReportMessage {
  const { proto, sel } = decodeStruct(USER_REPORT, payload, 0, USER_REPORT.name, copy);
  let coaddr: Buffer | undefined;
  forEachAttribute(payload, align4(USER_REPORT.size), (type, value) => {
    if (type !== XFRMA_COADDR || coaddr) return;
    need(value, 0, ADDRESS_BYTES, 'XFRMA_COADDR');
    coaddr = copy ? Buffer.from(value.subarray(0, ADDRESS_BYTES)) : value.subarray(0, ADDRESS_BYTES);
  });
  return { proto, selector: sel, coaddr };
}

/** XFRM_MSG_GETDEFAULT as notified: the default action per direction (0 unspec, 1 block, 2 accept). */
export type PolicyDefaults = StructValue<typeof USERPOLICY_DEFAULT.fields>;

export function decodePolicyDefaults(payload: Buffer): PolicyDefaults {
  need(payload, 0, align4(USERPOLICY_DEFAULT.size), USERPOLICY_DEFAULT.name);
  return decodeStruct(USERPOLICY_DEFAULT, payload, 0);
}
