// The sync stream is the contract between xaev versions on two nodes, and
// docs/sync-stream.schema.json is its written form. A schema validator (ajv, a dev dependency
// only: the receiver's decoder stays hand-written for exact u64 and start-up time) ties the
// document to the code: every record the encoders write validates, every line of the hostile
// corpus fails both the schema and decodeLine(), every line the decoder accepts validates,
// and the schema's address patterns accept exactly what the decoder reads as an address.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseAddress } from '../src/xfrm/address.js';
import { decodeLine } from '../src/sync/stream-decode.js';
import { StreamError } from '../src/sync/stream-fields.js';
import {
  encodeGone,
  encodeHeartbeat,
  encodeHello,
  encodeLost,
  encodePolicy,
  encodePolicyGone,
  encodeSnapshotBegin,
  encodeSnapshotEnd,
  encodeSnapshotSa,
  encodeUpdate,
} from '../src/sync/stream.js';
import { SecretKey } from '../src/xfrm/secret-key.js';
import { REPO_ROOT } from './support/paths.js';
import { BEYOND_SCHEMA_LINES, HOSTILE_LINES, line, REPLICATION_SEEDS, sampleAe, samplePolicy, sampleSa } from './support/stream-corpus.js';

const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'docs/sync-stream.schema.json'), 'utf8')) as { $defs: Record<string, { pattern?: string }> };
const ajv = new Ajv2020({ allErrors: false, strict: true });
const validate = ajv.compile(schema);

/** Whether `text` is a record by the schema: JSON first, then the schema. */
function schemaAccepts(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return false;
  }
  return validate(value);
}

function decoderAccepts(text: string): boolean {
  try {
    decodeLine(text);
    return true;
  } catch (error) {
    if (error instanceof StreamError) return false;
    throw error;
  }
}

const v6 = (text: string): Buffer => parseAddress(text)!.bytes;

/** One of every record the encoders write, in each shape a field can take. */
const ENCODED: [string, string][] = [
  ['hello', encodeHello({ node: 'gw-a', software: 'xaev 0.1.0', hz: 250, rthr: 256, etimeMs: 200, time: 1700000000000 })],
  ['hello without HZ', encodeHello({ node: 'gw-a', software: 'xaev 0.1.0', hz: null, rthr: 0, etimeMs: 4294967295, time: 0 })],
  ['snapshot-begin', encodeSnapshotBegin(1, 5)],
  ['sa, ESN, outbound', encodeSnapshotSa(1, sampleAe(), 5)],
  ['sa, legacy, no direction', encodeSnapshotSa(4294967295, sampleAe({ replay: { kind: 'legacy', seq: 0, oseq: 4294967295, bitmap: 0xffffffff }, direction: undefined }), 5)],
  ['sa, no replay or lifetime, no mark, if_id', encodeSnapshotSa(2, sampleAe({ replay: undefined, lifetime: undefined, mark: undefined, ifId: 7, direction: 1 }), 5)],
  ['sa, ESN window of 4096', encodeSnapshotSa(2, sampleAe({ replay: { kind: 'esn', seq: 1, seqHi: 0, oseq: 0, oseqHi: 0, replayWindow: 4096, bitmap: new Array<number>(128).fill(0xffffffff) } }), 5)],
  ['snapshot-end', encodeSnapshotEnd(1, 0, 5)],
  ...(['replay', 'timer', 'update', 'unknown', 'added'] as const).map((cause): [string, string] => [`update, cause ${cause}`, encodeUpdate(cause, sampleAe(), 6)]),
  [
    'update, IPv6 AH',
    encodeUpdate('added', sampleAe({ id: { saId: { daddr: v6('2001:db8::1'), spi: 9, family: 10, proto: 51 }, saddr: v6('2001:db8::2'), flags: 0, reqid: 0 } }), 6),
  ],
  [
    'update, IPv4-mapped IPv6',
    encodeUpdate('replay', sampleAe({ id: { saId: { daddr: v6('::ffff:192.0.2.1'), spi: 9, family: 10, proto: 50 }, saddr: v6('::'), flags: 0, reqid: 0 } }), 6),
  ],
  ['gone, IPv4 with a mark', encodeGone({ family: 'inet', dst: '192.0.2.2', spi: 1, proto: 'esp', mark: { value: 1, mask: 0xffffffff } }, 7)],
  ['gone, IPv6', encodeGone({ family: 'inet6', dst: '2001:db8::1', spi: 0xffffffff, proto: 'ah', mark: null }, 7)],
  ['lost, counted', encodeLost(17, 'overrun', 8)],
  ['lost, uncounted', encodeLost(null, 'truncated', 8)],
  ['heartbeat', encodeHeartbeat(9)],
  // Version 2: replication.
  ['hello, replicating SAs and policies', encodeHello({ node: 'gw-a', software: 'xaev 0.3.0', hz: 250, rthr: 256, etimeMs: 200, replicate: ['sas', 'policies'], time: 1 })],
  ['sa with its configuration (AEAD, NAT-T, output mark, TFC padding)', encodeSnapshotSa(1, sampleAe(), 5, sampleSa())],
  [
    'update with its configuration (crypt and auth, no selector family, no limits)',
    encodeUpdate('added', sampleAe({ direction: undefined, mark: undefined }), 6, sampleSa({
      aead: undefined,
      crypt: { name: 'cbc(aes)', keyBits: 128, key: SecretKey.copyOf(Buffer.alloc(16, 7)) },
      auth: { name: 'hmac(sha256)', keyBits: 256, truncBits: 128, key: SecretKey.copyOf(Buffer.alloc(32, 9)) },
      encap: undefined,
      outputMark: { value: 1, mask: 0xffff },
      tfcPad: undefined,
      mark: undefined,
      direction: undefined,
      selector: sampleSa().selector && { ...sampleSa().selector, family: 0, saddr: Buffer.alloc(16), daddr: Buffer.alloc(16), prefixlenS: 0, prefixlenD: 0 },
    })),
  ],
  ['sa the sender does not replicate', encodeSnapshotSa(1, sampleAe(), 5, { notReplicated: 'the kernel redacted its keys (lockdown in confidentiality mode)' })],
  ['policy in a snapshot', encodePolicy(1, samplePolicy(), 5)],
  ['policy change, inbound, IPv6, block, no templates', encodePolicy(undefined, samplePolicy({ dir: 0, index: 0x3008, action: 1, templates: [], selector: { ...samplePolicy().selector, family: 10, saddr: v6('2001:db8:1::'), daddr: v6('2001:db8:2::'), prefixlenS: 48, prefixlenD: 64 } }), 6)],
  ['policy-gone', encodePolicyGone(samplePolicy({ mark: { value: 1, mask: 1 }, ifId: 3, type: 0 }), 7)],
  ['snapshot-end with policies', encodeSnapshotEnd(1, 2, 5, 3)],
];

