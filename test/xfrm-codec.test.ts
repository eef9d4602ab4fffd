import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecodeError } from '../src/netlink/errors.js';
import { encodeMessage, parseMessages } from '../src/netlink/message.js';
import { decodeAeMessage, encodeGetAe, encodeNewAe } from '../src/xfrm/aevent.js';
import { formatAddress, parseAddress } from '../src/xfrm/address.js';
import { AF_INET, IPPROTO_ESP } from '../src/xfrm/constants.js';
import { decodeSaEntry, encodeSaDump } from '../src/xfrm/sa-dump.js';
import {
  AEVENT_ID,
  decodeStruct,
  encodeStruct,
  fieldOffset,
  LIFETIME_CUR,
  MARK,
  REPLAY_STATE,
  REPLAY_STATE_ESN,
  USER_MAPPING,
  USERSA_ID,
  USERSA_INFO,
} from '../src/xfrm/struct-table.js';
import { NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP } from '../src/netlink/constants.js';

import { fromHex as hex } from './support/bytes.js';

// docs/kernel/structs.md#worked-example (net/xfrm/xfrm_user.c: xfrm_get_ae(), build_aevent()):
// GETAE for 10.0.0.9, SPI 0x9000, ESP, flags RTHR|ETHR, seq 0x1092, mark {5, 0xff}.
const GOLDEN_GETAE = hex(`
  4c000000 1f000100 92100000 00000000
  0a000009 00000000 00000000 00000000
  00009000 02003200 00000000 00000000
  00000000 00000000 09000000 00000000
  0c001500 05000000 ff000000`);

// Its reply from a larval SA on 6.18 x86_64 (saddr 10.0.0.1, reqid 77, zero counters and thresholds).
const GOLDEN_REPLY = hex(`
  90000000 1e000000 92100000 00000000
  0a000009 00000000 00000000 00000000 00009000 02003200
  0a000001 00000000 00000000 00000000
  09000000 4d000000
  10000a00 00000000 00000000 00000000
  24000900 ${'00'.repeat(32)}
  08000b00 00000000
  08000c00 00000000
  0c001500 05000000 ff000000`);

const key = {
  saId: { daddr: parseAddress('10.0.0.9')!.bytes, spi: 0x9000, family: AF_INET, proto: IPPROTO_ESP },
  mark: { value: 5, mask: 0xff },
};

function encodeRequest(request: ReturnType<typeof encodeGetAe>, seq: number, extraFlags: number): Buffer {
  return encodeMessage({ type: request.type, flags: NLM_F_REQUEST | extraFlags | (request.flags ?? 0), seq, pid: 0 }, ...request.parts);
}

describe('GETAE and NEWAE encoding', () => {
  it('encodes GETAE byte for byte as the worked example in docs/kernel/structs.md', () => {
    assert.deepEqual(encodeRequest(encodeGetAe(key), 0x1092, 0), GOLDEN_GETAE);
  });

  it('encodes NEWAE with REPLACE, the mark, and each value in kernel attribute form', () => {
    const request = encodeNewAe(key, {
      replay: { kind: 'legacy', oseq: 0x10, seq: 0x20, bitmap: 0xff },
      lifetime: { bytes: 0x0102030405060708n, packets: 9n, addTime: 1700000000n, useTime: 0n },
      timerJiffies: 30,
      replayThreshold: 4,
    });
    const bytes = encodeRequest(request, 7, NLM_F_ACK);
    assert.deepEqual(
      bytes,
      hex(`
      90000000 1e000501 07000000 00000000
      0a000009 00000000 00000000 00000000 00009000 02003200
      ${'00'.repeat(16)} 00000000 00000000
      0c001500 05000000 ff000000
      10000a00 10000000 20000000 ff000000
      24000900 08070605 04030201 09000000 00000000 00f15365 00000000 00000000 00000000
      08000c00 1e000000
      08000b00 04000000`),
    );
  });

  it('sends an ESN state with its exact bitmap length', () => {
    const request = encodeNewAe(key, {
      replay: { kind: 'esn', oseq: 1, seq: 2, oseqHi: 3, seqHi: 4, replayWindow: 64, bitmap: [0xaaaaaaaa, 0x55555555] },
    });
    // After the xfrm_aevent_id and the XFRMA_MARK of `key`: the attribute, and nothing more.
    const values = Buffer.concat(request.parts).subarray(AEVENT_ID.size + 12);
    assert.deepEqual(values, hex('24001700 02000000 01000000 02000000 03000000 04000000 40000000 aaaaaaaa 55555555'));
  });

  it('refuses a NEWAE with nothing to set', () => {
    assert.throws(() => encodeNewAe(key, {}), RangeError);
  });

  it('encodes the SA dump with an empty body, or XFRMA_PROTO straight after the header', () => {
    assert.deepEqual(encodeRequest(encodeSaDump(), 3, NLM_F_DUMP), hex('10000000 12000103 03000000 00000000'));
    assert.deepEqual(encodeRequest(encodeSaDump(50), 3, NLM_F_DUMP), hex('18000000 12000103 03000000 00000000 05001900 32000000'));
  });
});

