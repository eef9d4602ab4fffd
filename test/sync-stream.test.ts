// The sync stream as untrusted input: every record type round-trips, and hostile lines
// (huge, truncated, wrong types, unknown versions, u64 edge cases) are refused with a
// message naming the field, never a crash or a rounded counter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeLine } from '../src/sync/stream-decode.js';
import { StreamError } from '../src/sync/stream-fields.js';
import { encodeGone, encodeHeartbeat, encodeHello, encodeLost, encodeSnapshotSa, encodeUpdate } from '../src/sync/stream.js';
import { SecretKey } from '../src/xfrm/secret-key.js';
import { BEYOND_SCHEMA_LINES, HOSTILE_LINES, line, sampleAe, sampleSa } from './support/stream-corpus.js';

const ae = sampleAe;

describe('sync stream records', () => {
  it('round-trips an update with exact u64 lifetime counters and the ESN replay state', () => {
    const record = decodeLine(line(encodeUpdate('replay', ae(), 1234)));
    assert.equal(record.type, 'update');
    if (record.type !== 'update') return;
    assert.equal(record.cause, 'replay');
    assert.equal(record.sa.key, 'inet 192.0.2.2 0x00001000 esp mark 0x10/0xff');
    assert.equal(record.sa.dir, 'out');
    assert.deepEqual(record.sa.replay, { kind: 'esn', seq: 5, seqHi: 1, oseq: 0xfffffff0, oseqHi: 2, replayWindow: 64, bitmap: [0xffffffff, 1] });
    assert.equal(record.sa.lifetime?.bytes, 18446744073709551615n);
    assert.equal(record.sa.lifetime?.packets, 9007199254740993n);
    assert.equal(record.sa.time, 1234);
  });

  it('writes u64 counters as bare JSON integers, as get -j does', () => {
    const text = encodeUpdate('timer', ae(), 1);
    assert.match(text, /"bytes":18446744073709551615,"packets":9007199254740993,/);
    assert.ok(text.endsWith('}\n'));
  });

  it('round-trips snapshot, gone, lost, heartbeat and hello records', () => {
    const sa = decodeLine(line(encodeSnapshotSa(3, ae({ direction: undefined }), 5)));
    assert.equal(sa.type, 'sa');
    if (sa.type !== 'sa') return;
    assert.deepEqual([sa.snapshot, sa.sa.key, sa.sa.dir, sa.sa.time], [3, 'inet 192.0.2.2 0x00001000 esp mark 0x10/0xff', null, 5]);
    const gone = decodeLine(line(encodeGone({ family: 'inet6', dst: '2001:db8:0:0::1', spi: 9, proto: 'ah', mark: null }, 6)));
    assert.deepEqual(gone, {
      type: 'gone',
      sa: { key: 'inet6 2001:db8::1 0x00000009 ah', family: 'inet6', dst: '2001:db8::1', spi: 9, proto: 'ah', mark: null },
      time: 6,
    });
    assert.deepEqual(decodeLine(line(encodeLost(17, 'overrun', 7))), { type: 'lost', count: 17, reason: 'overrun', time: 7 });
    assert.deepEqual(decodeLine(line(encodeHeartbeat(8))), { type: 'heartbeat', time: 8 });
    const hello = decodeLine(line(encodeHello({ node: 'gw-a', software: 'xaev 0.1.0', hz: 250, rthr: 256, etimeMs: 200, time: 9 })));
    assert.deepEqual(hello, { type: 'hello', version: 1, node: 'gw-a', software: 'xaev 0.1.0', hz: 250, rthr: 256, etimeMs: 200, replicate: [], time: 9 });
  });
});

describe('replicated keys in stream lines', () => {
  it('a key decoded before a refused field is wiped: it goes no further than the error', () => {
    const good = line(encodeSnapshotSa(1, sampleAe(), 2, sampleSa()));
    const bad = good.replace(/"tfcPad":(null|\d+)/, '"tfcPad":-1');
    assert.notEqual(bad, good);
    const wiped: number[] = [];
    const wipe = SecretKey.prototype.wipe;
    SecretKey.prototype.wipe = function (this: SecretKey) {
      wiped.push(this.length);
      wipe.call(this);
    };
    try {
      assert.throws(() => decodeLine(bad), (error: unknown) => error instanceof StreamError && /^config\.tfcPad: /.test(error.message));
    } finally {
      SecretKey.prototype.wipe = wipe;
    }
    assert.deepEqual(wiped, [sampleSa().aead!.key.length]);
    const record = decodeLine(good);
    assert.ok(record.type === 'sa' && record.replica && 'config' in record.replica);
    assert.equal(record.replica.config.aead!.key.hex(), sampleSa().aead!.key.hex());
  });

  it('SecretKey.fromHex decodes into a buffer of its own, never a slice of the shared pool', () => {
    const key = SecretKey.fromHex('00112233445566778899aabbccddeeff');
    assert.equal(key.hex(), '00112233445566778899aabbccddeeff');
    assert.deepEqual([key.bytes.byteOffset, key.bytes.buffer.byteLength], [0, 16]);
  });
});

