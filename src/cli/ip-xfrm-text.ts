// SA, policy, acquire, flush, report and default-policy messages as `ip xfrm monitor` prints
// them, byte for byte (iproute2 6.1: ip/xfrm_monitor.c xfrm_accept_msg() and its printers,
// ip/xfrm_state.c xfrm_state_print(), ip/xfrm_policy.c xfrm_policy_print(), ip/ipxfrm.c
// xfrm_state_info_print(), xfrm_policy_info_print(), xfrm_xfrma_print(),
// xfrm_selector_print()), without `-s` (ip's monitor has no statistics lines unless asked).
// Keys are printed, as ip prints them: this is for `monitor --file` on the operator's own
// saved messages. test/fixtures/xfrm-*.expected.txt hold what ip printed for the same bytes.
import { formatAddress } from '../xfrm/address.js';
import {
  IPPROTO_AH,
  IPPROTO_COMP,
  IPPROTO_ESP,
  IPSEC_PROTO_ANY,
  TCP_ENCAP_ESPINTCP,
  UDP_ENCAP_ESPINUDP,
  UDP_ENCAP_ESPINUDP_NON_IKE,
  XFRM_MODE_BEET,
  XFRM_MODE_IN_TRIGGER,
  XFRM_MODE_ROUTEOPTIMIZATION,
  XFRM_MODE_TRANSPORT,
  XFRM_MODE_TUNNEL,
  XFRM_MSG_DELPOLICY,
  XFRM_MSG_DELSA,
  XFRM_MSG_EXPIRE,
  XFRM_MSG_POLEXPIRE,
  XFRM_MSG_UPDPOLICY,
  XFRM_MSG_UPDSA,
  XFRM_POLICY_ALLOW,
  XFRM_POLICY_BLOCK,
  XFRM_POLICY_FWD,
  XFRM_POLICY_ICMP,
  XFRM_POLICY_IN,
  XFRM_POLICY_LOCALOK,
  XFRM_POLICY_MAX,
  XFRM_POLICY_OUT,
  XFRM_POLICY_TYPE_MAIN,
  XFRM_POLICY_TYPE_SUB,
  XFRM_STATE_AF_UNSPEC,
  XFRM_STATE_ALIGN4,
  XFRM_STATE_DECAP_DSCP,
  XFRM_STATE_ESN,
  XFRM_STATE_ICMP,
  XFRM_STATE_NOECN,
  XFRM_STATE_NOPMTUDISC,
  XFRM_STATE_WILDRECV,
} from '../xfrm/constants.js';
import type { AcquireEvent, FlushEvent, MappingEvent, PolicyChangeEvent, PolicyDefaultsEvent, ReportEvent, SaChangeEvent, UnknownMessage } from '../xfrm/events.js';
import { receivedLength } from '../netlink/message.js';
import type { PolicyTemplate, XfrmPolicy } from '../xfrm/policy-message.js';
import type { Algorithm, XfrmSa } from '../xfrm/sa-message.js';
import { ADDRESS_BYTES, SELECTOR, USER_EXPIRE, USER_POLEXPIRE } from '../xfrm/struct-table.js';
import type { Mark, SecurityContext, Selector } from '../xfrm/structs.js';
import { interfaceName } from './interface-names.js';
import { protocolDatabaseName } from './protocols.js';
import { formatUnixTime, ipMappingText, ipUnknownText } from './text.js';

/** The parts of an attribute set xfrm_xfrma_print() prints, whichever message they came from. */
interface Attributes {
  mark?: Mark | undefined;
  outputMark?: { value: number; mask: number | undefined } | undefined;
  auth?: (Algorithm & { truncBits: number | undefined }) | undefined;
  aead?: (Algorithm & { icvBits: number }) | undefined;
  crypt?: Algorithm | undefined;
  comp?: Algorithm | undefined;
  encap?: XfrmSa['encap'];
  templates?: PolicyTemplate[] | undefined;
  coaddr?: Buffer | undefined;
  lastUsed?: bigint | undefined;
  replay?: XfrmSa['replay'];
  offload?: XfrmSa['offload'];
  ifId?: number | undefined;
  tfcPad?: number | undefined;
}

