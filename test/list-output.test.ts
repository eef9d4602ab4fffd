// The byte-level paths of `list` (issue 10) against the ordinary decoders: the JSON written
// straight from a GETAE reply or a dump entry must be the very text toJson(getRecord(...))
// gives, and a GETAE encoded straight from a dump entry the very bytes encodeGetAe gives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecodeError } from '../src/netlink/errors.js';
import { encodeMessage } from '../src/netlink/message.js';
import { readS32, readU16, readU32, readU32BE, writeU16, writeU32 } from '../src/netlink/bytes.js';
import { AsciiOut, asciiPiece } from '../src/cli/ascii-out.js';
import { toJson } from '../src/xfrm/json.js';
import { getRecord, saRecord } from '../src/xfrm/sa-record.js';
import { saRecordJson } from '../src/cli/sa-json.js';
import { saStateTextOf } from '../src/cli/sa-text.js';
import { createStyle } from '../src/cli/style.js';
import { saStateText } from '../src/cli/text.js';
import { decodeAePayload, encodeGetAe, encodeGetAeFromDump, MAX_GETAE_LENGTH } from '../src/xfrm/aevent.js';
import { parseAddress } from '../src/xfrm/address.js';
import { decodeSaEntry, keyOf, stateOfDumpEntry, viewDumpEntry } from '../src/xfrm/sa-dump.js';
import { SaStateView } from '../src/xfrm/sa-view.js';
import { fromHex as hex } from './support/bytes.js';
import { prng } from './support/prng.js';

const AE_ID_V4 = hex(`
  0a000009 00000000 00000000 00000000 00009000 02003200
  0a000001 00000000 00000000 00000000
  09000000 4d000000`);

const AE_ID_V6 = Buffer.concat([
  parseAddress('2001:db8::9')!.bytes,
  hex('deadbeef 0a003300'),
  parseAddress('::ffff:10.1.2.3')!.bytes,
  hex('09000000 ffffffff'),
]);

const LEGACY = hex('10000a00 05000000 07000000 ff00ff00');
const ESN = Buffer.concat([hex('2c001700 04000000 01000000 02000000 03000000 04000000 80000000'), hex('01000000 00000080 ffffffff 00000000')]);
const LIFETIME = hex('24000900 e8030000 00000000 0a000000 00000000 00f15365 00000000 64f15365 00000000');
const HUGE_LIFETIME = hex('24000900 ffffffff ffffffff 01000000 00002000 00f15365 00000000 00000000 00000000');
const THRESHOLDS = hex('08000b00 20000000 08000c00 05000000');
const MARK = hex('0c001500 05000000 ff000000');
const IF_ID = hex('08001f00 09000000');
const PAD = hex('04001b00');
const SA_DIR = hex('05002100 02000000');

const REPLIES: [string, Buffer][] = [
  ['a larval SA with a mark', Buffer.concat([AE_ID_V4, LEGACY, LIFETIME, THRESHOLDS, MARK])],
  ['ESN, IPv6, if_id, PAD and SA_DIR', Buffer.concat([AE_ID_V6, ESN, PAD, LIFETIME, THRESHOLDS, IF_ID, SA_DIR])],
  ['u64 counters above 2^53', Buffer.concat([AE_ID_V4, LEGACY, HUGE_LIFETIME, THRESHOLDS])],
  ['nothing but the id', AE_ID_V4],
  ['an unknown family and protocol', Buffer.concat([hex('0a000009 00000000 00000000 00000000 00009000 07000900'), AE_ID_V4.subarray(24), LEGACY])],
];

