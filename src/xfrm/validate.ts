// What must never be installed: checks on a decoded SA or policy before it is written to a
// kernel (docs/kernel/sa-messages.md#what-xaev-refuses). They cover what the kernel itself
// refuses at NEWSA/NEWPOLICY (net/xfrm/xfrm_user.c: verify_newsa_info(), verify_replay(),
// verify_newpolicy_info(), validate_tmpl()), so a bad record fails here with a message that
// names the field, and what the kernel would take but xaev must not copy: keys of the wrong
// length for their algorithm (algorithms.ts), keys redacted to zeros, attributes this version
// does not know. Messages name fields, algorithms and lengths, never a key byte.
import { describeSizes, findAlgorithm, type AlgorithmKind } from './algorithms.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IPPROTO_AH,
  IPPROTO_COMP,
  IPPROTO_ESP,
  REPLAY_ESN_MAX_BMP_LEN,
  TCP_ENCAP_ESPINTCP,
  UDP_ENCAP_ESPINUDP,
  UDP_ENCAP_ESPINUDP_NON_IKE,
  XFRM_MAX_DEPTH,
  XFRM_MODE_BEET,
  XFRM_MODE_IPTFS,
  XFRM_MODE_ROUTEOPTIMIZATION,
  XFRM_MODE_TRANSPORT,
  XFRM_MODE_TUNNEL,
  XFRM_POLICY_ALLOW,
  XFRM_POLICY_BLOCK,
  XFRM_POLICY_FWD,
  XFRM_POLICY_IN,
  XFRM_POLICY_OUT,
  XFRM_POLICY_TYPE_MAIN,
  XFRM_POLICY_TYPE_SUB,
  XFRM_SA_DIR_IN,
  XFRM_SA_DIR_OUT,
  XFRM_SHARE_ANY,
  XFRM_SHARE_UNIQUE,
  XFRM_STATE_AF_UNSPEC,
  XFRM_STATE_ESN,
} from './constants.js';
import { isSocketPolicy, type XfrmPolicy } from './policy-message.js';
import { hasRedactedKeys, isKernelTunnelState, keyBytes, type Algorithm, type XfrmSa } from './sa-message.js';
import type { Selector } from './structs.js';

/** One reason not to install: the field it is about (`crypt.key`, `templates[1].proto`, ...) and why. */
export interface InstallProblem {
  field: string;
  message: string;
}

/** The largest legacy replay window (the bits of xfrm_replay_state.bitmap). */
const LEGACY_REPLAY_WINDOW_MAX = 32;
/** The largest COMP SPI: IPcomp's CPI is 16 bits (verify_newsa_info()). */
const COMP_SPI_LIMIT = 0x10000;
/** The policy index's low bits hold the direction (net/xfrm/xfrm_policy.c: xfrm_gen_index()). */
const POLICY_INDEX_DIR_MASK = 7;

const SA_MODES = new Set([XFRM_MODE_TRANSPORT, XFRM_MODE_TUNNEL, XFRM_MODE_ROUTEOPTIMIZATION, XFRM_MODE_BEET, XFRM_MODE_IPTFS]);
const TEMPLATE_MODES = SA_MODES;
const ENCAP_TYPES = new Set([UDP_ENCAP_ESPINUDP_NON_IKE, UDP_ENCAP_ESPINUDP, TCP_ENCAP_ESPINTCP]);
const IPSEC_PROTOCOLS = new Set([IPPROTO_ESP, IPPROTO_AH, IPPROTO_COMP]);
const ALGORITHM_WORDS = { aead: 'an AEAD', crypt: 'an encryption', auth: 'an authentication', comp: 'a compression' } as const;

function familyName(family: number): string {
  return family === AF_INET ? 'inet' : family === AF_INET6 ? 'inet6' : `family ${family}`;
}

function maxPrefix(family: number): number {
  return family === AF_INET ? 32 : 128;
}

/** A name as it goes into a message: quoted, control characters escaped. */
function quoted(name: string): string {
  return JSON.stringify(name);
}

/**
 * A selector's family and prefix lengths. `family` is what the kernel checks against:
 * selector.family, or for an SA whose selector has none (and no XFRM_STATE_AF_UNSPEC) the
 * SA's own family (net/xfrm/xfrm_user.c: verify_newsa_info()).
 */
