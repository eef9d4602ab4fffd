// The names `ip xfrm monitor` prints, which come from the protocol database; xaev's own
// protocol names live in one table in src/xfrm/protocols.ts.
import { readFileSync } from 'node:fs';

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
