// Generic netlink constants (uapi linux/netlink.h). Protocol families' own numbers live in
// their layer (src/xfrm/constants.ts).

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** Same bit as NLM_F_ROOT: meaning depends on whether the request is a GET or a NEW. */
export const NLM_F_REPLACE = 0x100;
/** In acks: the request payload was left out (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
/** In acks: extended-ack TLVs follow. */
export const NLM_F_ACK_TLVS = 0x200;

export const NLA_TYPE_MASK = 0x3fff;

export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;
