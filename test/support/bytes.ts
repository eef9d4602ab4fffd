/** Bytes from hex text written in groups, e.g. fromHex('4c000000 1f000100'): whitespace is ignored. */
export function fromHex(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`fromHex: not an even run of hex digits: ${text}`);
  return Buffer.from(digits, 'hex');
}