function selectorProblems(selector: Selector, family: number, allowUnspec: boolean, problems: InstallProblem[]): void {
  if (family === AF_UNSPEC && allowUnspec) return;
  if (family !== AF_INET && family !== AF_INET6) {
    problems.push({ field: 'selector.family', message: `selector family ${family} is neither inet (${AF_INET}) nor inet6 (${AF_INET6})` });
    return;
  }
  for (const [field, length] of [
    ['selector.prefixlenD', selector.prefixlenD],
    ['selector.prefixlenS', selector.prefixlenS],
  ] as const) {
    if (length > maxPrefix(family)) problems.push({ field, message: `prefix length ${length} is longer than an ${familyName(family)} address (${maxPrefix(family)})` });
  }
}

function algorithmProblems(kind: AlgorithmKind, field: string, algorithm: Algorithm, problems: InstallProblem[], check?: (spec: NonNullable<ReturnType<typeof findAlgorithm>>) => void): void {
  const spec = findAlgorithm(kind, algorithm.name);
  if (!spec) {
    problems.push({ field: `${field}.name`, message: `unknown ${kind} algorithm ${quoted(algorithm.name)}: not one Linux offers for IPsec` });
    return;
  }
  if (!spec.keyBits.includes(algorithm.keyBits)) {
    problems.push({
      field: `${field}.key`,
      message: `key of ${algorithm.keyBits} bits for ${spec.name}, which takes ${describeSizes(spec.keyBits)} bits`,
    });
  } else if (algorithm.key.length !== keyBytes(algorithm.keyBits)) {
    problems.push({ field: `${field}.key`, message: `key holds ${algorithm.key.length} bytes where ${algorithm.keyBits} bits need ${keyBytes(algorithm.keyBits)}` });
  }
  check?.(spec);
}

/**
 * Everything that forbids installing `sa` on another node; empty when it may be installed.
 * An offloaded SA is not a problem: encodeNewSa leaves the offload out (isOffloaded()).
 */
