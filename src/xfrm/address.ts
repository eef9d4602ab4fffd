import { isIPv4, isIPv6 } from 'node:net';
import { AF_INET, AF_INET6 } from './constants.js';

export type Family = 'inet' | 'inet6';

export function familyName(family: number): Family | undefined {
  if (family === AF_INET) return 'inet';
  if (family === AF_INET6) return 'inet6';
  return undefined;
}

export function familyNumber(family: Family): number {
  return family === 'inet' ? AF_INET : AF_INET6;
}

/** Format an xfrm_address_t (16 bytes, network order) the way inet_ntop does. */
export function formatAddress(bytes: Buffer, family: number): string {
  if (family === AF_INET) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (family === AF_INET6) return formatIPv6(bytes);
  return '???';
}

function formatIPv6(bytes: Buffer): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // IPv4-mapped and IPv4-compatible forms print the tail as dotted quad, as inet_ntop does.
  const dotted = `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return `::ffff:${dotted}`;
  if (words.slice(0, 6).every((w) => w === 0) && words[6] !== 0) return `::${dotted}`;
  // Longest run (>= 2) of zero words becomes "::"; the first one wins a tie (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export interface ParsedAddress {
  family: number;
  bytes: Buffer;
}

/** Parse a textual IPv4 or IPv6 address into xfrm_address_t bytes; undefined if invalid. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const bytes = Buffer.alloc(16);
  if (isIPv4(text)) {
    text.split('.').forEach((part, i) => {
      bytes[i] = Number(part);
    });
    return { family: AF_INET, bytes };
  }
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let head = text;
  let tail = '';
  const doubleColon = text.indexOf('::');
  if (doubleColon >= 0) {
    head = text.slice(0, doubleColon);
    tail = text.slice(doubleColon + 2);
  }
  const toWords = (part: string): number[] => {
    if (part === '') return [];
    const words: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const q = piece.split('.').map(Number);
        words.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      } else {
        words.push(parseInt(piece, 16));
      }
    }
    return words;
  };
  const headWords = toWords(head);
  const tailWords = toWords(tail);
  const zeros = doubleColon >= 0 ? 8 - headWords.length - tailWords.length : 0;
  const words = [...headWords, ...new Array<number>(zeros).fill(0), ...tailWords];
  if (words.length !== 8) return undefined;
  words.forEach((word, i) => bytes.writeUInt16BE(word, i * 2));
  return { family: AF_INET6, bytes };
}

/** Compare two xfrm_address_t values the way the kernel does: 4 bytes for IPv4 (§3.3). */
export function addressesEqual(a: Buffer, b: Buffer, family: number): boolean {
  const length = family === AF_INET ? 4 : 16;
  return a.compare(b, 0, length, 0, length) === 0;
}
