// Reading the sync stream as untrusted input: every field is checked against the rules of
// docs/sync-stream.schema.json by hand (no schema library at run time), u64 counters are
// read exactly, and anything else is a StreamError naming the field. Extra fields are ignored
// (docs/sync.md: a change older receivers would misread bumps the version instead).
import { U32_MAX, U64_MAX } from '../netlink/bytes.js';
import { familyName, formatAddress, parseAddress } from '../xfrm/address.js';
import { REPLAY_ESN_MAX_BMP_LEN } from '../xfrm/constants.js';
import type { LifetimeCurrent, Mark, ReplayState } from '../xfrm/structs.js';
import { saKey, STREAM_VERSION, type Direction, type StreamRecord, type StreamSa } from './stream.js';

/** A line that is not a valid record. `fatal` ones (a version this xaev cannot read) end the connection. */
export class StreamError extends Error {
  override readonly name = 'StreamError';
  readonly fatal: boolean;
  constructor(message: string, fatal = false) {
    super(message);
    this.fatal = fatal;
  }
}

type Json = Record<string, unknown>;
/** Marks an integer literal too long for a double; see exactIntegers(). */
const BIG = '\u0000big:';
/** The same marker as JSON source text (a raw control character is not valid JSON). */
const BIG_ESCAPED = '\\u0000big:';
const LONG_INTEGER = /[0-9]{16}/;

/**
 * JSON.parse reads every number as a double, which rounds u64 counters above 2^53. Integer
 * literals of 16 digits or more (outside strings) are turned into marked strings first and
 * read as bigint by u64(). Linear in the line length.
 */
function exactIntegers(line: string): string {
  if (!LONG_INTEGER.test(line)) return line;
  let out = '';
  let last = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, honouring backslash escapes.
      for (i++; i < line.length && line.charCodeAt(i) !== 0x22; i++) if (line.charCodeAt(i) === 0x5c) i++;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < line.length && line.charCodeAt(end) >= 0x30 && line.charCodeAt(end) <= 0x39) end++;
      const next = line[end];
      if (end - i >= 16 && next !== '.' && next !== 'e' && next !== 'E') {
        out += `${line.slice(last, i)}"${BIG_ESCAPED}${line.slice(i, end)}"`;
        last = end;
      }
      i = end - 1;
    }
  }
  return out + line.slice(last);
}

function object(value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StreamError(`${where}: expected an object`);
  return value as Json;
}

function integer(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new StreamError(`${where}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

const u32 = (value: unknown, where: string): number => integer(value, where, 0, U32_MAX);
const time = (value: unknown, where: string): number => integer(value, where, 0, Number.MAX_SAFE_INTEGER);

function u64(value: unknown, where: string): bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && value.startsWith(BIG) && /^[0-9]+$/.test(value.slice(BIG.length))) {
    const big = BigInt(value.slice(BIG.length));
    if (big <= U64_MAX) return big;
  }
  throw new StreamError(`${where}: expected an integer from 0 to 18446744073709551615`);
}

function string(value: unknown, where: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength || value.startsWith(BIG)) {
    throw new StreamError(`${where}: expected a string of 1 to ${maxLength} characters`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, where: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) throw new StreamError(`${where}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

function nullable<T>(value: unknown, read: (value: unknown) => T): T | null {
  return value === null ? null : read(value);
}

function address(value: unknown, where: string, family: 'inet' | 'inet6'): string {
  const parsed = parseAddress(string(value, where, 64));
  if (!parsed || familyName(parsed.family) !== family) throw new StreamError(`${where}: expected an ${family} address`);
  // Canonical text, so that keys from the stream and from the local kernel compare equal.
  return formatAddress(parsed.bytes, parsed.family);
}

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
  if (version !== STREAM_VERSION) {
    throw new StreamError(
      `the sender speaks sync stream version ${version}, this xaev reads version ${STREAM_VERSION} only: run the same xaev version on both nodes`,
      true,
    );
  }
  return {
    type: 'hello',
    version: STREAM_VERSION,
    node: string(o.node, 'node', 255),
    software: string(o.software, 'software', 255),
    hz: nullable(o.hz, (v) => integer(v, 'hz', 1, 100000)),
    rthr: u32(o.rthr, 'rthr'),
    etimeMs: u32(o.etimeMs, 'etimeMs'),
    time: time(o.time, 'time'),
  };
}

function record(o: Json): StreamRecord {
  switch (o.type) {
    case 'hello':
      return hello(o);
    case 'snapshot-begin':
      return { type: 'snapshot-begin', snapshot: u32(o.snapshot, 'snapshot'), time: time(o.time, 'time') };
    case 'sa':
      return { type: 'sa', snapshot: u32(o.snapshot, 'snapshot'), sa: streamSa(o) };
    case 'snapshot-end':
      return { type: 'snapshot-end', snapshot: u32(o.snapshot, 'snapshot'), count: u32(o.count, 'count'), time: time(o.time, 'time') };
    case 'update':
      return { type: 'update', cause: oneOf(o.cause, 'cause', ['replay', 'timer', 'update', 'added'] as const), sa: streamSa(o) };
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
