// A whole IPsec policy as the kernel describes it: decode NEWPOLICY/UPDPOLICY (notifications
// and each GETPOLICY dump entry), DELPOLICY notifications and POLEXPIRE into one typed value
// (XfrmPolicy), and encode NEWPOLICY/UPDPOLICY from it, DELPOLICY by index or selector, and
// the GETPOLICY dump request (docs/kernel/sa-messages.md#policies). The kernel side is
// net/xfrm/xfrm_user.c: dump_one_policy() and xfrm_notify_policy() (DELPOLICY wraps the
// userpolicy_info in XFRMA_POLICY), build_polexpire(), verify_newpolicy_info(),
// xfrm_policy_construct() and xfrm_get_policy().
import { encodeBody, forEachAttribute, payloadU32, u32Attribute, type AttributeWriter } from '../netlink/attributes.js';
import { DecodeError } from '../netlink/errors.js';
import type { NetlinkMessage } from '../netlink/message.js';
import type { Request } from '../netlink/socket.js';
import {
  XFRM_MSG_DELPOLICY,
  XFRM_MSG_GETPOLICY,
  XFRM_MSG_NEWPOLICY,
  XFRM_MSG_POLEXPIRE,
  XFRM_MSG_UPDPOLICY,
  XFRM_POLICY_ALLOW,
  XFRM_POLICY_MAX,
  XFRM_POLICY_TYPE_MAIN,
  XFRMA_IF_ID,
  XFRMA_MARK,
  XFRMA_OFFLOAD_DEV,
  XFRMA_PAD,
  XFRMA_POLICY,
  XFRMA_POLICY_TYPE,
  XFRMA_SEC_CTX,
  XFRMA_TMPL,
} from './constants.js';
import {
  decodeStruct,
  encodeStruct,
  MARK,
  need,
  USER_POLEXPIRE,
  USER_TMPL,
  USERPOLICY_ID,
  USERPOLICY_INFO,
  USERPOLICY_TYPE,
  type StructValue,
} from './struct-table.js';
import { unlimitedLifetime } from './sa-message.js';
import {
  decodeMark,
  decodeOffload,
  decodeSecurityContext,
  encodeMark,
  encodeSecurityContext,
  securityContextLength,
  type LifetimeConfig,
  type LifetimeCurrent,
  type Mark,
  type Offload,
  type SecurityContext,
  type Selector,
} from './structs.js';

/** struct xfrm_user_tmpl: the SA a policy asks for. `id.spi` is usually 0 (any SA). */
export type PolicyTemplate = StructValue<typeof USER_TMPL.fields>;

/** One policy: struct xfrm_userpolicy_info and every attribute the kernel sends with it. */
export interface XfrmPolicy {
  selector: Selector;
  lifetime: LifetimeConfig;
  current: LifetimeCurrent;
  priority: number;
  /** The kernel's id; its low three bits are the direction (net/xfrm/xfrm_policy.c: xfrm_gen_index()). */
  index: number;
  /** XFRM_POLICY_IN 0, OUT 1, FWD 2; a socket policy's is XFRM_POLICY_MAX (3) + its direction. */
  dir: number;
  /** XFRM_POLICY_ALLOW 0, XFRM_POLICY_BLOCK 1. */
  action: number;
  flags: number;
  share: number;
  templates: PolicyTemplate[];
  mark: Mark | undefined;
  ifId: number | undefined;
  /** XFRMA_POLICY_TYPE (kernels with CONFIG_XFRM_SUB_POLICY send it): main 0, sub 1. */
  type: number | undefined;
  securityContext: SecurityContext | undefined;
  offload: Offload | undefined;
  /** Attribute types this decoder does not know; their contents are dropped. */
  unknownAttributes: number[];
}

export type PolicyMessageKind = 'new' | 'update' | 'delete' | 'expire';

export interface PolicyMessage {
  kind: PolicyMessageKind;
  policy: XfrmPolicy;
  /** POLEXPIRE only. */
  hard: boolean | undefined;
}

export interface PolicyDecodeOptions {
  /** As SaDecodeOptions.copy: addresses copied out of the message (the default) or views into it. */
  copy?: boolean;
}

const POLICY_MESSAGE_KINDS = new Map<number, PolicyMessageKind>([
  [XFRM_MSG_NEWPOLICY, 'new'],
  [XFRM_MSG_UPDPOLICY, 'update'],
  [XFRM_MSG_DELPOLICY, 'delete'],
  [XFRM_MSG_POLEXPIRE, 'expire'],
]);

/** Whether a message type is one decodePolicyMessage reads. */
export function isPolicyMessageType(type: number): boolean {
  return POLICY_MESSAGE_KINDS.has(type);
}

/**
 * A socket policy (setsockopt IP_XFRM_POLICY): per socket, not in the SPD a dump walks for
 * replication, and never to be installed as a global policy.
 */
export function isSocketPolicy(policy: Pick<XfrmPolicy, 'dir'>): boolean {
  return policy.dir >= XFRM_POLICY_MAX;
}