describe('docs/sync-stream.schema.json', () => {
  for (const [name, text] of ENCODED) {
    it(`validates the encoders' ${name} record`, () => {
      const record = line(text);
      assert.ok(decoderAccepts(record), record);
      assert.ok(validate(JSON.parse(record)), `${record}\n${ajv.errorsText(validate.errors)}`);
    });
  }

  for (const { name, line: text } of HOSTILE_LINES) {
    it(`refuses ${name}, as the decoder does`, () => {
      assert.equal(schemaAccepts(text), false);
      assert.equal(decoderAccepts(text), false);
    });
  }

  for (const { name, line: text } of BEYOND_SCHEMA_LINES) {
    it(`takes ${name}, which only the decoder refuses (a rule the schema's description names)`, () => {
      assert.equal(schemaAccepts(text), true, ajv.errorsText(validate.errors));
      assert.equal(decoderAccepts(text), false);
    });
  }

  it('validates every mutated line the decoder accepts', () => {
    const seeds = [
      line(encodeUpdate('replay', sampleAe(), 1)),
      line(encodeSnapshotSa(1, sampleAe({ replay: { kind: 'legacy', oseq: 1, seq: 2, bitmap: 3 } }), 2)),
      line(encodeHello({ node: 'a', software: 'xaev', hz: 100, rthr: 1, etimeMs: 1, time: 1 })),
      line(encodeGone({ family: 'inet6', dst: '2001:db8::1', spi: 1, proto: 'esp', mark: { value: 1, mask: 2 } }, 1)),
      ...REPLICATION_SEEDS,
    ];
    const alphabet = '{}[]":,0123456789-.eE \\abcfnrtux:';
    let seed = 54321;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      let text = seeds[random(seeds.length)]!;
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(text.length + 1);
        const char = alphabet[random(alphabet.length)]!;
        text = random(2) === 0 ? text.slice(0, at) + char + text.slice(at + 1) : text.slice(0, at) + char + text.slice(at);
      }
      if (!decoderAccepts(text)) continue;
      accepted++;
      assert.ok(schemaAccepts(text), `${text}\n${ajv.errorsText(validate.errors)}`);
    }
    assert.ok(accepted > 100, `only ${accepted} mutations decoded`);
  });

  it('reads an address of the record\'s family exactly as the decoder does', () => {
    const ipv4 = new RegExp(schema.$defs.ipv4Address!.pattern!, 'u');
    const ipv6 = new RegExp(schema.$defs.ipv6Address!.pattern!, 'u');
    const pieces = ['0', '1', '9', '10', '99', '255', '256', '01', 'ffff', 'FFFF', '1ffff', 'db8', 'g', '', '1.2.3.4', '300.1.1.1'];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const candidates = ['::', '::1', '1::', ':::', '1::2::3', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7::', '::1.2.3.4', '1.2.3', '1.2.3.4.5'];
    for (let i = 0; i < 20_000; i++) {
      const separator = random(3) === 0 ? '.' : ':';
      const count = 1 + random(9);
      const parts = Array.from({ length: count }, () => pieces[random(pieces.length)]!);
      candidates.push(parts.join(separator));
    }
    for (const text of candidates) {
      const parsed = parseAddress(text);
      assert.equal(ipv4.test(text), parsed?.family === 2, `inet ${JSON.stringify(text)}`);
      assert.equal(ipv6.test(text), parsed?.family === 10, `inet6 ${JSON.stringify(text)}`);
    }
  });
});
