// NETLINK_XFRM numbers (uapi include/uapi/linux/xfrm.h; docs/kernel/structs.md). Each number
// is defined here only; struct sizes and offsets live in struct-table.ts.

export const NETLINK_XFRM = 6;

export const XFRM_MSG_NEWSA = 16;
export const XFRM_MSG_DELSA = 17;
export const XFRM_MSG_GETSA = 18;
export const XFRM_MSG_NEWPOLICY = 19;
export const XFRM_MSG_DELPOLICY = 20;
export const XFRM_MSG_GETPOLICY = 21;
export const XFRM_MSG_ACQUIRE = 23;
export const XFRM_MSG_EXPIRE = 24;
export const XFRM_MSG_UPDPOLICY = 25;
export const XFRM_MSG_UPDSA = 26;
export const XFRM_MSG_POLEXPIRE = 27;
export const XFRM_MSG_FLUSHSA = 28;
export const XFRM_MSG_FLUSHPOLICY = 29;
/** GETAE replies, events and the NEWAE request all use this type (docs/kernel/getae.md). */
export const XFRM_MSG_NEWAE = 30;
export const XFRM_MSG_GETAE = 31;
export const XFRM_MSG_REPORT = 32;
export const XFRM_MSG_MAPPING = 38;
/** Sent on XFRMNLGRP_POLICY when the default policy changes (net/xfrm/xfrm_user.c: xfrm_notify_userpolicy()). */
export const XFRM_MSG_GETDEFAULT = 40;

/**
 * Multicast groups (enum xfrm_nlgroups). EXPIRE carries XFRM_MSG_EXPIRE and POLEXPIRE; SA
 * carries NEWSA/UPDSA/DELSA/FLUSHSA; POLICY carries NEWPOLICY/UPDPOLICY/DELPOLICY/FLUSHPOLICY
 * and GETDEFAULT.
 */
export const XFRMNLGRP_ACQUIRE = 1;
export const XFRMNLGRP_EXPIRE = 2;
export const XFRMNLGRP_SA = 3;
export const XFRMNLGRP_POLICY = 4;
export const XFRMNLGRP_AEVENTS = 5;

// Attributes (enum xfrm_attr_type_t), in kernel order.
export const XFRMA_ALG_AUTH = 1;
export const XFRMA_ALG_CRYPT = 2;
export const XFRMA_ALG_COMP = 3;
export const XFRMA_ENCAP = 4;
export const XFRMA_TMPL = 5;
/** In a DELSA notification: the deleted SA's xfrm_usersa_info. */
export const XFRMA_SA = 6;
/** In a DELPOLICY notification: the deleted policy's xfrm_userpolicy_info. */
export const XFRMA_POLICY = 7;
export const XFRMA_SEC_CTX = 8;
export const XFRMA_LTIME_VAL = 9;
export const XFRMA_REPLAY_VAL = 10;
export const XFRMA_REPLAY_THRESH = 11;
export const XFRMA_ETIMER_THRESH = 12;
export const XFRMA_SRCADDR = 13;
export const XFRMA_COADDR = 14;
export const XFRMA_LASTUSED = 15;
export const XFRMA_POLICY_TYPE = 16;
export const XFRMA_ALG_AEAD = 18;
export const XFRMA_ALG_AUTH_TRUNC = 20;
export const XFRMA_MARK = 21;
export const XFRMA_TFCPAD = 22;
export const XFRMA_REPLAY_ESN_VAL = 23;
export const XFRMA_SA_EXTRA_FLAGS = 24;
export const XFRMA_PROTO = 25;
/**
 * Empty alignment attribute before 64-bit payloads on some architectures (docs/kernel/structs.md;
 * net/xfrm/xfrm_user.c: build_aevent(), nla_put_64bit()).
 */
export const XFRMA_PAD = 27;
export const XFRMA_OFFLOAD_DEV = 28;
/** The output mark (XFRMA_OUTPUT_MARK in older headers) and its mask. */
export const XFRMA_SET_MARK = 29;
export const XFRMA_SET_MARK_MASK = 30;
export const XFRMA_IF_ID = 31;
/** NAT-T mapping maximum age in seconds (inbound encap SAs). */
export const XFRMA_MTIMER_THRESH = 32;
/** Linux 6.10+. */
export const XFRMA_SA_DIR = 33;
/** Linux 6.11+. */
export const XFRMA_NAT_KEEPALIVE_INTERVAL = 34;
/** Linux 6.13+: the CPU of a per-CPU SA. */
export const XFRMA_SA_PCPU = 35;
/** Linux 6.14+: IP-TFS mode parameters (XFRM_MODE_IPTFS). */
export const XFRMA_IPTFS_DROP_TIME = 36;
export const XFRMA_IPTFS_REORDER_WINDOW = 37;
export const XFRMA_IPTFS_DONT_FRAG = 38;
export const XFRMA_IPTFS_INIT_DELAY = 39;
export const XFRMA_IPTFS_MAX_QSIZE = 40;
export const XFRMA_IPTFS_PKT_SIZE = 41;

