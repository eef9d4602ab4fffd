// The kernel's own share of `xaev list` (bench/scale.ts): the same dump, drained, and the
// same GETAEs (both threshold flags, one per SA, pipelined as list sends them), answers
// drained; nothing decoded, nothing printed. The GETAEs come encoded in a file, so this
// process does no per-SA work of its own beyond walking the answers' headers. Each step
// waits for the one before, in this thread (dumpEach, pipelineEach): the kernel's work as the
// sum of its parts, whereas `xaev list` has it done on worker threads beside its own
// (docs/kernel/netlink.md#bulk-requests-on-a-worker-thread).
// Usage: node kernel-share.js NETNS GETAES.bin COUNT
import { readFileSync } from 'node:fs';
import { dumpEach, pipelineEach } from '../src/netlink/pipeline.js';
import { enterNetworkNamespace, NetlinkSocket } from '../src/netlink/socket.js';
import { NETLINK_XFRM } from '../src/xfrm/constants.js';
import { encodeSaDump } from '../src/xfrm/sa-dump.js';

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
if (!netns || !file || !count) throw new Error('usage: node kernel-share.js NETNS GETAES.bin COUNT');
main(netns, file, Number(count));
