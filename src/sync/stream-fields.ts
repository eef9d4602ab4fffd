// The field checks every sync stream decoder shares (stream-decode.ts for the records,
// stream-replica.ts for the SAs and policies they carry): each takes an untrusted JSON value
// and the field's path, returns the checked value, and throws a StreamError naming the field
// otherwise. u64 values stay exact: exactIntegers() marks long integer literals before
// JSON.parse, and u64() reads them back as bigint.
import { U32_MAX, U64_MAX } from '../netlink/bytes.js';
import { familyName, formatAddress, parseAddress, type ParsedAddress } from '../xfrm/address.js';

/** A line that is not a valid record. `fatal` ones (a version this xaev cannot read) end the connection. */
export class StreamError extends Error {
  override readonly name = 'StreamError';
  readonly fatal: boolean;
  constructor(message: string, fatal = false) {
    super(message);
    this.fatal = fatal;
  }
}

export type Json = Record<string, unknown>;
/** Marks an integer literal too long for a double; see exactIntegers(). */
export const BIG = '\u0000big:';
/** The same marker as JSON source text (a raw control character is not valid JSON). */
export const BIG_ESCAPED = '\\u0000big:';
const LONG_INTEGER = /[0-9]{16}/;

/**
 * JSON.parse reads every number as a double, which rounds u64 counters above 2^53. Integer
 * literals of 16 digits or more (outside strings) are turned into marked strings first and
 * read as bigint by u64(). Linear in the line length.
 */
export function exactIntegers(line: string): string {
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

export function object(value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StreamError(`${where}: expected an object`);
  return value as Json;
}

export function integer(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new StreamError(`${where}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

export const u32 = (value: unknown, where: string): number => integer(value, where, 0, U32_MAX);
export const time = (value: unknown, where: string): number => integer(value, where, 0, Number.MAX_SAFE_INTEGER);

export function u64(value: unknown, where: string): bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && value.startsWith(BIG) && /^[0-9]+$/.test(value.slice(BIG.length))) {
    const big = BigInt(value.slice(BIG.length));
    if (big <= U64_MAX) return big;
  }
  throw new StreamError(`${where}: expected an integer from 0 to 18446744073709551615`);
}

export function string(value: unknown, where: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength || value.startsWith(BIG)) {
    throw new StreamError(`${where}: expected a string of 1 to ${maxLength} characters`);
  }
  return value;
}

export function oneOf<T extends string>(value: unknown, where: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) throw new StreamError(`${where}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

export function nullable<T>(value: unknown, read: (value: unknown) => T): T | null {
  return value === null ? null : read(value);
}

/** An address of `family`, parsed: its bytes as the kernel takes them. */
export function parsedAddress(value: unknown, where: string, family: 'inet' | 'inet6'): ParsedAddress {
  const parsed = parseAddress(string(value, where, 64));
  if (!parsed || familyName(parsed.family) !== family) throw new StreamError(`${where}: expected an ${family} address`);
  return parsed;
}

export function address(value: unknown, where: string, family: 'inet' | 'inet6'): string {
  const parsed = parsedAddress(value, where, family);
  // Canonical text, so that keys from the stream and from the local kernel compare equal.
  return formatAddress(parsed.bytes, parsed.family);
}
