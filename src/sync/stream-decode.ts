// Reading the sync stream as untrusted input: every field is checked against the rules of
// docs/sync-stream.schema.json by hand (no schema library at run time), u64 counters are
// read exactly, and anything else is a StreamError naming the field. Extra fields are ignored
// (docs/sync.md: a change older receivers would misread bumps the version instead).
import { U32_MAX } from '../netlink/bytes.js';
import { REPLAY_ESN_MAX_BMP_LEN } from '../xfrm/constants.js';
import type { LifetimeCurrent, Mark, ReplayState } from '../xfrm/structs.js';
import { READABLE_STREAM_VERSIONS, REPLICATED, saKey, type Direction, type SaReplica, type StreamRecord, type StreamSa } from './stream.js';
import { decodePolicy, decodePolicyIdentity, decodeSaConfig, policyName } from './stream-replica.js';
import { address, BIG, BIG_ESCAPED, exactIntegers, integer, nullable, object, oneOf, string, StreamError, time, u32, u64, type Json } from './stream-fields.js';

function mark(value: unknown): Mark {
  const o = object(value, 'mark');
  return { value: u32(o.value, 'mark.value'), mask: u32(o.mask, 'mark.mask') };
}

function bitmapWords(value: unknown): number[] {
  if (!Array.isArray(value) || value.length > REPLAY_ESN_MAX_BMP_LEN) {
    throw new StreamError(`replay.bitmap: expected an array of at most ${REPLAY_ESN_MAX_BMP_LEN} words`);
  }
  for (let i = 0; i < value.length; i++) {
    const word: unknown = value[i];
    // Checked inline: the field path is built only for the error (a record has up to 128 words).
    if (typeof word !== 'number' || !Number.isInteger(word) || word < 0 || word > U32_MAX) u32(word, `replay.bitmap[${i}]`);
  }
  return value as number[];
}

// Field paths are literals, so a record that decodes builds no strings for its errors.
function replay(value: unknown): ReplayState {
  const o = object(value, 'replay');
  const kind = oneOf(o.kind, 'replay.kind', ['legacy', 'esn'] as const);
  const seq = u32(o.seq, 'replay.seq');
  const oseq = u32(o.oseq, 'replay.oseq');
  if (kind === 'legacy') return { kind, seq, oseq, bitmap: u32(o.bitmap, 'replay.bitmap') };
  const bitmap = bitmapWords(o.bitmap);
  const replayWindow = integer(o.window, 'replay.window', 0, bitmap.length * 32);
  return { kind, seq, oseq, seqHi: u32(o.seqHi, 'replay.seqHi'), oseqHi: u32(o.oseqHi, 'replay.oseqHi'), replayWindow, bitmap };
}

function lifetime(value: unknown): LifetimeCurrent {
  const o = object(value, 'lifetime');
  return {
    bytes: u64(o.bytes, 'lifetime.bytes'),
    packets: u64(o.packets, 'lifetime.packets'),
    addTime: u64(o.addTime, 'lifetime.addTime'),
    useTime: u64(o.useTime, 'lifetime.useTime'),
  };
}

/** The identifying fields: family, dst, spi, proto, mark. */
function identity(o: Json): Pick<StreamSa, 'key' | 'family' | 'dst' | 'spi' | 'proto' | 'mark'> {
  const family = oneOf(o.family, 'family', ['inet', 'inet6'] as const);
  const dst = address(o.dst, 'dst', family);
  const spi = integer(o.spi, 'spi', 1, U32_MAX);
  const proto = oneOf(o.proto, 'proto', ['esp', 'ah'] as const);
  const saMark = nullable(o.mark, mark);
  return { key: saKey(family, dst, spi, proto, saMark), family, dst, spi, proto, mark: saMark };
}

function streamSa(o: Json): StreamSa {
  const id = identity(o);
  return {
    ...id,
    src: address(o.src, 'src', id.family),
    reqid: u32(o.reqid, 'reqid'),
    ifId: nullable(o.ifId, (v) => u32(v, 'ifId')),
    dir: nullable(o.dir, (v) => oneOf(v, 'dir', ['in', 'out'] as const)) as Direction | null,
    replay: nullable(o.replay, replay),
    lifetime: nullable(o.lifetime, lifetime),
    time: time(o.time, 'time'),
  };
}