describe('NEWAE decoding', () => {
  it('decodes the worked example GETAE reply exactly', () => {
    const [message] = parseMessages(GOLDEN_REPLY);
    const ae = decodeAeMessage(message!);
    assert.equal(formatAddress(ae.id.saId.daddr, ae.id.saId.family), '10.0.0.9');
    assert.equal(formatAddress(ae.id.saddr, ae.id.saId.family), '10.0.0.1');
    assert.deepEqual(
      [ae.id.saId.spi, ae.id.saId.family, ae.id.saId.proto, ae.id.flags, ae.id.reqid],
      [0x9000, 2, 50, 9, 77],
    );
    assert.deepEqual(ae.replay, { kind: 'legacy', oseq: 0, seq: 0, bitmap: 0 });
    assert.deepEqual(ae.lifetime, { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n });
    assert.equal(ae.replayThreshold, 0);
    assert.equal(ae.timerThreshold100ms, 0);
    assert.deepEqual(ae.mark, { value: 5, mask: 0xff });
    assert.equal(ae.ifId, undefined);
    assert.deepEqual(ae.unknownAttributes, []);
  });

  it('skips XFRMA_PAD before an unaligned LTIME_VAL and keeps unknown attributes (UML layout)', () => {
    const payload = Buffer.concat([
      GOLDEN_REPLY.subarray(16, 64),
      hex('10000a00 05000000 00000000 00000000'),
      hex('04001b00'),
      hex('24000900 e8030000 00000000 0a000000 00000000 00f15365 00000000 64f15365 00000000'),
      hex('08002800 01020304'),
      hex('08001f00 09000000'),
      hex('05002100 02000000'),
    ]);
    const message = encodeMessage({ type: 30, flags: 0, seq: 0, pid: 1611232818 }, payload);
    const ae = decodeAeMessage(parseMessages(message)[0]!);
    assert.deepEqual(ae.replay, { kind: 'legacy', oseq: 5, seq: 0, bitmap: 0 });
    assert.deepEqual(ae.lifetime, { bytes: 1000n, packets: 10n, addTime: 1700000000n, useTime: 1700000100n });
    assert.equal(ae.ifId, 9);
    assert.equal(ae.direction, 2);
    assert.deepEqual(ae.unknownAttributes.map((a) => a.type), [40]);
  });

  it('decodes a 4096-packet ESN state (bmp_len 128) with all of its bitmap', () => {
    const bitmap = Buffer.alloc(512);
    bitmap.writeUInt32LE(0x80000001, 0);
    bitmap.writeUInt32LE(0xdeadbeef, 508);
    const esn = Buffer.concat([hex('1c021700 80000000 05000000 07000000 01000000 02000000 00100000'), bitmap]);
    const message = encodeMessage({ type: 30, flags: 0, seq: 0, pid: 0 }, GOLDEN_REPLY.subarray(16, 64), esn);
    const ae = decodeAeMessage(parseMessages(message)[0]!);
    assert.equal(ae.replay?.kind, 'esn');
    if (ae.replay?.kind !== 'esn') return;
    assert.deepEqual(
      [ae.replay.oseq, ae.replay.seq, ae.replay.oseqHi, ae.replay.seqHi, ae.replay.replayWindow, ae.replay.bitmap.length],
      [5, 7, 1, 2, 4096, 128],
    );
    assert.equal(ae.replay.bitmap[0], 0x80000001);
    assert.equal(ae.replay.bitmap[127], 0xdeadbeef);
  });

  it('gives DecodeError for short structs and attributes', () => {
    const short = (body: Buffer): (() => void) => () => decodeAeMessage(parseMessages(encodeMessage({ type: 30, flags: 0, seq: 0, pid: 0 }, body))[0]!);
    assert.throws(short(Buffer.alloc(47)), DecodeError);
    assert.throws(short(Buffer.concat([Buffer.alloc(48), hex('0c000a00 00000000 00000000')])), DecodeError); // 8-byte REPLAY_VAL
    assert.throws(short(Buffer.concat([Buffer.alloc(48), hex('1c001700 01000000') , Buffer.alloc(20)])), DecodeError); // ESN bitmap missing
    assert.throws(short(Buffer.concat([Buffer.alloc(48), hex('1c001700 81000000'), Buffer.alloc(20)])), DecodeError); // bmp_len > 128
    assert.throws(short(Buffer.concat([Buffer.alloc(48), hex('08000b00 0100')])), DecodeError); // attribute past the end
  });
});