/**
 * Decode NEWPOLICY, UPDPOLICY (a notification or a GETPOLICY dump entry or reply), DELPOLICY
 * (a notification: xfrm_userpolicy_id, then XFRMA_POLICY with the full userpolicy_info) or
 * POLEXPIRE. Throws DecodeError.
 */
export function decodePolicyMessage(message: NetlinkMessage, options: PolicyDecodeOptions = {}): PolicyMessage {
  const kind = POLICY_MESSAGE_KINDS.get(message.type);
  if (kind === undefined) throw new DecodeError(`message type ${message.type} is not a policy message`);
  const body = message.payload;
  const copy = options.copy ?? true;
  if (kind === 'delete') {
    need(body, 0, USERPOLICY_ID.size, 'XFRM_MSG_DELPOLICY');
    let info: Buffer | undefined;
    forEachAttribute(body, USERPOLICY_ID.size, (type, payload) => {
      if (type === XFRMA_POLICY && info === undefined) info = payload;
    });
    if (!info) throw new DecodeError('XFRM_MSG_DELPOLICY without XFRMA_POLICY');
    const policy = decodePolicyInfo(info, 0, 'XFRMA_POLICY', copy);
    decodePolicyAttributes(policy, body, USERPOLICY_ID.size, copy);
    return { kind, policy, hard: undefined };
  }
  if (kind === 'expire') {
    need(body, 0, USER_POLEXPIRE.size, USER_POLEXPIRE.name);
    const policy = decodePolicyInfo(body, 0, USER_POLEXPIRE.name, copy);
    decodePolicyAttributes(policy, body, USER_POLEXPIRE.size, copy);
    return { kind, policy, hard: body[USER_POLEXPIRE.fields.hard.offset] !== 0 };
  }
  const policy = decodePolicyInfo(body, 0, USERPOLICY_INFO.name, copy);
  decodePolicyAttributes(policy, body, USERPOLICY_INFO.size, copy);
  return { kind, policy, hard: undefined };
}

/**
 * A policy value for building one by hand: the fields given, and for the rest what
 * `ip xfrm policy add` sends when not told otherwise (no limits, allow, priority 0, index 0
 * for the kernel to choose, no templates).
 */
export function createPolicy(fields: Pick<XfrmPolicy, 'selector' | 'dir'> & Partial<XfrmPolicy>): XfrmPolicy {
  return {
    lifetime: unlimitedLifetime(),
    current: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
    priority: 0,
    index: 0,
    action: XFRM_POLICY_ALLOW,
    flags: 0,
    share: 0,
    templates: [],
    mark: undefined,
    ifId: undefined,
    type: undefined,
    securityContext: undefined,
    offload: undefined,
    unknownAttributes: [],
    ...fields,
  };
}

/** The userpolicy_info at `offset` (also inside ACQUIRE), with the attribute-borne parts still empty. */
export function decodePolicyInfo(buf: Buffer, offset: number, what: string, copy: boolean): XfrmPolicy {
  const info = decodeStruct(USERPOLICY_INFO, buf, offset, what, copy);
  return createPolicy({
    selector: info.sel,
    lifetime: info.lft,
    current: info.curlft,
    priority: info.priority,
    index: info.index,
    dir: info.dir,
    action: info.action,
    flags: info.flags,
    share: info.share,
  });
}

/** XFRMA_TMPL: one or more xfrm_user_tmpl back to back; a partial one is malformed. */
export function decodeTemplates(payload: Buffer, copy: boolean): PolicyTemplate[] {
  if (payload.length === 0 || payload.length % USER_TMPL.size !== 0) {
    throw new DecodeError(`XFRMA_TMPL: ${payload.length} bytes is not a whole number of ${USER_TMPL.size}-byte templates`);
  }
  const templates: PolicyTemplate[] = [];
  for (let at = 0; at < payload.length; at += USER_TMPL.size) templates.push(decodeStruct(USER_TMPL, payload, at, 'XFRMA_TMPL', copy));
  return templates;
}

/**
 * Fill in the policy's attribute-borne parts; the first of a repeated attribute counts (as in
 * sa-message.ts). `extra` is offered the types this function does not know, for messages with attributes
 * of their own (ACQUIRE.s XFRMA_SA_PCPU), and returns whether it took them.
 */
