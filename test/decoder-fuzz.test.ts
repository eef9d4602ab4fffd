import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAck } from '../src/netlink/ack.js';
import { NLMSG_ERROR } from '../src/netlink/constants.js';
import { DecodeError } from '../src/netlink/errors.js';
import { parseMessages } from '../src/netlink/message.js';
import { decodeAePayload } from '../src/xfrm/aevent.js';
import { XFRM_MSG_MAPPING, XFRM_MSG_NEWAE, XFRM_MSG_NEWSA } from '../src/xfrm/constants.js';
import { decodeSaEntry } from '../src/xfrm/sa-dump.js';
import { decodeUserMapping } from '../src/xfrm/structs.js';
import { FIXTURES } from './support/paths.js';

/** Deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Decode everything in a datagram the way xaev does; only DecodeError may escape. */
function decodeAll(datagram: Buffer): number {
  let decoded = 0;
  for (const message of parseMessages(datagram)) {
    if (message.type === XFRM_MSG_NEWAE) decodeAePayload(message.payload);
    else if (message.type === XFRM_MSG_NEWSA) decodeSaEntry(message);
    else if (message.type === XFRM_MSG_MAPPING) decodeUserMapping(message.payload);
    else if (message.type === NLMSG_ERROR) parseAck(message);
    decoded++;
  }
  return decoded;
}

function mutate(input: Buffer, random: () => number): Buffer {
  const out = Buffer.from(input);
  const edits = 1 + Math.floor(random() * 6);
  for (let i = 0; i < edits; i++) {
    const position = Math.floor(random() * out.length);
    switch (Math.floor(random() * 4)) {
      case 0: // flip a byte
        out[position] = Math.floor(random() * 256);
        break;
      case 1: // length fields are the interesting bytes: small values near boundaries
        out[position] = [0, 1, 3, 4, 8, 12, 16, 24, 48, 0xff][Math.floor(random() * 10)]!;
        break;
      case 2: // truncate
        return out.subarray(0, position);
      default: // set a 16-bit little-endian value
        if (position + 1 < out.length) out.writeUInt16LE(Math.floor(random() * 0x10000), position);
    }
  }
  return out;
}

describe('decoders never trust input', () => {
  const corpus = [readFileSync(`${FIXTURES}ae.bin`), readFileSync(`${FIXTURES}misc.bin`)];

  it('5000 mutated fixture streams give only DecodeError, never another exception or a hang', () => {
    const random = prng(0x5eed);
    let decodeErrors = 0;
    const started = Date.now();
    for (let i = 0; i < 5000; i++) {
      const input = mutate(corpus[i % corpus.length]!, random);
      try {
        decodeAll(input);
      } catch (error) {
        assert.ok(error instanceof DecodeError, `iteration ${i}: ${String(error)}`);
        decodeErrors++;
      }
    }
    assert.ok(decodeErrors > 500, `mutations should often be caught (${decodeErrors})`);
    assert.ok(Date.now() - started < 20_000, 'decoding must not hang');
  });

  it('5000 random datagrams with plausible headers give only DecodeError', () => {
    const random = prng(42);
    const types = [XFRM_MSG_NEWAE, XFRM_MSG_NEWSA, XFRM_MSG_MAPPING, NLMSG_ERROR, 3, 99];
    for (let i = 0; i < 5000; i++) {
      const size = Math.floor(random() * 700);
      const datagram = Buffer.alloc(size);
      for (let j = 0; j < size; j++) datagram[j] = Math.floor(random() * 256);
      if (size >= 16) {
        datagram.writeUInt32LE(Math.min(size, 16 + Math.floor(random() * (size - 15))), 0);
        datagram.writeUInt16LE(types[Math.floor(random() * types.length)]!, 4);
      }
      try {
        decodeAll(datagram);
      } catch (error) {
        assert.ok(error instanceof DecodeError, `iteration ${i}: ${String(error)}`);
      }
    }
  });
});
