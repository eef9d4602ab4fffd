/**
 * JSON.stringify for xaev's records, with bigint written as an exact integer literal (u64
 * counters must never be rounded through a double), compact, one line.
 */
export function toJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'object':
      if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
      return `{${Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
        .join(',')}}`;
    default:
      throw new TypeError(`cannot encode ${typeof value} as JSON`);
  }
}