export function decodePolicyAttributes(policy: XfrmPolicy, body: Buffer, start: number, copy: boolean, extra?: (type: number, payload: Buffer) => boolean): void {
  const seen = new Set<number>();
  forEachAttribute(body, start, (type, payload) => {
    if (seen.has(type)) return;
    seen.add(type);
    switch (type) {
      case XFRMA_TMPL:
        policy.templates = decodeTemplates(payload, copy);
        return;
      case XFRMA_POLICY:
      case XFRMA_PAD:
        return;
      case XFRMA_SEC_CTX:
        policy.securityContext = decodeSecurityContext(payload, copy);
        return;
      case XFRMA_POLICY_TYPE:
        policy.type = decodeStruct(USERPOLICY_TYPE, payload, 0, 'XFRMA_POLICY_TYPE').type;
        return;
      case XFRMA_MARK:
        policy.mark = decodeMark(payload);
        return;
      case XFRMA_IF_ID:
        policy.ifId = payloadU32(payload, 'XFRMA_IF_ID');
        return;
      case XFRMA_OFFLOAD_DEV:
        policy.offload = decodeOffload(payload);
        return;
      default:
        if (!extra?.(type, payload)) policy.unknownAttributes.push(type);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Encoding.

/** The attributes that name a policy: mark, if_id, type; shared by NEWPOLICY and DELPOLICY. */
function identityAttributes(policy: { mark?: Mark | undefined; ifId?: number | undefined; type?: number | undefined }): AttributeWriter[] {
  const parts: AttributeWriter[] = [];
  if (policy.type !== undefined && policy.type !== XFRM_POLICY_TYPE_MAIN) {
    const type = policy.type;
    parts.push({ type: XFRMA_POLICY_TYPE, length: USERPOLICY_TYPE.size, write: (out, at) => void encodeStruct(USERPOLICY_TYPE, { type }, out, at) });
  }
  const mark = policy.mark;
  if (mark) parts.push({ type: XFRMA_MARK, length: MARK.size, write: (out, at) => void encodeMark(mark, out, at) });
  const ifId = policy.ifId;
  if (ifId !== undefined) parts.push(u32Attribute(XFRMA_IF_ID, ifId));
  return parts;
}

/**
 * NEWPOLICY (or UPDPOLICY) installing `policy` as the kernel expects it
 * (docs/kernel/sa-messages.md#policies; net/xfrm/xfrm_user.c: verify_newpolicy_info(),
 * xfrm_policy_construct()). The index goes along: the kernel keeps it when it is free and its
 * direction bits match `dir` (xfrm_gen_index()); 0 lets the kernel choose. The current
 * lifetime is not sent (NEWPOLICY ignores it); the offload is left out (NICs differ). Run
 * policyProblems() (validate.ts) first: this encodes what it is given.
 */
export function encodeNewPolicy(policy: XfrmPolicy, options: { update?: boolean } = {}): Request {
  const attributes: AttributeWriter[] = [];
  if (policy.templates.length > 0) {
    const templates = policy.templates;
    attributes.push({
      type: XFRMA_TMPL,
      length: templates.length * USER_TMPL.size,
      write: (out, at) => templates.forEach((template, i) => encodeStruct(USER_TMPL, template, out, at + i * USER_TMPL.size)),
    });
  }
  const context = policy.securityContext;
  if (context) attributes.push({ type: XFRMA_SEC_CTX, length: securityContextLength(context), write: (out, at) => encodeSecurityContext(context, out, at) });
  attributes.push(...identityAttributes(policy));
  const body = encodeBody(
    USERPOLICY_INFO.size,
    (out) =>
      encodeStruct(
        USERPOLICY_INFO,
        {
          sel: policy.selector,
          lft: policy.lifetime,
          curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
          priority: policy.priority,
          index: policy.index,
          dir: policy.dir,
          action: policy.action,
          flags: policy.flags,
          share: policy.share,
        },
        out,
        0,
      ),
    attributes,
  );
  return { type: options.update ? XFRM_MSG_UPDPOLICY : XFRM_MSG_NEWPOLICY, parts: [body], completion: 'ack' };
}

/**
 * What DELPOLICY (and GETPOLICY) look a policy up by: its direction and type, mark and
 * if_id, and either its index (when non-zero) or its selector and security context
 * (net/xfrm/xfrm_user.c: xfrm_get_policy()).
 */
export interface PolicyKey {
  dir: number;
  index: number;
  selector: Selector;
  mark?: Mark | undefined;
  ifId?: number | undefined;
  type?: number | undefined;
  securityContext?: SecurityContext | undefined;
}

/** The key that names exactly this policy: its index, with its mark, if_id and type. */
export function policyKeyOf(policy: XfrmPolicy): PolicyKey {
  return { dir: policy.dir, index: policy.index, selector: policy.selector, mark: policy.mark, ifId: policy.ifId, type: policy.type, securityContext: policy.securityContext };
}

/** DELPOLICY for the policy a key names; answered by an ack. */
export function encodeDelPolicy(key: PolicyKey): Request {
  const attributes = identityAttributes(key);
  const context = key.securityContext;
  // By selector the security context is part of the lookup; by index it is not read.
  if (key.index === 0 && context) attributes.push({ type: XFRMA_SEC_CTX, length: securityContextLength(context), write: (out, at) => encodeSecurityContext(context, out, at) });
  const body = encodeBody(USERPOLICY_ID.size, (out) => void encodeStruct(USERPOLICY_ID, { sel: key.selector, index: key.index, dir: key.dir }, out, 0), attributes);
  return { type: XFRM_MSG_DELPOLICY, parts: [body], completion: 'ack' };
}

/**
 * GETPOLICY dump request: no body, as iproute2 sends it. The dump walks every policy of
 * every type, socket policies included (net/xfrm/xfrm_user.c: xfrm_dump_policy_start(),
 * net/xfrm/xfrm_policy.c: xfrm_policy_walk()); each entry is a NEWPOLICY message.
 */
export function encodePolicyDump(): Request {
  return { type: XFRM_MSG_GETPOLICY, parts: [], completion: 'dump' };
}

