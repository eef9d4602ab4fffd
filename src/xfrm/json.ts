/**
 * JSON with u64 counters as exact integers. JSON.stringify (native, fast) does the work;
 * a u64 above 2^53 would be rounded as a double, so it travels as a marked string that is
 * unquoted afterwards. Records use jsonU64() for every u64.
 */
const MARK = '\u0000u64:';
const MARKED = /"\\u0000u64:(\d+)"/g;

class ExactInteger {
  constructor(private readonly value: bigint) {}
  toJSON(): string {
    return MARK + this.value.toString();
  }
}

export type JsonU64 = number | ExactInteger;

const MAX_EXACT_DOUBLE = BigInt(Number.MAX_SAFE_INTEGER);

export function jsonU64(value: bigint): JsonU64 {
  return value <= MAX_EXACT_DOUBLE ? Number(value) : new ExactInteger(value);
}

/** Compact one-line JSON. Records must carry u64 values through jsonU64 (a bigint throws). */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes('\\u0000u64:') ? text.replace(MARKED, '$1') : text;
}