export function saProblems(sa: XfrmSa): InstallProblem[] {
  const problems: InstallProblem[] = [];
  const { family, proto, spi } = sa.saId;
  if (family !== AF_INET && family !== AF_INET6) problems.push({ field: 'family', message: `SA family ${family} is neither inet (${AF_INET}) nor inet6 (${AF_INET6})` });
  if (isKernelTunnelState(sa)) {
    problems.push({ field: 'proto', message: `protocol ${proto}: the kernel's own tunnel state beside an IPcomp SA, made again with it` });
  } else if (!IPSEC_PROTOCOLS.has(proto)) {
    problems.push({ field: 'proto', message: `protocol ${proto} is not ESP (${IPPROTO_ESP}), AH (${IPPROTO_AH}) or IPcomp (${IPPROTO_COMP})` });
  }
  const selectorFamily = sa.selector.family === AF_UNSPEC && !(sa.flags & XFRM_STATE_AF_UNSPEC) ? family : sa.selector.family;
  selectorProblems(sa.selector, selectorFamily, true, problems);
  if (!SA_MODES.has(sa.mode)) problems.push({ field: 'mode', message: `mode ${sa.mode} is not transport, tunnel, ro, beet or iptfs` });

  const present = (name: keyof Pick<XfrmSa, 'aead' | 'crypt' | 'auth' | 'comp'>): boolean => sa[name] !== undefined;
  if (proto === IPPROTO_ESP) {
    if (present('comp')) problems.push({ field: 'comp', message: 'an ESP SA cannot have a compression algorithm' });
    if (!present('aead') && !present('crypt') && !present('auth')) problems.push({ field: 'crypt', message: 'an ESP SA needs an AEAD, encryption or authentication algorithm' });
    if (present('aead') && (present('crypt') || present('auth'))) problems.push({ field: 'aead', message: 'an ESP SA with an AEAD algorithm cannot also have encryption or authentication' });
    if (sa.tfcPad !== undefined && sa.mode !== XFRM_MODE_TUNNEL) problems.push({ field: 'tfcPad', message: 'TFC padding is only for tunnel mode' });
  } else if (proto === IPPROTO_AH) {
    if (!present('auth')) problems.push({ field: 'auth', message: 'an AH SA needs an authentication algorithm' });
    for (const name of ['aead', 'crypt', 'comp'] as const) if (present(name)) problems.push({ field: name, message: `an AH SA cannot have ${ALGORITHM_WORDS[name]} algorithm` });
    if (sa.tfcPad !== undefined) problems.push({ field: 'tfcPad', message: 'an AH SA cannot have TFC padding' });
  } else if (proto === IPPROTO_COMP) {
    if (!present('comp')) problems.push({ field: 'comp', message: 'an IPcomp SA needs a compression algorithm' });
    for (const name of ['aead', 'crypt', 'auth'] as const) if (present(name)) problems.push({ field: name, message: 'an IPcomp SA has no keyed algorithm' });
    if (sa.tfcPad !== undefined) problems.push({ field: 'tfcPad', message: 'an IPcomp SA cannot have TFC padding' });
    if (spi >= COMP_SPI_LIMIT) problems.push({ field: 'spi', message: `IPcomp SPI (CPI) 0x${spi.toString(16)} does not fit 16 bits` });
  }

  if (sa.aead) {
    const aead = sa.aead;
    algorithmProblems('aead', 'aead', aead, problems, (spec) => {
      if (!spec.icvBits?.includes(aead.icvBits)) problems.push({ field: 'aead.icvBits', message: `ICV of ${aead.icvBits} bits for ${spec.name}, which offers ${describeSizes(spec.icvBits ?? [])}` });
    });
  }
  if (sa.crypt) algorithmProblems('crypt', 'crypt', sa.crypt, problems);
  if (sa.auth) {
    const auth = sa.auth;
    algorithmProblems('auth', 'auth', auth, problems, (spec) => {
      const full = spec.icvFullBits ?? 0;
      if (auth.truncBits !== undefined && (auth.truncBits > full || auth.truncBits % 8 !== 0)) {
        problems.push({ field: 'auth.truncBits', message: `truncation to ${auth.truncBits} bits for ${spec.name}, whose ICV has ${full} bits (a whole number of bytes up to that)` });
      }
    });
  }
  if (sa.comp) algorithmProblems('comp', 'comp', sa.comp, problems);
  if (hasRedactedKeys(sa)) {
    problems.push({ field: 'keys', message: 'every key reads as zeros: the kernel redacts keys under lockdown (confidentiality mode), so this SA cannot be copied' });
  }

  const replay = sa.replay;
  if (sa.flags & XFRM_STATE_ESN && replay?.kind !== 'esn') problems.push({ field: 'replay', message: 'an ESN SA needs an ESN replay state (XFRMA_REPLAY_ESN_VAL)' });
  if (replay?.kind === 'esn') {
    if (proto !== IPPROTO_ESP && proto !== IPPROTO_AH) problems.push({ field: 'replay', message: 'an ESN replay state is only for ESP and AH' });
    if (replay.bitmap.length > REPLAY_ESN_MAX_BMP_LEN) problems.push({ field: 'replay.bitmap', message: `bitmap of ${replay.bitmap.length} words, at most ${REPLAY_ESN_MAX_BMP_LEN}` });
    if (replay.replayWindow > replay.bitmap.length * 32) {
      problems.push({ field: 'replay.replayWindow', message: `window of ${replay.replayWindow} packets does not fit a bitmap of ${replay.bitmap.length} words` });
    }
  } else if (sa.replayWindow > LEGACY_REPLAY_WINDOW_MAX) {
    problems.push({ field: 'replayWindow', message: `legacy window of ${sa.replayWindow} packets, at most ${LEGACY_REPLAY_WINDOW_MAX}` });
  }

  if (sa.encap) {
    if (proto !== IPPROTO_ESP) problems.push({ field: 'encap', message: 'only ESP SAs are encapsulated' });
    if (!ENCAP_TYPES.has(sa.encap.type)) problems.push({ field: 'encap.type', message: `encapsulation type ${sa.encap.type} is not espinudp, espinudp-nonike or espintcp` });
  }
  if (sa.direction !== undefined && sa.direction !== XFRM_SA_DIR_IN && sa.direction !== XFRM_SA_DIR_OUT) {
    problems.push({ field: 'direction', message: `direction ${sa.direction} is neither in (${XFRM_SA_DIR_IN}) nor out (${XFRM_SA_DIR_OUT})` });
  }
  if (sa.pcpu !== undefined && sa.direction === undefined) problems.push({ field: 'pcpu', message: 'a per-CPU SA needs a direction' });
  if (sa.mappingMaxAge !== undefined && !sa.encap) problems.push({ field: 'mappingMaxAge', message: 'a NAT-T mapping age needs an encapsulated SA' });
  if (sa.unknownAttributes.length > 0) {
    problems.push({ field: 'attributes', message: `attributes this xaev does not know (types ${sa.unknownAttributes.join(', ')}): the SA cannot be copied faithfully` });
  }
  return problems;
}

