// The full SA codec (src/xfrm/sa-message.ts) and the checks before installing
// (src/xfrm/validate.ts), on bytes iproute2 wrote (test/fixtures/ip-requests.json, made by
// test/fixtures/ip-requests.sh) and on hostile input.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { parseAttributes } from '../src/netlink/attributes.js';
import { DecodeError } from '../src/netlink/errors.js';
import type { NetlinkMessage } from '../src/netlink/message.js';
import { AF_INET, AF_INET6, IPPROTO_ESP, XFRM_MSG_DELSA, XFRM_MSG_EXPIRE, XFRM_MSG_NEWSA, XFRM_MSG_UPDSA } from '../src/xfrm/constants.js';
import {
  createSa,
  decodeSaMessage,
  encodeDelSa,
  encodeNewSa,
  hasRedactedKeys,
  isKernelTunnelState,
  saKeyOf,
  wipeRequest,
  wipeSaKeys,
  type XfrmSa,
} from '../src/xfrm/sa-message.js';
import { SecretKey } from '../src/xfrm/secret-key.js';
import { saProblems } from '../src/xfrm/validate.js';
import { FIXTURES } from './support/paths.js';
import { prng } from './support/prng.js';

interface IpRequest {
  command: string;
  payload: string;
}

const ipRequests = JSON.parse(readFileSync(`${FIXTURES}ip-requests.json`, 'utf8')) as IpRequest[];
const stateRequests = ipRequests.filter((request) => request.command.startsWith('ip xfrm state'));
const KEY32 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

const asMessage = (type: number, payload: Buffer): NetlinkMessage => ({ type, flags: 0, seq: 0, pid: 0, payload });
const decodeIp = (index: number): XfrmSa => decodeSaMessage(asMessage(XFRM_MSG_NEWSA, Buffer.from(stateRequests[index]!.payload, 'hex'))).sa;

/** Attributes as `type:hex` strings, sorted: the kernel reads them by type, so order does not count. */
function attributeSet(body: Buffer, fixed: number): string[] {
  return parseAttributes(body, fixed)
    .map(({ type, payload }) => `${type}:${payload.toString('hex')}`)
    .sort();
}

/** iproute2 sends XFRMA_REPLAY_ESN_VAL without its bitmap; NEWSA reads that as a zero bitmap (verify_replay()). */
function withFullEsnBitmap(entry: string): string {
  if (!entry.startsWith('23:') || entry.length !== 3 + 48) return entry;
  const words = Buffer.from(entry.slice(3), 'hex').readUInt32LE(0);
  return entry + '00000000'.repeat(words);
}

