// NETLINK_XFRM numbers (include/uapi/linux/xfrm.h; docs/kernel/structs.md). Each number is defined here only.

export const NETLINK_XFRM = 6;

export const XFRM_MSG_NEWSA = 16;
export const XFRM_MSG_DELSA = 17;
export const XFRM_MSG_GETSA = 18;
export const XFRM_MSG_NEWPOLICY = 19;
export const XFRM_MSG_ALLOCSPI = 22;
export const XFRM_MSG_EXPIRE = 24;
export const XFRM_MSG_UPDSA = 26;
/** GETAE replies, events and the NEWAE request all use this type (docs/kernel/getae.md; net/xfrm/xfrm_user.c: build_aevent()). */
export const XFRM_MSG_NEWAE = 30;
export const XFRM_MSG_GETAE = 31;
export const XFRM_MSG_MAPPING = 38;

/** Multicast groups (enum xfrm_nlgroups). EXPIRE carries XFRM_MSG_EXPIRE; SA carries NEWSA/UPDSA/DELSA. */
export const XFRMNLGRP_EXPIRE = 2;
export const XFRMNLGRP_SA = 3;
export const XFRMNLGRP_AEVENTS = 5;

/** In a DELSA notification: the deleted SA's xfrm_usersa_info. */
export const XFRMA_SA = 6;
export const XFRMA_LTIME_VAL = 9;
export const XFRMA_REPLAY_VAL = 10;
export const XFRMA_REPLAY_THRESH = 11;
export const XFRMA_ETIMER_THRESH = 12;
export const XFRMA_MARK = 21;
export const XFRMA_REPLAY_ESN_VAL = 23;
export const XFRMA_PROTO = 25;
export const XFRMA_ADDRESS_FILTER = 26;
/** Empty alignment attribute before 64-bit payloads on some architectures (docs/kernel/structs.md; lib/nlattr.c: nla_put_64bit()). */
export const XFRMA_PAD = 27;
export const XFRMA_IF_ID = 31;
export const XFRMA_SA_DIR = 33;

/** In GETAE: include XFRMA_REPLAY_THRESH in the reply. */
export const XFRM_AE_RTHR = 1;
export const XFRM_AE_RVAL = 2;
export const XFRM_AE_LVAL = 4;
/** In GETAE: include XFRMA_ETIMER_THRESH in the reply. */
export const XFRM_AE_ETHR = 8;
/** Event cause: the replay counter moved by the threshold. */
export const XFRM_AE_CR = 16;
/** Event cause: the timer expired (or the first packet after it went idle: docs/kernel/events.md; net/xfrm/xfrm_replay.c: xfrm_replay_notify()). */
export const XFRM_AE_CE = 32;
/** Event cause: a userspace NEWAE. */
export const XFRM_AE_CU = 64;

export const AF_BRIDGE = 7;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_PACKET = 17;
export const AF_MPLS = 28;

export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_COMP = 108;

/** No SA has a larger bitmap: XFRMA_REPLAY_ESN_MAX is 4096 bits (docs/kernel/structs.md; net/xfrm/xfrm_user.c: verify_replay()), and NEWAE must match the SA's length (xfrm_replay_verify_len()). */
export const REPLAY_ESN_MAX_BMP_LEN = 128;

export const XFRM_STATE_ESN = 128;

export const SIZEOF_USERSA_ID = 24;
export const SIZEOF_AEVENT_ID = 48;
export const SIZEOF_REPLAY_STATE = 12;
export const SIZEOF_REPLAY_STATE_ESN_HEADER = 24;
export const SIZEOF_LIFETIME_CUR = 32;
export const SIZEOF_MARK = 8;
export const SIZEOF_USERSA_INFO = 224;
export const SIZEOF_USER_MAPPING = 64;
/** struct xfrm_user_expire: xfrm_usersa_info, then `hard` (u8) at 224, padded to 8. */
export const SIZEOF_USER_EXPIRE = 232;