describe('hostile stream lines', () => {
  const refuses = (text: string, pattern: RegExp): void => {
    assert.throws(() => decodeLine(text), (error: unknown) => error instanceof StreamError && pattern.test(error.message));
  };

  it('refuses an unknown version with one clear, fatal message', () => {
    let caught: unknown;
    try {
      decodeLine('{"type":"hello","version":3,"node":"x"}');
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof StreamError);
    assert.equal(caught.fatal, true);
    assert.equal(caught.message, 'the sender speaks sync stream version 3, this xaev reads versions 1 and 2 only: run the same xaev version on both nodes');
  });

  it('a hello without a valid version is a malformed line, not the fatal version refusal', () => {
    for (const text of [
      '{"type":"hello","node":"x"}',
      '{"type":"hello","version":"1","node":"x"}',
      '{"type":"hello","version":null}',
      '{"type":"hello","version":0}',
      '{"type":"hello","version":1.5}',
      '{"type":"hello","version":-2}',
      '{"type":"hello","version":4294967296}',
    ]) {
      let caught: unknown;
      try {
        decodeLine(text);
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof StreamError, text);
      assert.deepEqual([caught.fatal, caught.message], [false, 'version: expected an integer from 1 to 4294967295'], text);
    }
  });

  // Truncated and non-object lines, wrong types field by field, u64 past 2^64-1 or below 0,
  // deep nesting, digits inside strings, strings spelling the exact-integer marker.
  for (const { name, line: text, refusal } of [...HOSTILE_LINES, ...BEYOND_SCHEMA_LINES]) {
    it(`refuses ${name}, naming the field, without a crash`, () => refuses(text, refusal));
  }

  it('reads u64 counters exactly at the edges', () => {
    const withBytes = (bytes: string): string => line(encodeUpdate('replay', ae(), 1)).replace('18446744073709551615', bytes);
    const bytesOf = (text: string): bigint | undefined => {
      const record = decodeLine(text);
      return record.type === 'update' ? record.sa.lifetime?.bytes : undefined;
    };
    assert.equal(bytesOf(withBytes('9007199254740992')), 9007199254740992n);
    assert.equal(bytesOf(withBytes('9007199254740993')), 9007199254740993n);
    assert.equal(bytesOf(withBytes('0')), 0n);
    assert.equal(bytesOf(withBytes('1000000000000000')), 1000000000000000n);
    assert.equal(bytesOf(withBytes('18446744073709551615')), 18446744073709551615n);
  });
});

describe('mutated stream lines', () => {
  it('decode or fail with StreamError, never anything else, for 20,000 mutations', () => {
    const seeds = [
      line(encodeUpdate('replay', ae(), 1)),
      line(encodeSnapshotSa(1, ae({ replay: { kind: 'legacy', oseq: 1, seq: 2, bitmap: 3 } }), 2)),
      line(encodeHello({ node: 'a', software: 'xaev', hz: 100, rthr: 1, etimeMs: 1, time: 1 })),
      line(encodeGone({ family: 'inet', dst: '192.0.2.2', spi: 1, proto: 'esp', mark: { value: 1, mask: 2 } }, 1)),
    ];
    const alphabet = '{}[]":,0123456789-.eE \\u0000abcnrtuxlf';
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      let text = seeds[random(seeds.length)]!;
      for (let edits = 1 + random(4); edits > 0; edits--) {
        const at = random(text.length + 1);
        const op = random(3);
        const char = alphabet[random(alphabet.length)]!;
        if (op === 0) text = text.slice(0, at) + char + text.slice(at);
        else if (op === 1) text = text.slice(0, at) + text.slice(at + 1 + random(8));
        else text = text.slice(0, at) + char + text.slice(at + 1);
      }
      try {
        decodeLine(text);
        decoded++;
      } catch (error) {
        if (!(error instanceof StreamError)) throw new Error(`${String(error)} for ${JSON.stringify(text)}`);
      }
    }
    // Some mutations only touch values in allowed ways (digits), most break the line.
    assert.ok(decoded > 100 && decoded < 20_000, `decoded ${decoded}`);
  });
});