function hello(o: Json): StreamRecord {
  // The version is checked before anything else, so a newer sender gets the one clear message.
  // Only a hello that names another version is refused for good; one without a valid version
  // is a corrupt line like any other, and one corrupt line must not end a receiver.
  const version = integer(o.version, 'version', 1, U32_MAX);
  if (!READABLE_STREAM_VERSIONS.includes(version)) {
    throw new StreamError(
      `the sender speaks sync stream version ${version}, this xaev reads versions ${READABLE_STREAM_VERSIONS.join(' and ')} only: run the same xaev version on both nodes`,
      true,
    );
  }
  return {
    type: 'hello',
    version,
    node: string(o.node, 'node', 255),
    software: string(o.software, 'software', 255),
    hz: nullable(o.hz, (v) => integer(v, 'hz', 1, 100000)),
    rthr: u32(o.rthr, 'rthr'),
    etimeMs: u32(o.etimeMs, 'etimeMs'),
    replicate: version === 1 || o.replicate === undefined ? [] : replicated(o.replicate),
    time: time(o.time, 'time'),
  };
}

function replicated(value: unknown): ('sas' | 'policies')[] {
  if (!Array.isArray(value) || value.length > REPLICATED.length) throw new StreamError(`replicate: expected a list of ${REPLICATED.join(', ')}`);
  return [...new Set(value.map((v) => oneOf(v, 'replicate[]', REPLICATED)))];
}

/** An SA record's replication part: its `config`, or the sender's reason not to replicate it. */
function replica(o: Json, sa: StreamSa): SaReplica | undefined {
  if (o.config !== undefined && o.notReplicated !== undefined) throw new StreamError('config and notReplicated: expected one of them');
  if (o.notReplicated !== undefined) return { notReplicated: string(o.notReplicated, 'notReplicated', 255) };
  if (o.config !== undefined) return { config: decodeSaConfig(o.config, sa) };
  return undefined;
}

function saRecord(o: Json): { sa: StreamSa; replica: SaReplica | undefined } {
  const sa = streamSa(o);
  return { sa, replica: replica(o, sa) };
}

function record(o: Json): StreamRecord {
  switch (o.type) {
    case 'hello':
      return hello(o);
    case 'snapshot-begin':
      return { type: 'snapshot-begin', snapshot: u32(o.snapshot, 'snapshot'), time: time(o.time, 'time') };
    case 'sa':
      return { type: 'sa', snapshot: u32(o.snapshot, 'snapshot'), ...saRecord(o) };
    case 'snapshot-end':
      return {
        type: 'snapshot-end',
        snapshot: u32(o.snapshot, 'snapshot'),
        count: u32(o.count, 'count'),
        policies: o.policies === undefined ? undefined : u32(o.policies, 'policies'),
        time: time(o.time, 'time'),
      };
    case 'update':
      return { type: 'update', cause: oneOf(o.cause, 'cause', ['replay', 'timer', 'update', 'added'] as const), ...saRecord(o) };
    case 'policy': {
      const policy = decodePolicy(o);
      return {
        type: 'policy',
        snapshot: o.snapshot === undefined ? undefined : u32(o.snapshot, 'snapshot'),
        policy: { name: policyName(policy), policy, time: time(o.time, 'time') },
      };
    }
    case 'policy-gone': {
      const policy = decodePolicyIdentity(o);
      return { type: 'policy-gone', policy: { name: policyName(policy), policy, time: time(o.time, 'time') } };
    }
    case 'gone':
      return { type: 'gone', sa: identity(o), time: time(o.time, 'time') };
    case 'lost':
      return {
        type: 'lost',
        count: nullable(o.count, (v) => integer(v, 'count', 0, Number.MAX_SAFE_INTEGER)),
        reason: oneOf(o.reason, 'reason', ['overrun', 'truncated'] as const),
        time: time(o.time, 'time'),
      };
    case 'heartbeat':
      return { type: 'heartbeat', time: time(o.time, 'time') };
    default:
      throw new StreamError(`unknown record type ${typeof o.type === 'string' ? JSON.stringify(o.type.slice(0, 40)) : String(typeof o.type)}`);
  }
}

/** One line of the stream (without its newline) as a checked record, or a StreamError. */
export function decodeLine(line: string): StreamRecord {
  // The marker of exact integers starts with NUL, which no record contains: a line that spells
  // it itself could pass a string off as a counter.
  if (line.includes(BIG_ESCAPED.slice(0, 6))) throw new StreamError('a NUL character (\\u0000) is not allowed in a stream line');
  let parsed: unknown;
  try {
    parsed = JSON.parse(exactIntegers(line));
  } catch {
    throw new StreamError('not a JSON value');
  }
  return record(object(parsed, 'record'));
}

/** JSON text with integers of any size read exactly (bigint above 2^53), e.g. a control answer. */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(exactIntegers(text), (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(BIG) ? BigInt(value.slice(BIG.length)) : value,
  );
}