describe('list JSON written from the reply bytes', () => {
  for (const [name, payload] of REPLIES) {
    it(`is toJson(getRecord(...)) byte for byte: ${name}`, () => {
      const view = new SaStateView().fromAePayload(payload, 0, payload.length);
      assert.equal(saRecordJson(view, true), toJson(getRecord(decodeAePayload(payload))));
    });
  }

  for (const [name, payload] of REPLIES) {
    it(`text is saStateText(...) byte for byte, with and without the bitmap: ${name}`, () => {
      const view = new SaStateView().fromAePayload(payload, 0, payload.length);
      const ae = decodeAePayload(payload);
      const plain = createStyle({ color: false, json: false });
      for (const bitmap of [false, true]) assert.equal(saStateTextOf(view, bitmap, true), saStateText(getRecord(ae), ae, plain, bitmap));
    });
  }

  it('reads a reply in place inside a larger buffer', () => {
    const payload = REPLIES[1]![1];
    const buf = Buffer.concat([Buffer.alloc(20, 0xee), payload, Buffer.alloc(8, 0xee)]);
    assert.equal(saRecordJson(new SaStateView().fromAePayload(buf, 20, 20 + payload.length), true), toJson(getRecord(decodeAePayload(payload))));
  });

  it('refuses what the decoder refuses, with DecodeError', () => {
    const view = new SaStateView();
    for (const bad of [
      AE_ID_V4.subarray(0, 47),
      Buffer.concat([AE_ID_V4, hex('0c000a00 00000000 00000000')]),
      Buffer.concat([AE_ID_V4, hex('1c001700 01000000'), Buffer.alloc(20)]),
      Buffer.concat([AE_ID_V4, hex('1c001700 81000000'), Buffer.alloc(20)]),
      Buffer.concat([AE_ID_V4, hex('08000b00 0100')]),
      Buffer.concat([AE_ID_V4, hex('08001500 05000000')]),
    ]) {
      assert.throws(() => decodeAePayload(bad), DecodeError, bad.toString('hex'));
      assert.throws(() => view.fromAePayload(bad, 0, bad.length), DecodeError, bad.toString('hex'));
    }
  });
});

/** A GETSA dump message: xfrm_usersa_info with the given values, then attributes. */
function dumpMessage(address: { src: string; dst: string }, spi: number, proto: number, ...attributes: Buffer[]): Buffer {
  const info = Buffer.alloc(224);
  const dst = parseAddress(address.dst)!;
  dst.bytes.copy(info, 56);
  info.writeUInt32BE(spi, 72);
  info[76] = proto;
  parseAddress(address.src)!.bytes.copy(info, 80);
  info.writeBigUInt64LE(1234n, 160);
  info.writeBigUInt64LE(0x20000000000001n, 168);
  info.writeBigUInt64LE(1700000000n, 176);
  info.writeUInt32LE(42, 208);
  info.writeUInt16LE(dst.family, 212);
  return encodeMessage({ type: 16, flags: 2, seq: 1, pid: 1 }, info, ...attributes);
}

const DUMPS: [string, Buffer][] = [
  ['a marked IPv4 SA', dumpMessage({ src: '10.0.0.1', dst: '10.0.0.9' }, 0x9000, 50, LEGACY, MARK)],
  ['an unmarked IPv6 ESN SA with if_id', dumpMessage({ src: '2001:db8::1', dst: '2001:db8::9' }, 0xc0ffee, 51, ESN, IF_ID)],
];

describe('list paths from the dump bytes', () => {
  for (const [name, message] of DUMPS) {
    it(`--counters-only JSON is toJson(saRecord(...)): ${name}`, () => {
      const view = viewDumpEntry(new SaStateView(), 16, message, 16, message.length);
      assert.equal(saRecordJson(view, false), toJson(saRecord(stateOfDumpEntry(view))));
      assert.match(saRecordJson(view, false), /"lifetime":\{"bytes":1234,"packets":9007199254740993,"addTime":1700000000,"useTime":0\}\}$/);
      const ae = stateOfDumpEntry(view);
      const full = saStateText(getRecord(ae), ae, createStyle({ color: false, json: false }), true);
      assert.equal(saStateTextOf(view, true, false), full.slice(0, full.lastIndexOf('\taevent thresholds')));
    });

    it(`the GETAE encoded from the dump bytes is encodeGetAe(keyOf(entry)): ${name}`, () => {
      const view = viewDumpEntry(new SaStateView(), 16, message, 16, message.length);
      const out = Buffer.alloc(MAX_GETAE_LENGTH + 8, 0xee);
      const end = encodeGetAeFromDump(view, out, 4);
      const request = encodeGetAe(keyOf(decodeSaEntry({ type: 16, flags: 2, seq: 1, pid: 1, payload: message.subarray(16) })));
      assert.deepEqual(out.subarray(4, end), encodeMessage({ type: request.type, flags: 1, seq: 0, pid: 0 }, ...request.parts));
    });
  }
});