const hex8 = (value: number): string => value.toString(16).padStart(8, '0');
/** C's %#x: 0 prints as `0`, anything else with a 0x prefix. */
const alternateHex = (value: number): string => (value === 0 ? '0' : `0x${value.toString(16)}`);

const XFRM_PROTO_NAMES = new Map<number, string>([
  [IPPROTO_ESP, 'esp'],
  [IPPROTO_AH, 'ah'],
  [IPPROTO_COMP, 'comp'],
  [43, 'route2'],
  [60, 'hao'],
  [IPSEC_PROTO_ANY, 'ipsec-any'],
]);

/** ip/ipxfrm.c: strxf_xfrmproto(). */
function xfrmProtoName(proto: number): string {
  return XFRM_PROTO_NAMES.get(proto) ?? String(proto);
}

const MODE_NAMES = new Map<number, string>([
  [XFRM_MODE_TRANSPORT, 'transport'],
  [XFRM_MODE_TUNNEL, 'tunnel'],
  [XFRM_MODE_ROUTEOPTIMIZATION, 'ro'],
  [XFRM_MODE_IN_TRIGGER, 'in_trigger'],
  [XFRM_MODE_BEET, 'beet'],
]);

/** XFRM_FLAG_PRINT: each known bit by name, space-separated, then what is left in hex. */
function flagNames(flags: number, names: readonly [number, string][]): string {
  let left = flags;
  let text = '';
  for (const [bit, name] of names) {
    if (!(left & bit)) continue;
    left &= ~bit;
    text += name + (left ? ' ' : '');
  }
  return left ? text + left.toString(16) : text;
}

const STATE_FLAGS: [number, string][] = [
  [XFRM_STATE_NOECN, 'noecn'],
  [XFRM_STATE_DECAP_DSCP, 'decap-dscp'],
  [XFRM_STATE_NOPMTUDISC, 'nopmtudisc'],
  [XFRM_STATE_WILDRECV, 'wildrecv'],
  [XFRM_STATE_ICMP, 'icmp'],
  [XFRM_STATE_AF_UNSPEC, 'af-unspec'],
  [XFRM_STATE_ALIGN4, 'align4'],
  [XFRM_STATE_ESN, 'esn'],
];

const POLICY_FLAGS: [number, string][] = [
  [XFRM_POLICY_LOCALOK, 'localok'],
  [XFRM_POLICY_ICMP, 'icmp'],
];

/** ip/ipxfrm.c: xfrm_id_info_print(), without statistics. */
function idInfoText(saddr: Buffer, daddr: Buffer, spi: number, proto: number, mode: number, reqid: number, family: number, forceSpi: boolean, prefix: string, title: string): string {
  let text = `${title}src ${formatAddress(saddr, family)} dst ${formatAddress(daddr, family)}\n${prefix}\tproto ${xfrmProtoName(proto)} `;
  if (forceSpi || spi) text += `spi 0x${hex8(spi)} `;
  return `${text}reqid ${reqid} mode ${MODE_NAMES.get(mode) ?? mode}\n`;
}

const IPPROTO_ICMP = 1;
const IPPROTO_GRE = 47;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_MH = 135;

/** ip/ipxfrm.c: xfrm_selector_print(). */
function selectorText(selector: Selector, family: number, prefix: string): string {
  const f = selector.family || family;
  let text = `${prefix}src ${formatAddress(selector.saddr, f)}/${selector.prefixlenS} dst ${formatAddress(selector.daddr, f)}/${selector.prefixlenD} `;
  const { proto, sport, dport, sportMask, dportMask } = selector;
  if (proto) text += `proto ${protocolDatabaseName(proto)} `;
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    if (sportMask) text += `type ${sport} `;
    if (dportMask) text += `code ${dport} `;
  } else if (proto === IPPROTO_GRE) {
    if (sportMask || dportMask) text += `key ${((sport << 16) >>> 0) + dport} `;
  } else if (proto === IPPROTO_MH) {
    if (sportMask) text += `type ${sport} `;
  } else {
    if (sportMask) text += `sport ${sport} `;
    if (dportMask) text += `dport ${dport} `;
  }
  if (selector.ifindex > 0) text += `dev ${interfaceName(selector.ifindex)} `;
  return `${text}\n`;
}

