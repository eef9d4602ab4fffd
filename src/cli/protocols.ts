// Protocol names, in one table: the names xaev accepts (--proto) and prints (get, list, JSON
// "proto"), and the names `ip xfrm monitor` prints, which come from the protocol database.
import { readFileSync } from 'node:fs';
import { IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP } from '../xfrm/constants.js';

/** xaev's names for the XFRM protocols; `ipcomp` is accepted on input for comp. */
const PROTOCOLS = [
  { name: 'esp', number: IPPROTO_ESP, aliases: [] },
  { name: 'ah', number: IPPROTO_AH, aliases: [] },
  { name: 'comp', number: IPPROTO_COMP, aliases: ['ipcomp'] },
] as const;

export type ProtoName = (typeof PROTOCOLS)[number]['name'];

/** The names for help texts and completion, in table order. */
export const PROTO_NAMES: readonly ProtoName[] = PROTOCOLS.map((p) => p.name);

/** The name xaev prints for a protocol number, or the number when it has none. */
export function protoName(proto: number): ProtoName | number {
  return PROTOCOLS.find((p) => p.number === proto)?.name ?? proto;
}

/** The protocol number for a name or alias (any case); undefined if it names none. */
export function protoNumber(text: string): number | undefined {
  const name = text.toLowerCase();
  return PROTOCOLS.find((p) => p.name === name || (p.aliases as readonly string[]).includes(name))?.number;
}

/** "esp, ah or comp", for help texts. */
export function protoNameChoice(): string {
  return `${PROTO_NAMES.slice(0, -1).join(', ')} or ${PROTO_NAMES.at(-1)}`;
}

let names: Map<number, string> | undefined;

/**
 * The protocol name iproute2 prints: getprotobynumber() from /etc/protocols (so 108 is
 * "ipcomp"), or the decimal number when the database has none (iproute2 ip/ipxfrm.c:
 * strxf_proto()).
 */
export function protocolDatabaseName(proto: number): string {
  if (!names) {
    names = new Map();
    let text = '';
    try {
      text = readFileSync('/etc/protocols', 'latin1');
    } catch {
      // no protocol database: numbers are printed, as getprotobynumber() fails too
    }
    for (const line of text.split('\n')) {
      const fields = line.replace(/#.*/, '').trim().split(/\s+/);
      const number = Number(fields[1]);
      if (fields[0] && Number.isInteger(number) && !names.has(number)) names.set(number, fields[0]);
    }
  }
  return names.get(proto) ?? String(proto);
}
