// Sync stream lines for the decoder's and the schema's tests (test/sync-stream.test.ts,
// test/sync-schema.test.ts): a sample SA state, and the hostile corpus, each line with the
// refusal the decoder gives. Every line of HOSTILE_LINES must fail both decodeLine() and
// docs/sync-stream.schema.json; BEYOND_SCHEMA_LINES are the rules the schema cannot state
// (its description names them): valid against the schema, refused by the decoder.
import type { AeMessage } from '../../src/xfrm/aevent.js';
import { parseAddress } from '../../src/xfrm/address.js';
import { createPolicy, type XfrmPolicy } from '../../src/xfrm/policy-message.js';
import { createSa, emptySelector, type XfrmSa } from '../../src/xfrm/sa-message.js';
import { SecretKey } from '../../src/xfrm/secret-key.js';
import { encodePolicy, encodeSnapshotSa, encodeUpdate } from '../../src/sync/stream.js';

/** An ESN SA with a mark, a direction, and u64 counters above 2^53. */
export function sampleAe(overrides: Partial<AeMessage> = {}): AeMessage {
  const daddr = Buffer.alloc(16);
  daddr.set([192, 0, 2, 2]);
  const saddr = Buffer.alloc(16);
  saddr.set([192, 0, 2, 1]);
  return {
    id: { saId: { daddr, spi: 0x1000, family: 2, proto: 50 }, saddr, flags: 16, reqid: 7 },
    replay: { kind: 'esn', seq: 5, seqHi: 1, oseq: 0xfffffff0, oseqHi: 2, replayWindow: 64, bitmap: [0xffffffff, 1] },
    lifetime: { bytes: 0xffffffffffffffffn, packets: 9007199254740993n, addTime: 1700000000n, useTime: 0n },
    replayThreshold: 256,
    timerThreshold100ms: 2,
    mark: { value: 0x10, mask: 0xff },
    ifId: undefined,
    direction: 2,
    unknownAttributes: [],
    ...overrides,
  };
}

const ip = (text: string): Buffer => parseAddress(text)!.bytes;

/** sampleAe()'s SA as a replicating sender dumps it: AEAD with its key, a selector, limits, NAT-T. */
export function sampleSa(overrides: Partial<XfrmSa> = {}): XfrmSa {
  return createSa({
    saId: { daddr: ip('192.0.2.2'), spi: 0x1000, family: 2, proto: 50 },
    saddr: ip('192.0.2.1'),
    reqid: 7,
    mode: 1,
    flags: 128,
    selector: { ...emptySelector(), family: 2, saddr: ip('10.1.0.0'), prefixlenS: 16, daddr: ip('10.2.0.0'), prefixlenD: 24, proto: 17, dport: 500, dportMask: 0xffff },
    lifetime: { softByteLimit: 0xffffffffffffffffn, hardByteLimit: 0xffffffffffffffffn, softPacketLimit: 1000000n, hardPacketLimit: 2000000n, softAddExpiresSeconds: 3000n, hardAddExpiresSeconds: 3600n, softUseExpiresSeconds: 0n, hardUseExpiresSeconds: 0n },
    aead: { name: 'rfc4106(gcm(aes))', keyBits: 288, icvBits: 128, key: SecretKey.copyOf(Buffer.from('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324', 'hex')) },
    encap: { type: 2, sport: 4500, dport: 4500, originalAddress: Buffer.alloc(16) },
    mark: { value: 0x10, mask: 0xff },
    outputMark: { value: 5, mask: undefined },
    tfcPad: 1500,
    replay: sampleAe().replay,
    direction: 2,
    ...overrides,
  });
}

/** An outbound tunnel policy with one ESP template. */
export function samplePolicy(overrides: Partial<XfrmPolicy> = {}): XfrmPolicy {
  return createPolicy({
    selector: { ...emptySelector(), family: 2, saddr: ip('10.1.0.0'), prefixlenS: 16, daddr: ip('10.2.0.0'), prefixlenD: 24 },
    dir: 1,
    index: 0x3009,
    priority: 375423,
    templates: [{ id: { daddr: ip('192.0.2.2'), spi: 0, proto: 50 }, family: 2, saddr: ip('192.0.2.1'), reqid: 7, mode: 1, share: 0, optional: 0, aalgos: 0xffffffff, ealgos: 0xffffffff, calgos: 0xffffffff }],
    ...overrides,
  });
}