/**
 * ip's xfrm_selector_iszero() compares the whole struct, padding included. Events decode with
 * views (events.ts), so the selector's bytes are those from its daddr on; a selector decoded
 * as copies is judged by its fields.
 */
function selectorIsZero(selector: Selector): boolean {
  const view = selector.daddr;
  // An address of another family carries ip's following bytes (a copy, events.ts): fields then.
  if (view.length === ADDRESS_BYTES && view.buffer.byteLength - view.byteOffset >= SELECTOR.size) {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, SELECTOR.size);
    return bytes.every((byte) => byte === 0);
  }
  return Object.values(selector).every((value) => (Buffer.isBuffer(value) ? value.subarray(0, ADDRESS_BYTES).every((byte) => byte === 0) : value === 0));
}

/** ip/ipxfrm.c: __xfrm_algo_print(): the key is alg_key_len / 8 bytes, rounded down. */
function algorithmText(type: string, algorithm: Algorithm, prefix: string): string {
  const keyLength = Math.floor(algorithm.keyBits / 8);
  const key = keyLength > 0 ? `0x${algorithm.key.hex().slice(0, 2 * keyLength)}` : '';
  return `${prefix}${type} ${algorithm.name} ${key}`;
}

const ENCAP_NAMES = new Map<number, string>([
  [UDP_ENCAP_ESPINUDP_NON_IKE, 'espinudp-nonike'],
  [UDP_ENCAP_ESPINUDP, 'espinudp'],
  [TCP_ENCAP_ESPINTCP, 'espintcp'],
]);

function templateText(template: PolicyTemplate, prefix: string): string {
  let text = prefix + idInfoText(template.saddr, template.id.daddr, template.id.spi, template.id.proto, template.mode, template.reqid, template.family, false, prefix, 'tmpl ');
  if (template.optional) text += `${prefix}\t${template.optional === 1 ? 'level use ' : `level ${template.optional} `}\n`;
  return text;
}

function replayText(replay: NonNullable<XfrmSa['replay']>, prefix: string): string {
  if (replay.kind === 'legacy') return `${prefix}anti-replay context: seq 0x${replay.seq.toString(16)}, oseq 0x${replay.oseq.toString(16)}, bitmap 0x${hex8(replay.bitmap)}\n`;
  let text =
    `${prefix}anti-replay esn context:\n` +
    `${prefix} seq-hi 0x${replay.seqHi.toString(16)}, seq 0x${replay.seq.toString(16)}, oseq-hi 0x${replay.oseqHi.toString(16)}, oseq 0x${replay.oseq.toString(16)}\n` +
    `${prefix} replay_window ${replay.replayWindow}, bitmap-length ${replay.bitmap.length}`;
  for (let i = replay.bitmap.length, j = 0; i > 0; i--, j++) {
    if (j % 8 === 0) text += `\n${prefix} `;
    text += `${hex8(replay.bitmap[i - 1]!)} `;
  }
  return `${text}\n`;
}

