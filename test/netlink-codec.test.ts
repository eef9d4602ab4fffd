import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAck } from '../src/netlink/ack.js';
import { encodeAttribute, parseAttributes } from '../src/netlink/attributes.js';
import { NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_ERROR } from '../src/netlink/constants.js';
import { DecodeError } from '../src/netlink/errors.js';
import { encodeMessage, parseMessages } from '../src/netlink/message.js';

import { fromHex as hex } from './support/bytes.js';

describe('netlink framing', () => {
  it('encodes a header with the unpadded length and pads the message to 4 bytes', () => {
    const message = encodeMessage({ type: 0x1f, flags: 1, seq: 0x1092, pid: 0 }, Buffer.from([1, 2, 3]));
    assert.deepEqual(message, hex('13000000 1f000100 92100000 00000000 01020300'));
  });

  it('splits several messages sharing one datagram, honouring the 4-byte alignment', () => {
    const a = encodeMessage({ type: 16, flags: 2, seq: 7, pid: 9 }, Buffer.from([0xaa]));
    const b = encodeMessage({ type: 3, flags: 2, seq: 7, pid: 9 }, Buffer.from([0, 0, 0, 0]));
    const messages = parseMessages(Buffer.concat([a, b]));
    assert.equal(messages.length, 2);
    assert.deepEqual(
      messages.map((m) => [m.type, m.flags, m.seq, m.pid, m.payload.length]),
      [
        [16, 2, 7, 9, 1],
        [3, 2, 7, 9, 4],
      ],
    );
  });

  it('rejects lengths that do not fit, with DecodeError', () => {
    assert.throws(() => parseMessages(hex('0f000000 10000000 00000000 00000000')), DecodeError); // shorter than header
    assert.throws(() => parseMessages(hex('20000000 10000000 00000000 00000000')), DecodeError); // longer than datagram
    assert.throws(() => parseMessages(hex('10000000 10000000 00000000 000000')), DecodeError); // truncated header
  });

  it('encodes attributes with unpadded nla_len and zero padding', () => {
    assert.deepEqual(encodeAttribute(25, Buffer.from([50])), hex('05001900 32000000'));
  });

  it('parses attributes, masks the flag bits, and accepts a missing final pad', () => {
    const attributes = parseAttributes(hex('05001980 32000000 0500 0140 07'));
    assert.deepEqual(
      attributes.map((a) => [a.type, [...a.payload]]),
      [
        [25, [50]],
        [1, [7]],
      ],
    );
  });

  it('rejects attribute lengths that do not fit', () => {
    assert.throws(() => parseAttributes(hex('0300 0100')), DecodeError);
    assert.throws(() => parseAttributes(hex('0900 0100 000000')), DecodeError);
    assert.throws(() => parseAttributes(hex('0800 01')), DecodeError);
  });
});

describe('acks and extended acks', () => {
  it('decodes a capped error ack with extack text and offset (as 6.18 sends for a short XFRMA_MARK)', () => {
    // error -34 (ERANGE), echoed header, then MSG "Attribute failed policy validation" and OFFS 64
    // (docs/kernel/netlink.md#acks-and-extended-acks; net/netlink/af_netlink.c: netlink_ack()).
    const text = Buffer.from('Attribute failed policy validation\0');
    const msgAttr = encodeAttribute(1, text);
    const offsAttr = encodeAttribute(2, hex('40000000'));
    const payload = Buffer.concat([hex('deffffff'), hex('48000000 1f000100 01000000 00000000'), msgAttr, offsAttr]);
    const ack = parseAck({ type: NLMSG_ERROR, flags: NLM_F_CAPPED | NLM_F_ACK_TLVS, seq: 1, pid: 5, payload });
    assert.deepEqual(ack, { errno: 34, kernelMessage: 'Attribute failed policy validation', attributeOffset: 64 });
  });

  it('skips the echoed request when the ack is not capped', () => {
    const echoed = encodeMessage({ type: 31, flags: 1, seq: 1, pid: 0 }, Buffer.alloc(48));
    const payload = Buffer.concat([hex('eaffffff'), echoed, encodeAttribute(1, Buffer.from('Invalid header length\0'))]);
    const ack = parseAck({ type: NLMSG_ERROR, flags: NLM_F_ACK_TLVS, seq: 1, pid: 5, payload });
    assert.deepEqual(ack, { errno: 22, kernelMessage: 'Invalid header length' });
  });

  it('reads a plain success ack as errno 0', () => {
    const payload = Buffer.concat([hex('00000000'), hex('40000000 1e000501 01000000 00000000')]);
    assert.deepEqual(parseAck({ type: NLMSG_ERROR, flags: NLM_F_CAPPED, seq: 1, pid: 5, payload }), { errno: 0 });
  });

  it('rejects a truncated or positive error code', () => {
    assert.throws(() => parseAck({ type: NLMSG_ERROR, flags: 0, seq: 1, pid: 0, payload: hex('00000000') }), DecodeError);
    const positive = Buffer.concat([hex('05000000'), Buffer.alloc(16)]);
    assert.throws(() => parseAck({ type: NLMSG_ERROR, flags: 0, seq: 1, pid: 0, payload: positive }), DecodeError);
  });
});