const POLICY_DIRECTIONS = new Set([XFRM_POLICY_IN, XFRM_POLICY_OUT, XFRM_POLICY_FWD]);

/** Everything that forbids installing `policy` on another node; empty when it may be installed. */
export function policyProblems(policy: XfrmPolicy): InstallProblem[] {
  const problems: InstallProblem[] = [];
  if (isSocketPolicy(policy)) {
    problems.push({ field: 'dir', message: `a socket policy (dir ${policy.dir}) belongs to one socket, not to the SPD` });
  } else if (!POLICY_DIRECTIONS.has(policy.dir)) {
    problems.push({ field: 'dir', message: `direction ${policy.dir} is not in, out or fwd` });
  }
  if (policy.action !== XFRM_POLICY_ALLOW && policy.action !== XFRM_POLICY_BLOCK) problems.push({ field: 'action', message: `action ${policy.action} is neither allow nor block` });
  if (policy.share < XFRM_SHARE_ANY || policy.share > XFRM_SHARE_UNIQUE) problems.push({ field: 'share', message: `share ${policy.share} is not any, session, user or unique` });
  selectorProblems(policy.selector, policy.selector.family, false, problems);
  if (policy.index !== 0 && (policy.index & POLICY_INDEX_DIR_MASK) !== policy.dir) {
    problems.push({ field: 'index', message: `index ${policy.index} is not one of direction ${policy.dir} (its low 3 bits are ${policy.index & POLICY_INDEX_DIR_MASK})` });
  }
  if (policy.type !== undefined && policy.type !== XFRM_POLICY_TYPE_MAIN && policy.type !== XFRM_POLICY_TYPE_SUB) {
    problems.push({ field: 'type', message: `policy type ${policy.type} is neither main nor sub` });
  }
  if (policy.templates.length > XFRM_MAX_DEPTH) problems.push({ field: 'templates', message: `${policy.templates.length} templates, at most ${XFRM_MAX_DEPTH}` });
  policy.templates.forEach((template, i) => {
    const field = `templates[${i}]`;
    if (!IPSEC_PROTOCOLS.has(template.id.proto)) {
      problems.push({ field: `${field}.proto`, message: `template protocol ${template.id.proto} is not ESP (${IPPROTO_ESP}), AH (${IPPROTO_AH}) or IPcomp (${IPPROTO_COMP})` });
    }
    if (template.family !== AF_UNSPEC && template.family !== AF_INET && template.family !== AF_INET6) {
      problems.push({ field: `${field}.family`, message: `template family ${template.family} is neither inet nor inet6` });
    }
    if (!TEMPLATE_MODES.has(template.mode)) problems.push({ field: `${field}.mode`, message: `template mode ${template.mode} is not transport, tunnel, ro, beet or iptfs` });
    if (template.optional && policy.dir === XFRM_POLICY_OUT && (template.mode === XFRM_MODE_TUNNEL || template.mode === XFRM_MODE_BEET)) {
      problems.push({ field: `${field}.optional`, message: 'an outbound policy cannot have an optional tunnel or beet template' });
    }
  });
  if (policy.unknownAttributes.length > 0) {
    problems.push({ field: 'attributes', message: `attributes this xaev does not know (types ${policy.unknownAttributes.join(', ')}): the policy cannot be copied faithfully` });
  }
  return problems;
}