/** ip/ipxfrm.c: xfrm_xfrma_print(), for the attributes it knows. */
function attributesText(attributes: Attributes, family: number, prefix: string): string {
  let text = '';
  const output = attributes.outputMark;
  const outputText = output ? `output-mark 0x${output.value.toString(16)}${output.mask === undefined ? '' : `/0x${output.mask.toString(16)}`}` : '';
  if (attributes.mark) text += `\tmark ${alternateHex(attributes.mark.value)}/${alternateHex(attributes.mark.mask)} ${outputText}\n`;
  else if (output) text += `\t${outputText}\n`;
  const { auth, aead, crypt, comp, encap } = attributes;
  if (auth) text += auth.truncBits === undefined ? `${algorithmText('auth', auth, prefix)}\n` : `${algorithmText('auth-trunc', auth, prefix)} ${auth.truncBits}\n`;
  if (aead) text += `${algorithmText('aead', aead, prefix)} ${aead.icvBits}\n`;
  if (crypt) text += `${algorithmText('enc', crypt, prefix)}\n`;
  if (comp) text += `${algorithmText('comp', comp, prefix)}\n`;
  if (encap) {
    text +=
      `${prefix}encap type ${ENCAP_NAMES.get(encap.type) ?? encap.type} sport ${encap.sport} dport ${encap.dport} ` +
      `addr ${formatAddress(encap.originalAddress, family)}\n`;
  }
  for (const template of attributes.templates ?? []) text += templateText(template, prefix);
  if (attributes.coaddr) text += `${prefix}coa ${formatAddress(attributes.coaddr, family)}\n`;
  if (attributes.lastUsed !== undefined) text += `${prefix}lastused ${formatUnixTime(attributes.lastUsed)}\n`;
  if (attributes.replay) text += replayText(attributes.replay, prefix);
  if (attributes.offload) text += `${prefix}crypto offload parameters: dev ${interfaceName(attributes.offload.ifindex)} dir ${attributes.offload.inbound ? 'in' : 'out'}\n`;
  if (attributes.ifId !== undefined) text += `${prefix}if_id ${alternateHex(attributes.ifId)}\n`;
  if (attributes.tfcPad !== undefined) text += `${prefix}tfcpad ${attributes.tfcPad}\n`;
  return text;
}

/** ip/ipxfrm.c: xfrm_sec_ctx_print(). */
function securityContextText(context: SecurityContext): string {
  return `\tsecurity context ${context.context.toString('latin1')} \n`;
}

/** ip/ipxfrm.c: xfrm_state_info_print() with no prefix or title. */
function stateInfoText(sa: XfrmSa): string {
  const { saId } = sa;
  // ip always prints the SPI of an IPsec protocol (xfrm_xfrmproto_is_ipsec()).
  const forceSpi = saId.proto === IPPROTO_ESP || saId.proto === IPPROTO_AH || saId.proto === IPPROTO_COMP;
  let text = idInfoText(sa.saddr, saId.daddr, saId.spi, saId.proto, sa.mode, sa.reqid, saId.family, forceSpi, '', '');
  text += `\treplay-window ${sa.replayWindow} `;
  if (sa.flags) text += `flag ${flagNames(sa.flags, STATE_FLAGS)}`;
  text += '\n';
  text += attributesText(sa, saId.family, '\t');
  if (!selectorIsZero(sa.selector)) text += selectorText(sa.selector, saId.family, '\tsel ');
  if (sa.securityContext) text += securityContextText(sa.securityContext);
  return text;
}

/** What `ip xfrm monitor` prints for NEWSA, UPDSA, DELSA and EXPIRE. */
export function ipSaText(event: SaChangeEvent): string {
  const type = event.message.type;
  const title = type === XFRM_MSG_DELSA ? 'Deleted ' : type === XFRM_MSG_UPDSA ? 'Updated ' : type === XFRM_MSG_EXPIRE ? 'Expired ' : '';
  let text = title + stateInfoText(event.sa);
  if (type === XFRM_MSG_EXPIRE) text += `\thard ${event.message.payload[USER_EXPIRE.fields.hard.offset]}\n`;
  return text;
}

const DIRECTION_NAMES = new Map<number, string>([
  [XFRM_POLICY_IN, 'in'],
  [XFRM_POLICY_OUT, 'out'],
  [XFRM_POLICY_FWD, 'fwd'],
]);

function policyTypeName(type: number): string {
  return type === XFRM_POLICY_TYPE_MAIN ? 'main' : type === XFRM_POLICY_TYPE_SUB ? 'sub' : String(type);
}

