// Runs in a worker thread for decoder-fuzz.test.ts, so that a decoder that hangs is caught
// by the test's time limit (the worker is terminated) instead of hanging the test run.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { NLMSG_ERROR } from '../../src/netlink/constants.js';
import { ipEventText } from '../../src/cli/ip-xfrm-text.js';
import { classifyDatagram } from '../../src/xfrm/events.js';
import {
  XFRM_MSG_ACQUIRE,
  XFRM_MSG_DELPOLICY,
  XFRM_MSG_DELSA,
  XFRM_MSG_EXPIRE,
  XFRM_MSG_FLUSHPOLICY,
  XFRM_MSG_FLUSHSA,
  XFRM_MSG_GETDEFAULT,
  XFRM_MSG_MAPPING,
  XFRM_MSG_NEWAE,
  XFRM_MSG_NEWPOLICY,
  XFRM_MSG_NEWSA,
  XFRM_MSG_POLEXPIRE,
  XFRM_MSG_REPORT,
  XFRM_MSG_UPDSA,
} from '../../src/xfrm/constants.js';
import { FIXTURES } from './paths.js';
import { prng } from './prng.js';

export interface FuzzRequest {
  mode: 'mutate' | 'random';
  seed: number;
  iterations: number;
}

export interface FuzzResult {
  malformed: number;
  events: number;
  kinds: Record<string, number>;
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

const TYPES = [
  XFRM_MSG_NEWAE,
  XFRM_MSG_NEWSA,
  XFRM_MSG_UPDSA,
  XFRM_MSG_DELSA,
  XFRM_MSG_EXPIRE,
  XFRM_MSG_MAPPING,
  XFRM_MSG_NEWPOLICY,
  XFRM_MSG_DELPOLICY,
  XFRM_MSG_POLEXPIRE,
  XFRM_MSG_ACQUIRE,
  XFRM_MSG_FLUSHSA,
  XFRM_MSG_FLUSHPOLICY,
  XFRM_MSG_REPORT,
  XFRM_MSG_GETDEFAULT,
  NLMSG_ERROR,
  1,
  3,
  99,
];

function randomDatagram(random: () => number): Buffer {
  const size = Math.floor(random() * 700);
  const datagram = Buffer.alloc(size);
  for (let j = 0; j < size; j++) datagram[j] = Math.floor(random() * 256);
  if (size >= 16) {
    datagram.writeUInt32LE(Math.min(size, 16 + Math.floor(random() * (size - 15))), 0);
    datagram.writeUInt16LE(TYPES[Math.floor(random() * TYPES.length)]!, 4);
  }
  return datagram;
}

function run(request: FuzzRequest): FuzzResult {
  const corpus = [readFileSync(`${FIXTURES}ae.bin`), readFileSync(`${FIXTURES}misc.bin`), readFileSync(`${FIXTURES}xfrm.bin`)];
  const random = prng(request.seed);
  const result: FuzzResult = { malformed: 0, events: 0, kinds: {} };
  for (let i = 0; i < request.iterations; i++) {
    const input = request.mode === 'mutate' ? mutate(corpus[i % corpus.length]!, random) : randomDatagram(random);
    // The real classifier of the live socket and of --file: it must never throw.
    for (const event of classifyDatagram(input)) {
      result.events++;
      result.kinds[event.kind] = (result.kinds[event.kind] ?? 0) + 1;
      if (event.kind === 'malformed') result.malformed++;
      // What decodes must also print, as monitor --file prints it.
      else if (event.kind !== 'aevent' && event.kind !== 'ignored') ipEventText(event);
    }
  }
  return result;
}

parentPort?.postMessage(run(workerData as FuzzRequest));