/** In GETAE: include XFRMA_REPLAY_THRESH in the reply. */
export const XFRM_AE_RTHR = 1;
/** In GETAE: include XFRMA_ETIMER_THRESH in the reply. */
export const XFRM_AE_ETHR = 8;
/** Event cause: the replay counter moved by the threshold. */
export const XFRM_AE_CR = 16;
/**
 * Event cause: the timer expired, or the first packet after it went idle (docs/kernel/events.md;
 * net/xfrm/xfrm_replay.c: xfrm_replay_notify()).
 */
export const XFRM_AE_CE = 32;
/** Event cause: a userspace NEWAE. */
export const XFRM_AE_CU = 64;

export const AF_BRIDGE = 7;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_PACKET = 17;
export const AF_MPLS = 28;

export const AF_UNSPEC = 0;

export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_COMP = 108;
/** The protocols of the tunnel states the kernel adds beside IPcomp tunnel SAs (sa-message.ts: isKernelTunnelState()). */
export const IPPROTO_IPIP = 4;
export const IPPROTO_IPV6 = 41;
/** `ip xfrm state flush` without a protocol asks for every one (include/uapi/linux/ipsec.h). */
export const IPSEC_PROTO_ANY = 255;

/**
 * The kernel refuses larger bitmaps: XFRMA_REPLAY_ESN_MAX is 4096 bits (docs/kernel/structs.md;
 * include/uapi/linux/xfrm.h, net/xfrm/xfrm_user.c: verify_replay()).
 */
export const REPLAY_ESN_MAX_BMP_LEN = 128;

// xfrm_usersa_info.flags.
export const XFRM_STATE_NOECN = 1;
export const XFRM_STATE_DECAP_DSCP = 2;
export const XFRM_STATE_NOPMTUDISC = 4;
export const XFRM_STATE_WILDRECV = 8;
export const XFRM_STATE_ICMP = 16;
export const XFRM_STATE_AF_UNSPEC = 32;
export const XFRM_STATE_ALIGN4 = 64;
export const XFRM_STATE_ESN = 128;

// XFRMA_SA_EXTRA_FLAGS.
export const XFRM_SA_XFLAG_DONT_ENCAP_DSCP = 1;
export const XFRM_SA_XFLAG_OSEQ_MAY_WRAP = 2;

// Modes (xfrm_usersa_info.mode, xfrm_user_tmpl.mode).
export const XFRM_MODE_TRANSPORT = 0;
export const XFRM_MODE_TUNNEL = 1;
export const XFRM_MODE_ROUTEOPTIMIZATION = 2;
export const XFRM_MODE_IN_TRIGGER = 3;
export const XFRM_MODE_BEET = 4;
/** Linux 6.14+. */
export const XFRM_MODE_IPTFS = 5;

/** XFRMA_SA_DIR values (enum xfrm_sa_dir). */
export const XFRM_SA_DIR_IN = 1;
export const XFRM_SA_DIR_OUT = 2;

// Policy directions; a socket policy's dir is XFRM_POLICY_MAX + its direction.
export const XFRM_POLICY_IN = 0;
export const XFRM_POLICY_OUT = 1;
export const XFRM_POLICY_FWD = 2;
export const XFRM_POLICY_MAX = 3;

// Policy actions and flags (xfrm_userpolicy_info).
export const XFRM_POLICY_ALLOW = 0;
export const XFRM_POLICY_BLOCK = 1;
export const XFRM_POLICY_LOCALOK = 1;
export const XFRM_POLICY_ICMP = 2;

export const XFRM_POLICY_TYPE_MAIN = 0;
export const XFRM_POLICY_TYPE_SUB = 1;

// Share (xfrm_userpolicy_info.share, xfrm_user_tmpl.share).
export const XFRM_SHARE_ANY = 0;
export const XFRM_SHARE_UNIQUE = 3;

/** The most templates a policy can have (include/net/xfrm.h). */
export const XFRM_MAX_DEPTH = 6;

// XFRMA_OFFLOAD_DEV flags.
export const XFRM_OFFLOAD_INBOUND = 2;
export const XFRM_OFFLOAD_PACKET = 4;

// NAT-T encapsulation types (XFRMA_ENCAP; include/uapi/linux/udp.h, tcp.h).
export const UDP_ENCAP_ESPINUDP_NON_IKE = 1;
export const UDP_ENCAP_ESPINUDP = 2;
export const TCP_ENCAP_ESPINTCP = 7;

/** A lifetime limit of all ones: no limit. */
export const XFRM_INF = 0xffffffffffffffffn;
