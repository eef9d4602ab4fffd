// Parsers for command-line values. Each accepts exactly its documented form and throws
// UsageError with a one-line reason otherwise.
import { U32_MAX, U64_MAX } from '../netlink/bytes.js';
import { parseAddress, type ParsedAddress } from '../xfrm/address.js';
import { REPLAY_ESN_MAX_BMP_LEN } from '../xfrm/constants.js';
import { isReachableSpi } from '../xfrm/sa-dump.js';
import type { BitmapChange } from '../xfrm/update.js';
import { UsageError } from './errors.js';
import { PROTO_NAMES, protoNumber } from '../xfrm/protocols.js';
import { shown } from './user-text.js';

const NUMBER_FORM = /^(?:0[xX][0-9a-fA-F]+|[0-9]+)$/;

function parseBigInteger(text: string, what: string): bigint {
  if (!NUMBER_FORM.test(text)) {
    throw new UsageError(`${what}: ${shown(text)} is not a number (use decimal, or hex with 0x)`);
  }
  return BigInt(text);
}

export function parseU32(text: string, what: string): number {
  const value = parseBigInteger(text, what);
  if (value > BigInt(U32_MAX)) throw new UsageError(`${what}: ${shown(text, { quote: false })} is out of range (0 to 4294967295)`);
  return Number(value);
}

export function parseU64(text: string, what: string): bigint {
  const value = parseBigInteger(text, what);
  if (value > U64_MAX) throw new UsageError(`${what}: ${shown(text, { quote: false })} is out of range (0 to 18446744073709551615)`);
  return value;
}

export function parsePositiveInt(text: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = parseBigInteger(text, what);
  if (value < 1n || value > BigInt(max)) throw new UsageError(`${what}: ${shown(text, { quote: false })} is out of range (1 to ${max})`);
  return Number(value);
}

export function parseSpi(text: string): number {
  const value = parseU32(text, 'SPI');
  if (!isReachableSpi(value)) throw new UsageError('SPI: 0 is not a valid SPI (1 to 0xffffffff)');
  return value;
}

export function parseAddressOption(text: string, what: string): ParsedAddress {
  const address = parseAddress(text);
  if (!address) throw new UsageError(`${what}: ${shown(text)} is not an IPv4 or IPv6 address`);
  return address;
}

export function parseProto(text: string): number {
  const proto = protoNumber(text);
  if (proto === undefined) throw new UsageError(`--proto: ${shown(text)} is not one of ${PROTO_NAMES.join(', ')}`);
  return proto;
}

export function parseMark(text: string): { value: number; mask?: number } {
  const [value, mask, extra] = text.split('/');
  if (value === undefined || extra !== undefined || mask === '') {
    throw new UsageError(`--mark: ${shown(text)} is not VALUE or VALUE/MASK`);
  }
  const mark: { value: number; mask?: number } = { value: parseU32(value, '--mark value') };
  if (mask !== undefined) mark.mask = parseU32(mask, '--mark mask');
  return mark;
}

/** Byte counts with an optional k/m suffix (powers of 1024), e.g. 8m. */
export function parseByteSize(text: string, what: string): number {
  const match = /^([0-9]+)([kKmM]?)$/.exec(text);
  if (!match) throw new UsageError(`${what}: ${shown(text)} is not a size in bytes (e.g. 4194304, 4096k or 4m)`);
  const factor = match[2] === '' ? 1 : /k/i.test(match[2]!) ? 1024 : 1024 * 1024;
  const bytes = Number(match[1]) * factor;
  if (bytes < 1 || bytes > 0x7fffffff) throw new UsageError(`${what}: ${shown(text, { quote: false })} is out of range (1 to 2g-1)`);
  return bytes;
}

/**
 * --bitmap: `all`, `none`, or the bitmap's u32 words separated by commas, in the order
 * `xaev -j get` prints them (word 0 first). Whether they fit the SA is checked against it.
 */
export function parseBitmap(text: string): BitmapChange {
  const lower = text.toLowerCase();
  if (lower === 'all' || lower === 'none') return lower;
  const items = text.split(',');
  if (items.length > REPLAY_ESN_MAX_BMP_LEN) {
    throw new UsageError(`--bitmap: ${items.length} words, more than the ${REPLAY_ESN_MAX_BMP_LEN} any SA has`);
  }
  return items.map((item, index) => {
    if (item === '') throw new UsageError(`--bitmap: word ${index} is empty (give words like 0xffffffff,0x0, or all, or none)`);
    return parseU32(item, `--bitmap word ${index}`);
  });
}
