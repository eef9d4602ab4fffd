// Sync stream lines for the decoder's and the schema's tests (test/sync-stream.test.ts,
// test/sync-schema.test.ts): a sample SA state, and the hostile corpus, each line with the
// refusal the decoder gives. Every line of HOSTILE_LINES must fail both decodeLine() and
// docs/sync-stream.schema.json; BEYOND_SCHEMA_LINES are the rules the schema cannot state
// (its description names them): valid against the schema, refused by the decoder.
import type { AeMessage } from '../../src/xfrm/aevent.js';
import { encodeUpdate } from '../../src/sync/stream.js';

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

export const HOSTILE_LINES: readonly CorpusLine[] = [
  { name: 'an unknown version', line: '{"type":"hello","version":2,"node":"x"}', refusal: /^the sender speaks sync stream version 2, this xaev reads version 1 only/ },
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
  { name: 'an ESN window wider than its bitmap words', line: withField({ replay: { ...replay, window: 65 } }), refusal: /^replay\.window: expected an integer from 0 to 64$/ },
  { name: 'a u64 one above 2^64-1 (a double rounds both to 2^64)', line: withBytes('18446744073709551616'), refusal: /^lifetime\.bytes: expected an integer from 0 to 18446744073709551615$/ },
  { name: 'a node name of 128 astral characters (256 UTF-16 code units)', line: JSON.stringify({ type: 'hello', version: 1, node: '\u{1F600}'.repeat(128), software: 'x', hz: null, rthr: 1, etimeMs: 1, time: 1 }), refusal: /^node: expected a string of 1 to 255 characters$/ },
];
