// The sync stream's form of what replication carries (docs/sync.md "Replicating SAs and
// policies"): an SA's configuration, keys included (the `config` of an `sa` or `update`
// record, beside the counters the record already holds), and a whole policy (`policy`
// records). Encoders read the xfrm layer's decoded values (sa-message.ts, policy-message.ts);
// decoders check every field as untrusted input and build those values again, so that
// validate.ts's rules and the xfrm encoders apply to a replica as to any SA or policy.
//
// Kernel enumerations (mode, flags, encapsulation type) travel as the kernel's numbers:
// replication copies them, and a name table would only be one more thing to get wrong.
// Keys are lower-case hex. Their text lives in JavaScript strings, which cannot be wiped;
// the decoded key buffers can be (SecretKey.wipe()).
import { familyName, formatAddress, parseAddress } from '../xfrm/address.js';
import { jsonU64 } from '../xfrm/json.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  XFRM_POLICY_ALLOW,
  XFRM_POLICY_BLOCK,
  XFRM_POLICY_FWD,
  XFRM_POLICY_IN,
  XFRM_POLICY_OUT,
  XFRM_SA_DIR_IN,
  XFRM_SA_DIR_OUT,
} from '../xfrm/constants.js';
import { createPolicy, type PolicyTemplate, type XfrmPolicy } from '../xfrm/policy-message.js';
import { createSa, keyBytes, type Algorithm, type XfrmSa } from '../xfrm/sa-message.js';
import { PROTO_NAMES, protoName, protoNumber } from '../xfrm/protocols.js';
import { SecretKey } from '../xfrm/secret-key.js';
import type { LifetimeConfig, Mark, Selector } from '../xfrm/structs.js';
import { integer, nullable, object, oneOf, parsedAddress, StreamError, string, u32, u64, type Json } from './stream-fields.js';
import type { StreamSa } from './stream.js';