describe('SA messages iproute2 wrote decode to what the command said', () => {
  it('AEAD, tunnel, legacy window', () => {
    const sa = decodeIp(0);
    assert.deepEqual(
      [sa.saId.spi, sa.saId.family, sa.saId.proto, [...sa.saId.daddr.subarray(0, 4)], [...sa.saddr.subarray(0, 4)], sa.reqid, sa.mode, sa.replayWindow],
      [0x1001, AF_INET, IPPROTO_ESP, [192, 0, 2, 2], [192, 0, 2, 1], 1, 1, 32],
    );
    assert.deepEqual([sa.aead?.name, sa.aead?.keyBits, sa.aead?.icvBits, sa.aead?.key.hex()], ['rfc4106(gcm(aes))', 160, 128, '00112233445566778899aabbccddeeff01020304']);
    assert.equal(sa.lifetime.hardByteLimit, 0xffffffffffffffffn);
  });

  it('crypt + auth-trunc with ESN: the trunc length, and the ESN state ip sent without its bitmap as zeros', () => {
    const sa = decodeIp(1);
    assert.deepEqual([sa.crypt?.name, sa.crypt?.keyBits, sa.auth?.name, sa.auth?.keyBits, sa.auth?.truncBits, sa.flags], ['cbc(aes)', 256, 'hmac(sha256)', 256, 128, 128]);
    assert.deepEqual(sa.replay, { kind: 'esn', oseq: 0, seq: 0, oseqHi: 0, seqHi: 0, replayWindow: 128, bitmap: [0, 0, 0, 0] });
  });

  it('plain auth (no truncation given) stays plain auth', () => {
    const sa = decodeIp(2);
    assert.deepEqual([sa.auth?.name, sa.auth?.truncBits, sa.crypt?.name], ['hmac(sha1)', undefined, 'cbc(des3_ede)']);
  });

  it('NAT-T, mark, output mark, if_id, TFC padding, flags and extra flags', () => {
    const sa = decodeIp(3);
    assert.deepEqual(sa.encap && { ...sa.encap, originalAddress: [...sa.encap.originalAddress] }, { type: 2, sport: 4500, dport: 4501, originalAddress: new Array(16).fill(0) });
    assert.deepEqual([sa.mark, sa.outputMark, sa.ifId, sa.tfcPad, sa.flags, sa.extraFlags], [{ value: 5, mask: 0xff }, { value: 7, mask: 0xff }, 0x42, 64, 1, 1]);
  });

  it('IPv6 with a selector and limits', () => {
    const sa = decodeIp(4);
    assert.deepEqual([sa.saId.family, sa.selector.family, sa.selector.proto, sa.selector.dport, sa.selector.dportMask, sa.selector.prefixlenD], [AF_INET6, AF_INET6, 6, 443, 0xffff, 128]);
    assert.deepEqual([sa.lifetime.softAddExpiresSeconds, sa.lifetime.hardAddExpiresSeconds, sa.lifetime.softByteLimit], [3000n, 3600n, 1000000n]);
  });

  it('IPcomp: a name and an empty key', () => {
    const sa = decodeIp(5);
    assert.deepEqual([sa.saId.proto, sa.comp?.name, sa.comp?.keyBits, sa.comp?.key.length], [108, 'deflate', 0, 0]);
  });
});

describe('encodeNewSa writes what iproute2 writes', () => {
  stateRequests.forEach((request, index) => {
    it(request.command.slice(0, 100), () => {
      const sent = Buffer.from(request.payload, 'hex');
      const encoded = encodeNewSa(decodeIp(index));
      assert.equal(encoded.type, XFRM_MSG_NEWSA);
      assert.equal(encoded.completion, 'ack');
      assert.equal(encoded.secret, true);
      const body = encoded.parts[0]!;
      assert.equal(body.subarray(0, 224).toString('hex'), sent.subarray(0, 224).toString('hex'));
      assert.deepEqual(attributeSet(body, 224), attributeSet(sent, 224).map(withFullEsnBitmap).sort());
    });
  });

  it('UPDSA with update; the current lifetime only when asked (XFRMA_LTIME_VAL)', () => {
    const sa = decodeIp(0);
    sa.current = { bytes: 1000n, packets: 10n, addTime: 1700000000n, useTime: 1700000100n };
    assert.equal(encodeNewSa(sa, { update: true }).type, XFRM_MSG_UPDSA);
    assert.ok(!attributeSet(encodeNewSa(sa).parts[0]!, 224).some((entry) => entry.startsWith('9:')));
    const withLifetime = encodeNewSa(sa, { currentLifetime: true }).parts[0]!;
    const ltime = parseAttributes(withLifetime, 224).find((attribute) => attribute.type === 9)!;
    // 1000, 10, 1700000000 (0x6553f100), 1700000100: u64 each, little-endian on this host.
    assert.equal(ltime.payload.toString('hex'), 'e803000000000000' + '0a00000000000000' + '00f1536500000000' + '64f1536500000000');
    // The usersa_info's own curlft is not read by NEWSA: it goes as zeros.
    assert.ok(withLifetime.subarray(160, 192).every((byte) => byte === 0));
    assert.deepEqual(decodeSaMessage(asMessage(XFRM_MSG_NEWSA, withLifetime)).sa.current, sa.current);
  });

  it('an ESN state is sent whole and the legacy window as 0, as verify_replay() requires', () => {
    const sa = decodeIp(1);
    sa.replayWindow = 32;
    const body = encodeNewSa(sa).parts[0]!;
    assert.equal(body[215], 0);
    const esn = parseAttributes(body, 224).find((attribute) => attribute.type === 23)!;
    assert.equal(esn.payload.length, 24 + 16);
  });

  it('DELSA by daddr, SPI, proto, family and mark', () => {
    const sa = decodeIp(3);
    const request = encodeDelSa(saKeyOf(sa));
    assert.deepEqual([request.type, request.completion], [XFRM_MSG_DELSA, 'ack']);
    assert.equal(request.parts[0]!.toString('hex'), 'c0000202000000000000000000000000' + '00001004' + '0200' + '32' + '00' + '0c001500' + '05000000ff000000');
  });

  it('wipeRequest zeroes the request body that holds the keys', () => {
    const request = encodeNewSa(decodeIp(1));
    assert.ok(request.parts[0]!.toString('hex').includes(KEY32));
    wipeRequest(request);
    assert.ok(request.parts[0]!.every((byte) => byte === 0));
  });
});