/** A record's text without its newline. */
export function line(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

export interface CorpusLine {
  name: string;
  line: string;
  /** The decoder's StreamError message. */
  refusal: RegExp;
}

const goodText = line(encodeUpdate('replay', sampleAe(), 1));
const good = JSON.parse(goodText) as Record<string, unknown>;
const replay = good.replay as Record<string, unknown>;
const lifetime = good.lifetime as Record<string, unknown>;
const withField = (fields: Record<string, unknown>): string => JSON.stringify({ ...good, ...fields });
const withBytes = (bytes: string): string => goodText.replace('18446744073709551615', bytes);

// JSON.parse and JSON.stringify below would round u64 values above 2^53: these carry small ones.
const smallLifetime = { bytes: 1n, packets: 1n, addTime: 1700000000n, useTime: 0n };
const smallLimits = { softByteLimit: 1n, hardByteLimit: 2n, softPacketLimit: 3n, hardPacketLimit: 4n, softAddExpiresSeconds: 5n, hardAddExpiresSeconds: 6n, softUseExpiresSeconds: 7n, hardUseExpiresSeconds: 8n };
const configText = line(encodeSnapshotSa(1, sampleAe({ lifetime: smallLifetime }), 1, sampleSa({ lifetime: smallLimits })));
const withConfig = JSON.parse(configText) as Record<string, unknown>;
const config = withConfig.config as Record<string, unknown>;
const aead = config.aead as Record<string, unknown>;
const selector = config.selector as Record<string, unknown>;
const withConfigField = (fields: Record<string, unknown>): string => JSON.stringify({ ...withConfig, config: { ...config, ...fields } });
const policyText = line(encodePolicy(undefined, samplePolicy({ lifetime: smallLimits }), 1));
const policy = JSON.parse(policyText) as Record<string, unknown>;
const template = (policy.templates as Record<string, unknown>[])[0]!;
const withPolicyField = (fields: Record<string, unknown>): string => JSON.stringify({ ...policy, ...fields });

/** Replication records (version 2) for the schema's mutation test: an SA with its configuration, a policy. */
export const REPLICATION_SEEDS: readonly string[] = [configText, policyText];

/** Replication records (version 2) that neither the schema nor the decoder takes. */
const HOSTILE_REPLICATION_LINES: readonly CorpusLine[] = [
  { name: 'a key of odd hex length', line: withConfigField({ aead: { ...aead, key: '012' } }), refusal: /^config\.aead\.key: expected 72 lower-case hex digits for a key of 288 bits$/ },
  { name: 'a key that is not hex', line: withConfigField({ aead: { ...aead, key: 'zz'.repeat(36) } }), refusal: /^config\.aead\.key:/ },
  { name: 'a key as a number', line: withConfigField({ aead: { ...aead, key: 12 } }), refusal: /^config\.aead\.key:/ },
  { name: 'an algorithm name of 100 characters', line: withConfigField({ aead: { ...aead, name: 'a'.repeat(100) } }), refusal: /^config\.aead\.name:/ },
  { name: 'a selector address of the wrong family', line: withConfigField({ selector: { ...selector, src: '2001:db8::1' } }), refusal: /^config\.selector\.src: expected an inet address$/ },
  { name: 'a selector prefix longer than its family', line: withConfigField({ selector: { ...selector, srcPrefix: 33 } }), refusal: /^config\.selector\.srcPrefix:/ },
  { name: 'a configuration missing its limits', line: withConfigField({ limits: undefined }), refusal: /^config\.limits: expected an object$/ },
  { name: 'both a configuration and a reason not to replicate', line: JSON.stringify({ ...withConfig, notReplicated: 'x' }), refusal: /^config and notReplicated: expected one of them$/ },
  { name: 'a policy template of protocol udp', line: withPolicyField({ templates: [{ ...template, proto: 'udp' }] }), refusal: /^templates\[0\]\.proto: expected one of esp, ah, comp$/ },
  { name: 'a policy with seven templates', line: withPolicyField({ templates: new Array(7).fill(template) }), refusal: /^templates: expected an array of at most 6 templates$/ },
  { name: 'a policy of direction sideways', line: withPolicyField({ dir: 'sideways' }), refusal: /^dir: expected one of in, out, fwd$/ },
  { name: 'a policy selector with an IPv6 destination in inet', line: withPolicyField({ selector: { ...(policy.selector as object), dst: '2001:db8::1' } }), refusal: /^selector\.dst: expected an inet address$/ },
];

export const HOSTILE_LINES: readonly CorpusLine[] = [
  ...HOSTILE_REPLICATION_LINES,
  { name: 'an unknown version', line: '{"type":"hello","version":3,"node":"x"}', refusal: /^the sender speaks sync stream version 3, this xaev reads versions 1 and 2 only/ },
  { name: 'a truncated record', line: goodText.slice(0, 80), refusal: /^not a JSON value$/ },
  { name: 'an array', line: '[1,2]', refusal: /^record: expected an object$/ },
  { name: 'null', line: 'null', refusal: /^record: expected an object$/ },
  { name: 'an empty line', line: '', refusal: /^not a JSON value$/ },
  { name: 'an SPI as a string', line: withField({ spi: '4096' }), refusal: /^spi: expected an integer from 1 to 4294967295$/ },
  { name: 'SPI 0', line: withField({ spi: 0 }), refusal: /^spi:/ },
  { name: 'an IPv4 address with a part over 255', line: withField({ dst: '192.0.2.300' }), refusal: /^dst: expected an inet address$/ },
  { name: 'an IPv6 address in an inet record', line: withField({ dst: '2001:db8::1' }), refusal: /^dst: expected an inet address$/ },
  { name: 'an IPv4 source in an inet6 record', line: withField({ family: 'inet6', dst: '2001:db8::1', src: '192.0.2.1' }), refusal: /^src: expected an inet6 address$/ },
  { name: 'digits that look like a counter in an address', line: withField({ dst: '12345678901234567890' }), refusal: /^dst: expected an inet address$/ },
  { name: 'an unknown protocol', line: withField({ proto: 'comp' }), refusal: /^proto: expected one of esp, ah$/ },
  { name: 'an unknown cause', line: withField({ cause: 'bogus' }), refusal: /^cause:/ },
  { name: 'a negative seq', line: withField({ replay: { ...replay, seq: -1 } }), refusal: /^replay\.seq:/ },
  { name: 'a fractional seq', line: withField({ replay: { ...replay, seq: 1.5 } }), refusal: /^replay\.seq:/ },
  { name: 'a bitmap word as a string', line: withField({ replay: { ...replay, bitmap: [1, '2'] } }), refusal: /^replay\.bitmap\[1\]:/ },
  { name: 'a bitmap of 129 words', line: withField({ replay: { ...replay, bitmap: new Array(129).fill(0) } }), refusal: /^replay\.bitmap: expected an array of at most 128 words$/ },
  { name: 'an unknown record type', line: withField({ type: 'x'.repeat(1000) }), refusal: /^unknown record type "x{40}"$/ },
  { name: 'a u64 as a string', line: withField({ lifetime: { ...lifetime, bytes: '12' } }), refusal: /^lifetime\.bytes:/ },
  { name: 'a u64 as a string spelling the exact-integer marker', line: withField({ lifetime: { ...lifetime, bytes: '\u0000big:5' } }), refusal: /NUL character/ },
  { name: 'a negative u64', line: withBytes('-9223372036854775808'), refusal: /^lifetime\.bytes:/ },
  { name: 'a u64 in exponent form', line: withBytes('1e30'), refusal: /^lifetime\.bytes:/ },
  { name: 'a u64 of 30 digits', line: withBytes('123456789012345678901234567890'), refusal: /^lifetime\.bytes:/ },
  { name: 'deeply nested arrays', line: '['.repeat(32000) + ']'.repeat(32000), refusal: /^record: expected an object$/ },
  { name: 'deeply nested objects', line: '{"a":'.repeat(12000) + '1' + '}'.repeat(12000), refusal: /^unknown record type undefined$/ },
  { name: 'a line of digits', line: '1'.repeat(65000), refusal: /^record: expected an object$/ },
  { name: 'a string of escapes', line: `"${'\\'.repeat(30000)}"`, refusal: /^record: expected an object$/ },
];

export const BEYOND_SCHEMA_LINES: readonly CorpusLine[] = [
  { name: 'a key whose length is not its bit count', line: withConfigField({ aead: { ...aead, keyBits: 256 } }), refusal: /^config\.aead\.key: expected 64 lower-case hex digits for a key of 256 bits$/ },
  { name: 'an ESN window wider than its bitmap words', line: withField({ replay: { ...replay, window: 65 } }), refusal: /^replay\.window: expected an integer from 0 to 64$/ },
  { name: 'a u64 one above 2^64-1 (a double rounds both to 2^64)', line: withBytes('18446744073709551616'), refusal: /^lifetime\.bytes: expected an integer from 0 to 18446744073709551615$/ },
  { name: 'a node name of 128 astral characters (256 UTF-16 code units)', line: JSON.stringify({ type: 'hello', version: 1, node: '\u{1F600}'.repeat(128), software: 'x', hz: null, rthr: 1, etimeMs: 1, time: 1 }), refusal: /^node: expected a string of 1 to 255 characters$/ },
];
