// The kernel's own share of `xaev list` (bench/scale.ts): the same dump, drained, and the
// same GETAEs (both threshold flags, one per SA, pipelined as list sends them), answers
// drained; nothing decoded, nothing printed. The GETAEs come encoded in a file, so this
// process does no per-SA work of its own beyond walking the answers' headers.
// Usage: node kernel-share.js NETNS GETAES.bin COUNT
import { readFileSync } from 'node:fs';
import { dumpEach, pipelineEach } from '../src/netlink/pipeline.js';
import { enterNetworkNamespace, NetlinkSocket } from '../src/netlink/socket.js';
import { encodeGetAe } from '../src/xfrm/aevent.js';
import { parseAddress } from '../src/xfrm/address.js';
import { IPPROTO_ESP, NETLINK_XFRM } from '../src/xfrm/constants.js';
import { encodeSaDump } from '../src/xfrm/sa-dump.js';
import { encodedLength, encodeMessageInto } from '../src/netlink/message.js';
import { NLM_F_REQUEST } from '../src/netlink/constants.js';

/** The GETAE messages for these SAs, back to back, as list sends them (seq filled in later). */
export function encodeGetAes(sas: { dst: string; spi: number }[]): Buffer {
  const requests = sas.map((sa) => {
    const dst = parseAddress(sa.dst)!;
    return encodeGetAe({ saId: { daddr: dst.bytes, spi: sa.spi, family: dst.family, proto: IPPROTO_ESP } });
  });
  const out = Buffer.alloc(requests.reduce((n, r) => n + encodedLength(r.parts), 0));
  let end = 0;
  for (const r of requests) end = encodeMessageInto(out, end, { type: r.type, flags: NLM_F_REQUEST, seq: 0, pid: 0 }, r.parts);
  return out;
}

function main(netns: string, file: string, count: number): void {
  const requests = readFileSync(file);
  enterNetworkNamespace(netns);
  let dumped = 0;
  let answered = 0;
  dumpEach(NetlinkSocket.open(NETLINK_XFRM), encodeSaDump(), () => dumped++);
  pipelineEach(NetlinkSocket.open(NETLINK_XFRM), requests, requests.length, () => answered++, () => answered++);
  if (dumped !== count || answered !== count) throw new Error(`dumped ${dumped}, answered ${answered}, expected ${count}`);
}

const [netns, file, count] = process.argv.slice(2);
if (netns && file && count) main(netns, file, Number(count));