/** What stops an SA from being replicated although it has a configuration: said in its record. */
export function notReplicable(sa: XfrmSa): string | undefined {
  if (sa.securityContext) return 'it carries a security context (labeled IPsec), which replication does not carry';
  if (sa.iptfs) return 'it is an IP-TFS SA, which replication does not carry';
  if (sa.coaddr) return 'it carries a care-of address (Mobile IPv6), which replication does not carry';
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Encoding: plain objects for toJson (u64 through jsonU64, written exactly).

type Family = 'inet' | 'inet6';

function addressText(bytes: Buffer, family: number): string | null {
  return family === AF_INET || family === AF_INET6 ? formatAddress(bytes, family) : null;
}

function selectorJson(selector: Selector): Json {
  const family = familyName(selector.family) ?? null;
  return {
    family,
    src: addressText(selector.saddr, selector.family),
    srcPrefix: selector.prefixlenS,
    dst: addressText(selector.daddr, selector.family),
    dstPrefix: selector.prefixlenD,
    proto: selector.proto,
    sport: selector.sport,
    sportMask: selector.sportMask,
    dport: selector.dport,
    dportMask: selector.dportMask,
    ifindex: selector.ifindex,
    user: selector.user,
  };
}

function limitsJson(limits: LifetimeConfig): Json {
  return {
    softBytes: jsonU64(limits.softByteLimit),
    hardBytes: jsonU64(limits.hardByteLimit),
    softPackets: jsonU64(limits.softPacketLimit),
    hardPackets: jsonU64(limits.hardPacketLimit),
    softAddSeconds: jsonU64(limits.softAddExpiresSeconds),
    hardAddSeconds: jsonU64(limits.hardAddExpiresSeconds),
    softUseSeconds: jsonU64(limits.softUseExpiresSeconds),
    hardUseSeconds: jsonU64(limits.hardUseExpiresSeconds),
  };
}

/** The `config` object of an SA's record: everything but what the record holds already (identity, src, reqid, mark, if_id, direction, counters). */
export function saConfigJson(sa: XfrmSa): Json {
  const algorithm = (a: Algorithm): Json => ({ name: a.name, keyBits: a.keyBits, key: a.key.hex() });
  return {
    mode: sa.mode,
    flags: sa.flags,
    extraFlags: sa.extraFlags ?? null,
    replayWindow: sa.replayWindow,
    selector: selectorJson(sa.selector),
    limits: limitsJson(sa.lifetime),
    aead: sa.aead ? { ...algorithm(sa.aead), icvBits: sa.aead.icvBits } : null,
    crypt: sa.crypt ? algorithm(sa.crypt) : null,
    auth: sa.auth ? { ...algorithm(sa.auth), truncBits: sa.auth.truncBits ?? null } : null,
    encap: sa.encap ? { type: sa.encap.type, sport: sa.encap.sport, dport: sa.encap.dport, oa: addressText(sa.encap.originalAddress, sa.saId.family) } : null,
    outputMark: sa.outputMark ? { value: sa.outputMark.value, mask: sa.outputMark.mask ?? null } : null,
    tfcPad: sa.tfcPad ?? null,
    mappingMaxAge: sa.mappingMaxAge ?? null,
    natKeepaliveInterval: sa.natKeepaliveInterval ?? null,
    pcpu: sa.pcpu ?? null,
    offloaded: sa.offload !== undefined,
  };
}

const POLICY_DIRECTIONS = ['in', 'out', 'fwd'] as const;
export type PolicyDirection = (typeof POLICY_DIRECTIONS)[number];
const DIRECTION_NUMBERS: Record<PolicyDirection, number> = { in: XFRM_POLICY_IN, out: XFRM_POLICY_OUT, fwd: XFRM_POLICY_FWD };

export function policyDirection(dir: number): PolicyDirection | undefined {
  return POLICY_DIRECTIONS.find((name) => DIRECTION_NUMBERS[name] === dir);
}

function templateJson(template: PolicyTemplate): Json {
  return {
    family: familyName(template.family) ?? null,
    src: addressText(template.saddr, template.family),
    dst: addressText(template.id.daddr, template.family),
    proto: protoName(template.id.proto),
    spi: template.id.spi,
    reqid: template.reqid,
    mode: template.mode,
    share: template.share,
    optional: template.optional !== 0,
    aalgos: template.aalgos,
    ealgos: template.ealgos,
    calgos: template.calgos,
  };
}

/** The fields of a `policy` record (the caller adds type, time and snapshot). */
export function policyJson(policy: XfrmPolicy): Json {
  return {
    dir: policyDirection(policy.dir) ?? policy.dir,
    index: policy.index,
    priority: policy.priority,
    action: policy.action === XFRM_POLICY_BLOCK ? 'block' : 'allow',
    flags: policy.flags,
    share: policy.share,
    selector: selectorJson(policy.selector),
    limits: limitsJson(policy.lifetime),
    mark: policy.mark ?? null,
    ifId: policy.ifId ?? null,
    policyType: policy.type ?? null,
    templates: policy.templates.map(templateJson),
  };
}

/** The fields that name a policy, for `policy-gone` (the kernel's DELPOLICY key). */
export function policyIdentityJson(policy: XfrmPolicy): Json {
  return {
    dir: policyDirection(policy.dir) ?? policy.dir,
    index: policy.index,
    selector: selectorJson(policy.selector),
    mark: policy.mark ?? null,
    ifId: policy.ifId ?? null,
    policyType: policy.type ?? null,
  };
}

// ---------------------------------------------------------------------------------------
// Decoding: untrusted JSON to xfrm values. Paths in messages are the JSON paths.

const FAMILIES = ['inet', 'inet6'] as const;
const FAMILY_NUMBERS: Record<Family, number> = { inet: AF_INET, inet6: AF_INET6 };
/** The longest algorithm name the kernel's 64-byte field holds with its NUL. */
const ALGORITHM_NAME_MAX = 63;
/** The longest key of any algorithm Linux offers for IPsec is 512 bits (hmac(sha512)); 8 KiB bits is far beyond. */
const KEY_BITS_MAX = 8192;

/** An address of `family` (or, for family null, the all-zero address written as null). */
function addressBytes(value: unknown, where: string, family: Family | null): Buffer {
  if (family === null) {
    if (value !== null) throw new StreamError(`${where}: expected null (no family)`);
    return Buffer.alloc(16);
  }
  return parsedAddress(value, where, family).bytes;
}

function selector(value: unknown, where: string): Selector {
  const o = object(value, where);
  const family = nullable(o.family, (v) => oneOf(v, `${where}.family`, FAMILIES));
  const maxPrefix = family === 'inet6' ? 128 : family === 'inet' ? 32 : 0;
  return {
    family: family === null ? AF_UNSPEC : FAMILY_NUMBERS[family],
    saddr: addressBytes(o.src, `${where}.src`, family),
    prefixlenS: integer(o.srcPrefix, `${where}.srcPrefix`, 0, maxPrefix),
    daddr: addressBytes(o.dst, `${where}.dst`, family),
    prefixlenD: integer(o.dstPrefix, `${where}.dstPrefix`, 0, maxPrefix),
    proto: integer(o.proto, `${where}.proto`, 0, 255),
    sport: integer(o.sport, `${where}.sport`, 0, 0xffff),
    sportMask: integer(o.sportMask, `${where}.sportMask`, 0, 0xffff),
    dport: integer(o.dport, `${where}.dport`, 0, 0xffff),
    dportMask: integer(o.dportMask, `${where}.dportMask`, 0, 0xffff),
    ifindex: integer(o.ifindex, `${where}.ifindex`, -0x8000_0000, 0x7fff_ffff),
    user: u32(o.user, `${where}.user`),
  };
}

function limits(value: unknown, where: string): LifetimeConfig {
  const o = object(value, where);
  return {
    softByteLimit: u64(o.softBytes, `${where}.softBytes`),
    hardByteLimit: u64(o.hardBytes, `${where}.hardBytes`),
    softPacketLimit: u64(o.softPackets, `${where}.softPackets`),
    hardPacketLimit: u64(o.hardPackets, `${where}.hardPackets`),
    softAddExpiresSeconds: u64(o.softAddSeconds, `${where}.softAddSeconds`),
    hardAddExpiresSeconds: u64(o.hardAddSeconds, `${where}.hardAddSeconds`),
    softUseExpiresSeconds: u64(o.softUseSeconds, `${where}.softUseSeconds`),
    hardUseExpiresSeconds: u64(o.hardUseSeconds, `${where}.hardUseSeconds`),
  };
}

function markValue(value: unknown, where: string): Mark {
  const o = object(value, where);
  return { value: u32(o.value, `${where}.value`), mask: u32(o.mask, `${where}.mask`) };
}

/** A key's hex text: exactly the bytes its bit count needs. The message never repeats the text. */
function keyOf(value: unknown, where: string, keyBits: number): SecretKey {
  const length = keyBytes(keyBits);
  if (typeof value !== 'string' || value.length !== length * 2 || !/^[0-9a-f]*$/.test(value)) {
    throw new StreamError(`${where}: expected ${length * 2} lower-case hex digits for a key of ${keyBits} bits`);
  }
  return SecretKey.fromHex(value);
}

/** An algorithm with its key; the key is also put in `keys`, so that a later failure can wipe it. */
function algorithm(value: unknown, where: string, keys: SecretKey[]): Algorithm {
  const o = object(value, where);
  const keyBits = integer(o.keyBits, `${where}.keyBits`, 0, KEY_BITS_MAX);
  const name = string(o.name, `${where}.name`, ALGORITHM_NAME_MAX);
  const key = keyOf(o.key, `${where}.key`, keyBits);
  keys.push(key);
  return { name, keyBits, key };
}

const optionalU32 = (value: unknown, where: string): number | undefined => nullable(value, (v) => u32(v, where)) ?? undefined;

/**
 * The SA a record describes: its `config` (checked here) joined with the record's own fields.
 * Only the stream's rules are checked; what the kernel or xaev must not install is
 * validate.ts's saProblems(), which the receiver runs next.
 */
export function decodeSaConfig(value: unknown, record: StreamSa): XfrmSa {
  const keys: SecretKey[] = [];
  try {
    return saOfConfig(value, record, keys);
  } catch (error) {
    // A field after a key was refused: the keys decoded so far go no further.
    for (const key of keys) key.wipe();
    throw error;
  }
}

function saOfConfig(value: unknown, record: StreamSa, keys: SecretKey[]): XfrmSa {
  const o = object(value, 'config');
  const family = FAMILY_NUMBERS[record.family];
  const parsedDst = parseAddress(record.dst)!;
  const parsedSrc = parseAddress(record.src)!;
  const aead = nullable(o.aead, (v) => {
    const a = algorithm(v, 'config.aead', keys);
    return { ...a, icvBits: integer(object(v, 'config.aead').icvBits, 'config.aead.icvBits', 0, 1024) };
  });
  const auth = nullable(o.auth, (v) => {
    const a = algorithm(v, 'config.auth', keys);
    return { ...a, truncBits: nullable(object(v, 'config.auth').truncBits, (t) => integer(t, 'config.auth.truncBits', 0, 1024)) ?? undefined };
  });
  const encap = nullable(o.encap, (v) => {
    const e = object(v, 'config.encap');
    return {
      type: integer(e.type, 'config.encap.type', 0, 0xffff),
      sport: integer(e.sport, 'config.encap.sport', 0, 0xffff),
      dport: integer(e.dport, 'config.encap.dport', 0, 0xffff),
      originalAddress: e.oa === null ? Buffer.alloc(16) : addressBytes(e.oa, 'config.encap.oa', record.family),
    };
  });
  const outputMark = nullable(o.outputMark, (v) => {
    const m = object(v, 'config.outputMark');
    return { value: u32(m.value, 'config.outputMark.value'), mask: optionalU32(m.mask, 'config.outputMark.mask') };
  });
  if (typeof o.offloaded !== 'boolean') throw new StreamError('config.offloaded: expected true or false');
  return createSa({
    saId: { daddr: parsedDst.bytes, spi: record.spi, family, proto: protoNumber(record.proto)! },
    saddr: parsedSrc.bytes,
    selector: selector(o.selector, 'config.selector'),
    lifetime: limits(o.limits, 'config.limits'),
    current: record.lifetime ?? { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
    reqid: record.reqid,
    mode: integer(o.mode, 'config.mode', 0, 255),
    replayWindow: integer(o.replayWindow, 'config.replayWindow', 0, 255),
    flags: integer(o.flags, 'config.flags', 0, 255),
    extraFlags: optionalU32(o.extraFlags, 'config.extraFlags'),
    aead: aead ?? undefined,
    crypt: nullable(o.crypt, (v) => algorithm(v, 'config.crypt', keys)) ?? undefined,
    auth: auth ?? undefined,
    encap: encap ?? undefined,
    mark: record.mark ?? undefined,
    outputMark: outputMark ?? undefined,
    ifId: record.ifId ?? undefined,
    tfcPad: optionalU32(o.tfcPad, 'config.tfcPad'),
    replay: record.replay ?? undefined,
    mappingMaxAge: optionalU32(o.mappingMaxAge, 'config.mappingMaxAge'),
    natKeepaliveInterval: optionalU32(o.natKeepaliveInterval, 'config.natKeepaliveInterval'),
    direction: record.dir === 'in' ? XFRM_SA_DIR_IN : record.dir === 'out' ? XFRM_SA_DIR_OUT : undefined,
    pcpu: optionalU32(o.pcpu, 'config.pcpu'),
    // Only told, never copied: the standby's NICs differ (status says so).
    offload: o.offloaded ? { ifindex: 0, flags: 0, inbound: false, packet: false } : undefined,
  });
}

function template(value: unknown, where: string): PolicyTemplate {
  const o = object(value, where);
  const family = nullable(o.family, (v) => oneOf(v, `${where}.family`, FAMILIES));
  const optional = o.optional;
  if (typeof optional !== 'boolean') throw new StreamError(`${where}.optional: expected true or false`);
  return {
    id: { daddr: addressBytes(o.dst, `${where}.dst`, family), spi: u32(o.spi, `${where}.spi`), proto: protoNumber(oneOf(o.proto, `${where}.proto`, PROTO_NAMES))! },
    family: family === null ? AF_UNSPEC : FAMILY_NUMBERS[family],
    saddr: addressBytes(o.src, `${where}.src`, family),
    reqid: u32(o.reqid, `${where}.reqid`),
    mode: integer(o.mode, `${where}.mode`, 0, 255),
    share: integer(o.share, `${where}.share`, 0, 255),
    optional: optional ? 1 : 0,
    aalgos: u32(o.aalgos, `${where}.aalgos`),
    ealgos: u32(o.ealgos, `${where}.ealgos`),
    calgos: u32(o.calgos, `${where}.calgos`),
  };
}

/** The most templates a policy can have (include/net/xfrm.h: XFRM_MAX_DEPTH). */
const MAX_TEMPLATES = 6;

function identityFields(o: Json): Pick<XfrmPolicy, 'dir' | 'index' | 'selector' | 'mark' | 'ifId' | 'type'> {
  return {
    dir: DIRECTION_NUMBERS[oneOf(o.dir, 'dir', POLICY_DIRECTIONS)],
    index: u32(o.index, 'index'),
    selector: selector(o.selector, 'selector'),
    mark: nullable(o.mark, (v) => markValue(v, 'mark')) ?? undefined,
    ifId: optionalU32(o.ifId, 'ifId'),
    type: nullable(o.policyType, (v) => integer(v, 'policyType', 0, 255)) ?? undefined,
  };
}

/** A `policy` record's policy; validate.ts's policyProblems() decides whether it may be installed. */
export function decodePolicy(o: Json): XfrmPolicy {
  const templates = o.templates;
  if (!Array.isArray(templates) || templates.length > MAX_TEMPLATES) throw new StreamError(`templates: expected an array of at most ${MAX_TEMPLATES} templates`);
  return createPolicy({
    ...identityFields(o),
    lifetime: limits(o.limits, 'limits'),
    priority: u32(o.priority, 'priority'),
    action: oneOf(o.action, 'action', ['allow', 'block'] as const) === 'block' ? XFRM_POLICY_BLOCK : XFRM_POLICY_ALLOW,
    flags: integer(o.flags, 'flags', 0, 255),
    share: integer(o.share, 'share', 0, 255),
    templates: templates.map((t, i) => template(t, `templates[${i}]`)),
  });
}

/** A `policy-gone` record's policy identity (what DELPOLICY and the standby's table go by). */
export function decodePolicyIdentity(o: Json): XfrmPolicy {
  return createPolicy(identityFields(o));
}

// ---------------------------------------------------------------------------------------
// Names: how both nodes refer to a policy (a replicated SA goes by its record's key).

function selectorText(s: Selector): string {
  if (s.family !== AF_INET && s.family !== AF_INET6) return 'any';
  const part = (bytes: Buffer, prefix: number): string => `${formatAddress(bytes, s.family)}/${prefix}`;
  let text = `${familyName(s.family)} src ${part(s.saddr, s.prefixlenS)} dst ${part(s.daddr, s.prefixlenD)}`;
  if (s.proto !== 0) text += ` proto ${s.proto}`;
  if (s.sportMask !== 0) text += ` sport ${s.sport}/0x${s.sportMask.toString(16)}`;
  if (s.dportMask !== 0) text += ` dport ${s.dport}/0x${s.dportMask.toString(16)}`;
  if (s.ifindex !== 0) text += ` dev ${s.ifindex}`;
  if (s.user !== 0) text += ` user ${s.user}`;
  return text;
}

/**
 * A policy's shared name: what the kernel refuses a second policy for (its direction, type,
 * selector, mark and if_id: net/xfrm/xfrm_policy.c: xfrm_policy_insert_list()), so one name
 * is one policy on either node.
 */
export function policyName(policy: Pick<XfrmPolicy, 'dir' | 'selector' | 'mark' | 'ifId' | 'type'>): string {
  let name = `${policyDirection(policy.dir) ?? `dir ${policy.dir}`} ${selectorText(policy.selector)}`;
  if (policy.mark && (policy.mark.value !== 0 || policy.mark.mask !== 0)) name += ` mark 0x${policy.mark.value.toString(16)}/0x${policy.mark.mask.toString(16)}`;
  if (policy.ifId) name += ` if_id ${policy.ifId}`;
  if (policy.type) name += ` sub`;
  return name;
}