describe('the byte-level paths never trust input', () => {
  it('2,000 mutated replies: only DecodeError, and the same JSON and text whenever the decoder accepts them too', () => {
    const random = prng(10);
    const view = new SaStateView();
    for (let i = 0; i < 2000; i++) {
      const input = Buffer.from(REPLIES[i % REPLIES.length]![1]);
      for (let edits = 1 + Math.floor(random() * 4); edits > 0; edits--) input[Math.floor(random() * input.length)] = [0, 4, 8, 12, 255][Math.floor(random() * 5)]!;
      const payload = input.subarray(0, random() < 0.2 ? Math.floor(random() * input.length) : input.length);
      let fromBytes: string[] | undefined;
      try {
        view.fromAePayload(payload, 0, payload.length);
        fromBytes = [saRecordJson(view, true), saStateTextOf(view, true, true)];
      } catch (error) {
        assert.ok(error instanceof DecodeError, `seed 10, case ${i}: ${String(error)}`);
      }
      let expected: string[] | undefined;
      try {
        const ae = decodeAePayload(payload);
        expected = [toJson(getRecord(ae)), saStateText(getRecord(ae), ae, createStyle({ color: false, json: false }), true)];
      } catch (error) {
        assert.ok(error instanceof DecodeError);
      }
      if (fromBytes !== undefined && expected !== undefined) assert.deepEqual(fromBytes, expected, `case ${i}: ${payload.toString('hex')}`);
    }
  });
});

describe('AsciiOut numbers', () => {
  const written = (write: (out: AsciiOut) => void): string => {
    let text = '';
    const out = new AsciiOut((bytes) => (text += bytes.toString('latin1')));
    write(out);
    out.flushNow();
    return text;
  };

  it('writes integers up to 2^53 exactly as String() does', () => {
    const values = [0, 7, 9, 10, 99, 100, 65535, 999999999, 1000000000, 0xffffffff, 2 ** 32, 2 ** 32 + 7, 1e15 + 3, 2 ** 53 - 1];
    for (let digits = 1, n = 1; digits <= 16; digits++, n *= 10) values.push(n, n - 1, n + 1);
    for (const n of values) assert.equal(written((out) => out.uint(n)), String(n), `uint(${n})`);
    assert.equal(written((out) => out.u64(2n ** 64n - 1n)), '18446744073709551615');
  });

  it('writes every IPv4 octet value as the dotted quad does', () => {
    for (let octet = 0; octet < 256; octet++) {
      const bytes = Uint8Array.of(7, octet, 255 - octet, octet);
      assert.equal(written((out) => out.ipv4(bytes, 0)), `7.${octet}.${255 - octet}.${octet}`, `octet ${octet}`);
    }
    assert.equal(written((out) => out.ipv4(Uint8Array.of(9, 192, 0, 2, 1), 1)), '192.0.2.1');
  });

  it('writes hex as 0x%x and as eight zero-padded digits', () => {
    for (const n of [0, 1, 0xf, 0x10, 0xabc, 0x7fffffff, 0x80000000, 0xffffffff]) {
      assert.equal(written((out) => out.hex(n)), `0x${n.toString(16)}`);
      assert.equal(written((out) => out.hex8(n)), n.toString(16).padStart(8, '0'));
    }
  });

  it('refuses fixed text that is not ASCII', () => {
    assert.throws(() => asciiPiece('é'), /not ASCII/);
    assert.equal(written((out) => out.piece(asciiPiece('{"a":')).uint(1)), '{"a":1');
  });
});

describe('byte helpers', () => {
  it('read and write in host order and refuse offsets outside the buffer', () => {
    const buf = Buffer.alloc(6);
    writeU32(buf, 0x12345678, 2);
    writeU16(buf, 0xbeef, 0);
    assert.equal(readU32(buf, 2), buf.readUInt32LE(2));
    assert.equal(readU16(buf, 0), 0xbeef);
    writeU32(buf, -1, 2);
    assert.equal(readU32(buf, 2), 0xffffffff);
    assert.equal(readS32(buf, 2), -1);
    for (const offset of [3, -1, 1.5, NaN]) assert.throws(() => readU32(buf, offset), RangeError, `readU32 at ${offset}`);
    assert.throws(() => writeU32(buf, 1, 3), RangeError);
    assert.throws(() => writeU16(buf, 0x10000, 0), RangeError);
    assert.throws(() => readU16(buf, 5), RangeError);
    // SPIs are big-endian on every host, and exact above 2^31.
    const spi = Buffer.from([0, 0xc3, 0x5a, 0x01, 0xff, 0]);
    assert.equal(readU32BE(spi, 1), 0xc35a01ff);
    for (const offset of [3, -1, 0.5]) assert.throws(() => readU32BE(spi, offset), RangeError, `readU32BE at ${offset}`);
  });
});