describe('DELSA and EXPIRE messages', () => {
  const info = Buffer.from(stateRequests[3]!.payload, 'hex');
  const attribute = (type: number, payload: Buffer): Buffer => {
    const header = Buffer.alloc(4);
    header.writeUInt16LE(4 + payload.length, 0);
    header.writeUInt16LE(type, 2);
    return Buffer.concat([header, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
  };

  it('DELSA: the usersa_info from XFRMA_SA, the algorithms and the rest from the attributes after it', () => {
    const id = Buffer.concat([info.subarray(56, 76), Buffer.from([2, 0, 50, 0])]);
    const message = asMessage(XFRM_MSG_DELSA, Buffer.concat([id, attribute(6, info.subarray(0, 224)), info.subarray(224)]));
    const { kind, sa } = decodeSaMessage(message);
    assert.deepEqual([kind, sa.saId.spi, sa.reqid, sa.aead?.name, sa.ifId, sa.encap?.dport], ['delete', 0x1004, 4, 'rfc4106(gcm(aes))', 0x42, 4501]);
  });

  it('DELSA without XFRMA_SA, or with a short one, is malformed', () => {
    const id = Buffer.alloc(24);
    assert.throws(() => decodeSaMessage(asMessage(XFRM_MSG_DELSA, id)), /XFRM_MSG_DELSA without XFRMA_SA/);
    assert.throws(() => decodeSaMessage(asMessage(XFRM_MSG_DELSA, Buffer.concat([id, attribute(6, Buffer.alloc(100))]))), /XFRMA_SA: 100 bytes, expected at least 224/);
  });

  it('EXPIRE: hard or soft, no algorithms', () => {
    const expire = (hard: number): Buffer => Buffer.concat([info.subarray(0, 224), Buffer.from([hard]), Buffer.alloc(7)]);
    assert.deepEqual(
      [0, 1].map((hard) => {
        const decoded = decodeSaMessage(asMessage(XFRM_MSG_EXPIRE, expire(hard)));
        return [decoded.kind, decoded.hard, decoded.sa.aead];
      }),
      [
        ['expire', false, undefined],
        ['expire', true, undefined],
      ],
    );
    assert.throws(() => decodeSaMessage(asMessage(XFRM_MSG_EXPIRE, info.subarray(0, 226))), /xfrm_user_expire: 226 bytes, expected at least 232/);
  });
});

describe('keys are secrets', () => {
  it('JSON, util.inspect and String of an SA show <redacted N bytes>, never a key byte', () => {
    const sa = decodeIp(1);
    const json = JSON.stringify(sa, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
    const shown = inspect(sa, { depth: 10 });
    for (const text of [json, shown, String(sa.crypt?.key), `${sa.auth!.key}`]) {
      assert.ok(!text.includes('00112233'), text);
      assert.ok(!text.includes('0, 17, 34'), text);
    }
    assert.match(json, /"key":"<redacted 32 bytes>"/);
    assert.match(shown, /key: <redacted 32 bytes>/);
  });

  it('a decoded key is a copy: zeroing the message leaves it, wipe() zeroes it', () => {
    const payload = Buffer.from(stateRequests[0]!.payload, 'hex');
    const sa = decodeSaMessage(asMessage(XFRM_MSG_NEWSA, payload)).sa;
    payload.fill(0);
    assert.equal(sa.aead?.key.hex(), '00112233445566778899aabbccddeeff01020304');
    wipeSaKeys(sa);
    assert.deepEqual([sa.aead?.key.hex(), sa.aead?.key.length, sa.aead?.key.wiped], ['0000000000000000000000000000000000000000', 20, true]);
  });

  it('decoded addresses are copies by default, views with copy: false', () => {
    const payload = Buffer.from(stateRequests[0]!.payload, 'hex');
    const copied = decodeSaMessage(asMessage(XFRM_MSG_NEWSA, payload)).sa;
    const viewed = decodeSaMessage(asMessage(XFRM_MSG_NEWSA, payload), { copy: false }).sa;
    payload.fill(0, 56, 72);
    assert.deepEqual([[...copied.saId.daddr.subarray(0, 4)], [...viewed.saId.daddr.subarray(0, 4)]], [[192, 0, 2, 2], [0, 0, 0, 0]]);
  });

  it('hasRedactedKeys: every key all zero (lockdown), not one zero key among others, not an SA without keys', () => {
    const zeroKey = (length: number): SecretKey => SecretKey.copyOf(Buffer.alloc(length));
    const sa = decodeIp(1);
    assert.equal(hasRedactedKeys(sa), false);
    sa.crypt!.key = zeroKey(32);
    assert.equal(hasRedactedKeys(sa), false);
    sa.auth!.key = zeroKey(32);
    assert.equal(hasRedactedKeys(sa), true);
    assert.equal(hasRedactedKeys(decodeIp(5)), false);
    const nullSa = createSa({ ...decodeIp(0), aead: undefined, crypt: { name: 'ecb(cipher_null)', keyBits: 0, key: SecretKey.empty() } });
    assert.equal(hasRedactedKeys(nullSa), false);
  });
});

describe('hostile SA messages are DecodeErrors, never crashes', () => {
  const valid = Buffer.from(stateRequests[3]!.payload, 'hex');

  it('every truncation of a valid NEWSA either decodes or is a DecodeError', () => {
    let errors = 0;
    for (let length = 0; length < valid.length; length++) {
      try {
        decodeSaMessage(asMessage(XFRM_MSG_NEWSA, valid.subarray(0, length)));
      } catch (error) {
        assert.ok(error instanceof DecodeError, `length ${length}: ${String(error)}`);
        errors++;
      }
    }
    assert.ok(errors > 224, `${errors} truncations refused`);
  });

  it('a key longer than its attribute, a name without NUL, a bitmap over 128 words, a short sec ctx', () => {
    const attribute = (type: number, payload: Buffer): Buffer => {
      const header = Buffer.alloc(4);
      header.writeUInt16LE(4 + payload.length, 0);
      header.writeUInt16LE(type, 2);
      return Buffer.concat([header, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
    };
    const info = valid.subarray(0, 224);
    const algorithm = (keyBits: number, keyBytes: number, name = 'cbc(aes)'): Buffer => {
      const header = Buffer.alloc(68);
      header.write(name, 0, 64, 'latin1');
      header.writeUInt32LE(keyBits, 64);
      return Buffer.concat([header, Buffer.alloc(keyBytes)]);
    };
    const decode = (...attributes: Buffer[]): unknown => decodeSaMessage(asMessage(XFRM_MSG_NEWSA, Buffer.concat([info, ...attributes])));
    assert.throws(() => decode(attribute(2, algorithm(256, 16))), /XFRMA_ALG_CRYPT: key of 256 bits needs 32 bytes, the attribute holds 16/);
    assert.throws(() => decode(attribute(2, algorithm(0xffffffff, 0))), /key of 4294967295 bits needs 536870912 bytes/);
    assert.throws(() => decode(attribute(2, algorithm(0, 0, 'x'.repeat(64)))), /algorithm name is not NUL-terminated within 64 bytes/);
    const esn = Buffer.alloc(24);
    esn.writeUInt32LE(129, 0);
    assert.throws(() => decode(attribute(23, esn)), /bmp_len 129 exceeds the kernel maximum 128/);
    esn.writeUInt32LE(4, 0);
    assert.throws(() => decode(attribute(23, Buffer.concat([esn, Buffer.alloc(8)]))), /bmp_len 4: 32 bytes, expected at least 40/);
    const context = Buffer.from('1f0008000101ff00', 'hex');
    assert.throws(() => decode(attribute(8, context)), /XFRMA_SEC_CTX with ctx_len 255: 0 bytes, expected at least 255/);
    assert.throws(() => decode(attribute(28, Buffer.alloc(4))), /XFRMA_OFFLOAD_DEV: 4 bytes, expected at least 8/);
    assert.throws(() => decode(attribute(31, Buffer.alloc(2))), /XFRMA_IF_ID: payload of 2 bytes, expected 4/);
  });

  it('20,000 random mutations of valid messages: only DecodeErrors, and a decoded SA always re-encodes', () => {
    const random = prng(0x5a);
    const corpus = stateRequests.map((request) => Buffer.from(request.payload, 'hex'));
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = Buffer.from(corpus[i % corpus.length]!);
      for (let edit = 0; edit < 1 + Math.floor(random() * 4); edit++) {
        const at = Math.floor(random() * input.length);
        if (random() < 0.5) input[at] = Math.floor(random() * 256);
        else if (at + 1 < input.length) input.writeUInt16LE([0, 4, 8, 24, 68, 72, 0xffff][Math.floor(random() * 7)]!, at);
      }
      const type = [XFRM_MSG_NEWSA, XFRM_MSG_UPDSA, XFRM_MSG_DELSA, XFRM_MSG_EXPIRE][i % 4]!;
      try {
        const { sa } = decodeSaMessage(asMessage(type, input));
        encodeNewSa(sa);
        saProblems(sa);
        decoded++;
      } catch (error) {
        assert.ok(error instanceof DecodeError, String(error));
      }
    }
    assert.ok(decoded > 2000, `${decoded} mutations decoded`);
  });
});

describe('saProblems refuses what must never be installed, naming the field and never a key byte', () => {
  const fields = (sa: XfrmSa): string[] => saProblems(sa).map((problem) => problem.field);

  it('the SAs ip made pass', () => {
    assert.deepEqual(stateRequests.map((_, index) => fields(decodeIp(index))), [[], [], [], [], [], []]);
  });

  it('a key of the wrong length for its algorithm, for every kind', () => {
    const crypt = decodeIp(1);
    crypt.crypt = { name: 'cbc(aes)', keyBits: 200, key: SecretKey.copyOf(Buffer.alloc(25, 0xab)) };
    const problems = saProblems(crypt);
    assert.deepEqual(problems, [{ field: 'crypt.key', message: 'key of 200 bits for cbc(aes), which takes 128, 192 or 256 bits' }]);
    assert.ok(!JSON.stringify(problems).includes('abab'));
    const aead = decodeIp(0);
    aead.aead = { ...aead.aead!, keyBits: 128, key: SecretKey.copyOf(Buffer.alloc(16, 1)) };
    assert.deepEqual(saProblems(aead), [{ field: 'aead.key', message: 'key of 128 bits for rfc4106(gcm(aes)), which takes 160, 224 or 288 bits' }]);
    const auth = decodeIp(1);
    auth.auth = { ...auth.auth!, keyBits: 128, key: SecretKey.copyOf(Buffer.alloc(16, 1)) };
    assert.deepEqual(fields(auth), ['auth.key']);
    const short = decodeIp(1);
    short.crypt = { name: 'cbc(aes)', keyBits: 256, key: SecretKey.copyOf(Buffer.alloc(31, 1)) };
    assert.deepEqual(saProblems(short), [{ field: 'crypt.key', message: 'key holds 31 bytes where 256 bits need 32' }]);
  });

  it('an unknown algorithm, a wrong ICV or truncation; kernel compat names are known', () => {
    const sa = decodeIp(1);
    sa.crypt = { ...sa.crypt!, name: 'ctr(aes)' };
    assert.deepEqual(saProblems(sa), [{ field: 'crypt.name', message: 'unknown crypt algorithm "ctr(aes)": not one Linux offers for IPsec' }]);
    sa.crypt = { ...sa.crypt, name: 'aes' };
    assert.deepEqual(fields(sa), []);
    const aead = decodeIp(0);
    aead.aead = { ...aead.aead!, icvBits: 100 };
    assert.deepEqual(fields(aead), ['aead.icvBits']);
    const trunc = decodeIp(1);
    trunc.auth = { ...trunc.auth!, truncBits: 512 };
    assert.deepEqual(fields(trunc), ['auth.truncBits']);
  });

  it('a selector of the wrong family or prefix; an SA family or protocol that is not IPsec', () => {
    const sa = decodeIp(0);
    assert.deepEqual(fields({ ...sa, selector: { ...sa.selector, family: 7 } }), ['selector.family']);
    assert.deepEqual(fields({ ...sa, selector: { ...sa.selector, family: AF_INET, prefixlenS: 64 } }), ['selector.prefixlenS']);
    // A selector without a family is checked against the SA's (verify_newsa_info()).
    assert.deepEqual([sa.selector.family, fields({ ...sa, saId: { ...sa.saId, family: 7 } })], [0, ['family', 'selector.family']]);
    assert.deepEqual(fields({ ...sa, saId: { ...sa.saId, proto: 43 } }), ['proto']);
    // The IPIP state the kernel makes beside an IPcomp tunnel SA is refused as its own.
    const tunnel = { ...sa, aead: undefined, saId: { ...sa.saId, proto: 4 } };
    assert.deepEqual([isKernelTunnelState(tunnel), saProblems(tunnel)[0]?.message], [true, "protocol 4: the kernel's own tunnel state beside an IPcomp SA, made again with it"]);
    assert.deepEqual(fields({ ...sa, mode: 3 }), ['mode']);
  });

  it("what verify_newsa_info() refuses: algorithms that do not fit the protocol, TFC padding outside tunnels, IPcomp's 16-bit SPI", () => {
    const esp = decodeIp(1);
    assert.deepEqual(fields({ ...esp, aead: decodeIp(0).aead }), ['aead']);
    assert.deepEqual(fields({ ...esp, crypt: undefined, auth: undefined }), ['crypt']);
    assert.deepEqual(fields({ ...esp, tfcPad: 16 }), ['tfcPad']);
    const ah = { ...esp, saId: { ...esp.saId, proto: 51 } };
    assert.deepEqual(fields(ah), ['crypt']);
    const comp = decodeIp(5);
    assert.deepEqual(fields({ ...comp, saId: { ...comp.saId, spi: 0x10000 } }), ['spi']);
    assert.deepEqual(fields({ ...esp, flags: 128, replay: { kind: 'legacy', oseq: 0, seq: 0, bitmap: 0 } }), ['replay']);
    assert.deepEqual(fields({ ...esp, direction: 3 }), ['direction']);
    assert.deepEqual(fields({ ...esp, pcpu: 0 }), ['pcpu']);
    assert.deepEqual(fields({ ...esp, unknownAttributes: [60] }), ['attributes']);
  });

  it('keys redacted to zeros (lockdown) are refused', () => {
    const sa = decodeIp(1);
    sa.crypt!.key = SecretKey.copyOf(Buffer.alloc(32));
    sa.auth!.key = SecretKey.copyOf(Buffer.alloc(32));
    assert.deepEqual(fields(sa), ['keys']);
  });
});