/** ip/ipxfrm.c: xfrm_policy_info_print(). */
function policyInfoText(policy: XfrmPolicy, prefix: string, title: string): string {
  let text = selectorText(policy.selector, 0, title);
  if (policy.securityContext) text += securityContextText(policy.securityContext);
  const socket = policy.dir >= XFRM_POLICY_MAX;
  const dir = socket ? policy.dir - XFRM_POLICY_MAX : policy.dir;
  text += `${prefix}\t${socket ? 'socket' : 'dir'} ${DIRECTION_NAMES.get(dir) ?? dir} `;
  if (policy.action === XFRM_POLICY_BLOCK) text += 'action block ';
  else if (policy.action !== XFRM_POLICY_ALLOW) text += `action ${policy.action} `;
  text += `priority ${policy.priority} `;
  if (policy.type !== undefined) text += `ptype ${policyTypeName(policy.type)} `;
  if (policy.flags) text += `flag ${flagNames(policy.flags, POLICY_FLAGS)}`;
  text += '\n';
  return text + attributesText(policy, policy.selector.family, `${prefix}\t`);
}

/** What `ip xfrm monitor` prints for NEWPOLICY, UPDPOLICY, DELPOLICY and POLEXPIRE. */
export function ipPolicyText(event: PolicyChangeEvent): string {
  const type = event.message.type;
  const title = type === XFRM_MSG_DELPOLICY ? 'Deleted ' : type === XFRM_MSG_UPDPOLICY ? 'Updated ' : type === XFRM_MSG_POLEXPIRE ? 'Expired ' : '';
  let text = title + policyInfoText(event.policy, '', '');
  if (type === XFRM_MSG_POLEXPIRE) text += `\thard ${event.message.payload[USER_POLEXPIRE.fields.hard.offset]}\n`;
  return text;
}

/** ip/xfrm_monitor.c: xfrm_acquire_print(). */
export function ipAcquireText(event: AcquireEvent): string {
  const { acquire } = event;
  const family = acquire.selector.family || acquire.policy.selector.family;
  let text = `acquire proto ${xfrmProtoName(acquire.id.proto)} `;
  if (acquire.id.spi) text += `spi 0x${hex8(acquire.id.spi)} `;
  text += '\n';
  text += selectorText(acquire.selector, family, '  sel ');
  text += policyInfoText(acquire.policy, '    ', '  policy ');
  return `${text}\n`;
}

/** ip/xfrm_monitor.c: xfrm_state_flush_print(), xfrm_policy_flush_print(). */
export function ipFlushText(event: FlushEvent): string {
  if (event.what === 'sa') return `Flushed state proto ${xfrmProtoName(event.proto)}\n`;
  return `Flushed policy ${event.type === undefined ? '' : `ptype ${policyTypeName(event.type)} `}\n`;
}

/** ip/xfrm_monitor.c: xfrm_report_print(). */
export function ipReportText(event: ReportEvent): string {
  const { report } = event;
  const family = report.selector.family;
  return `report proto ${xfrmProtoName(report.proto)} \n${selectorText(report.selector, family, '  sel ')}${attributesText({ coaddr: report.coaddr }, family, '  ')}`;
}

const DEFAULT_NAMES = ['unspec', 'block', 'accept'];

/** ip/xfrm_policy.c: xfrm_policy_default_print(). */
export function ipPolicyDefaultsText(event: PolicyDefaultsEvent): string {
  const name = (value: number): string => DEFAULT_NAMES[value] ?? 'unknown';
  const { defaults } = event;
  return `Default policies:\n in:  ${name(defaults.in)}\n fwd: ${name(defaults.fwd)}\n out: ${name(defaults.out)}\n`;
}

/** Every message but an aevent as `ip xfrm monitor` prints it (xfrm_accept_msg()). */
export function ipEventText(event: SaChangeEvent | PolicyChangeEvent | AcquireEvent | FlushEvent | ReportEvent | PolicyDefaultsEvent | MappingEvent | UnknownMessage): string {
  switch (event.kind) {
    case 'sa':
      return ipSaText(event);
    case 'policy':
      return ipPolicyText(event);
    case 'acquire':
      return ipAcquireText(event);
    case 'flush':
      return ipFlushText(event);
    case 'report':
      return ipReportText(event);
    case 'policy-defaults':
      return ipPolicyDefaultsText(event);
    case 'mapping':
      return ipMappingText(event.mapping);
    default:
      return ipUnknownText(receivedLength(event.message), event.message.type, event.message.flags);
  }
}
