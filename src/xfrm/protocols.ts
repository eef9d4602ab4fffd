// Protocol names, in one table: the names xaev accepts (--proto) and prints (get, list, JSON
// "proto", the sync stream). In the xfrm layer because the SA record (sa-record.ts) uses them.
import { IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP } from './constants.js';

/** xaev's names for the XFRM protocols; `ipcomp` is accepted on input for comp. */
const PROTOCOLS = [
  { name: 'esp', number: IPPROTO_ESP, aliases: [] },
  { name: 'ah', number: IPPROTO_AH, aliases: [] },
  { name: 'comp', number: IPPROTO_COMP, aliases: ['ipcomp'] },
] as const;

export type ProtoName = (typeof PROTOCOLS)[number]['name'];

/** The names for help texts and completion, in table order. */
export const PROTO_NAMES: readonly ProtoName[] = PROTOCOLS.map((p) => p.name);

/** Looked up once per SA by `list`: a map, not a search with a callback. */
const NAME_OF_NUMBER = new Map<number, ProtoName>(PROTOCOLS.map((p) => [p.number, p.name]));

/** The name xaev prints for a protocol number, or the number when it has none. */
export function protoName(proto: number): ProtoName | number {
  return NAME_OF_NUMBER.get(proto) ?? proto;
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