describe('SA dump entries', () => {
  it('reads id, family, reqid and mark from a GETSA dump message', () => {
    const info = Buffer.alloc(224);
    parseAddress('10.0.0.9')!.bytes.copy(info, 56);
    info.writeUInt32BE(0x9000, 72);
    info[76] = 50;
    parseAddress('10.0.0.1')!.bytes.copy(info, 80);
    info.writeUInt32LE(77, 208);
    info.writeUInt16LE(2, 212);
    info[215] = 32;
    const message = encodeMessage({ type: 16, flags: 2, seq: 1, pid: 1 }, info, hex('0c001500 05000000 ff000000'), hex('08001f00 09000000'));
    const entry = decodeSaEntry(parseMessages(message)[0]!);
    assert.deepEqual(
      [entry.info.saId.spi, entry.info.saId.proto, entry.info.saId.family, entry.info.reqid, entry.ifId],
      [0x9000, 50, 2, 77, 9],
    );
    assert.deepEqual(entry.mark, { value: 5, mask: 0xff });
    assert.equal(formatAddress(entry.info.saddr, 2), '10.0.0.1');
    assert.equal(formatAddress(entry.info.saId.daddr, 2), '10.0.0.9');
  });
});

describe('the struct table', () => {
  it('has the sizes and offsets of docs/kernel/structs.md (x86_64 pahole)', () => {
    assert.deepEqual(
      [AEVENT_ID, USERSA_ID, REPLAY_STATE, REPLAY_STATE_ESN, LIFETIME_CUR, MARK, USERSA_INFO, USER_MAPPING].map((s) => [s.name, s.size]),
      [
        ['xfrm_aevent_id', 48],
        ['xfrm_usersa_id', 24],
        ['xfrm_replay_state', 12],
        ['xfrm_replay_state_esn', 24],
        ['xfrm_lifetime_cur', 32],
        ['xfrm_mark', 8],
        ['xfrm_usersa_info', 224],
        ['xfrm_user_mapping', 64],
      ],
    );
    assert.deepEqual(
      [
        fieldOffset(USERSA_INFO, 'id', 'daddr'),
        fieldOffset(USERSA_INFO, 'id', 'spi'),
        fieldOffset(USERSA_INFO, 'id', 'proto'),
        fieldOffset(USERSA_INFO, 'saddr'),
        fieldOffset(USERSA_INFO, 'curlft', 'packets'),
        fieldOffset(USERSA_INFO, 'reqid'),
        fieldOffset(USERSA_INFO, 'family'),
        fieldOffset(AEVENT_ID, 'saId', 'family'),
        fieldOffset(AEVENT_ID, 'reqid'),
      ],
      [56, 72, 76, 80, 168, 208, 212, 20, 44],
    );
    assert.throws(() => fieldOffset(USERSA_INFO, 'id', 'family'), /no field id.family/);
  });

  it('decodes and encodes a NAT-T mapping with its big-endian SPI and ports', () => {
    const bytes = hex(`
      0a000009 00000000 00000000 00000000 00009000 02003200
      4d000000
      0a000001 00000000 00000000 00000000
      0a000002 00000000 00000000 00000000
      11941194`);
    const mapping = decodeStruct(USER_MAPPING, bytes);
    assert.deepEqual(
      [mapping.saId.spi, mapping.saId.family, mapping.saId.proto, mapping.reqid, mapping.oldSport, mapping.newSport],
      [0x9000, 2, 50, 77, 4500, 4500],
    );
    assert.equal(formatAddress(mapping.newSaddr, 2), '10.0.0.2');
    assert.deepEqual(encodeStruct(USER_MAPPING, mapping), bytes);
  });

  it('refuses short input with DecodeError naming the struct', () => {
    assert.throws(() => decodeStruct(USERSA_INFO, Buffer.alloc(223)), { name: 'DecodeError', message: 'xfrm_usersa_info: 223 bytes, expected at least 224' });
    assert.throws(() => decodeStruct(MARK, Buffer.alloc(12), 8, 'XFRMA_MARK'), { name: 'DecodeError', message: 'XFRMA_MARK: 4 bytes, expected at least 8' });
  });
});

describe('addresses', () => {
  it('formats IPv6 like inet_ntop', () => {
    const cases: [string, string][] = [
      ['2001:db8::1', '2001:db8::1'],
      ['2001:0db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['fe80::1:2:3:4', 'fe80::1:2:3:4'],
      ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ];
    for (const [input, expected] of cases) {
      const parsed = parseAddress(input)!;
      assert.equal(formatAddress(parsed.bytes, parsed.family), expected, input);
    }
  });

  it('rejects what is not an address', () => {
    for (const bad of ['', '1.2.3', '256.1.1.1', '1.2.3.4.5', 'fe80::1%eth0', 'x::1', '1::2::3']) {
      assert.equal(parseAddress(bad), undefined, bad);
    }
  });
});
