// Host-kernel helpers shared by the tests and the benchmarks: throwaway network namespaces
// holding larval SAs. The host kernel has XFRM but no ESP, so `ip xfrm state allocspi` is the
// way to make SAs there; GETAE answers them like any SA (docs/kernel/getae.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { NLM_F_REQUEST } from '../../src/netlink/constants.js';
import { encodedLength, encodeMessageInto } from '../../src/netlink/message.js';
import { parseAddress } from '../../src/xfrm/address.js';
import { encodeGetAe } from '../../src/xfrm/aevent.js';
import { IPPROTO_ESP } from '../../src/xfrm/constants.js';

/**
 * Host-kernel tests need root (CAP_NET_ADMIN for NETLINK_XFRM, CAP_SYS_ADMIN for netns) and
 * iproute2. They return the reason they cannot run, for `skip`; CI runs as root, so there
 * they run.
 */
export function hostKernelSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: NETLINK_XFRM requires CAP_NET_ADMIN and network namespaces need CAP_SYS_ADMIN';
  if (spawnSync('ip', ['-V']).status !== 0) return 'needs iproute2 (ip) to make network namespaces and larval SAs';
  return undefined;
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Netns {
  name: string;
  remove: () => void;
}

/**
 * A throwaway network namespace named PREFIX-PID-RANDOM, deleted by remove(). Larval SAs
 * expire after net.core.xfrm_acq_expires seconds (30 by default): it is raised to an hour,
 * so they outlive a test suite or a benchmark.
 */
export function makeNetns(prefix: string): Netns {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  ip('netns', 'add', name);
  ip('netns', 'exec', name, 'sysctl', '-q', '-w', 'net.core.xfrm_acq_expires=3600');
  return { name, remove: () => spawnSync('ip', ['netns', 'del', name]) };
}

export interface LarvalSa {
  src: string;
  dst: string;
  spi: number;
  proto?: 'esp' | 'ah' | 'comp';
  reqid?: number;
}

/** The `ip -batch` line that allocates one larval SA with exactly this SPI. */
export function allocSpiLine(sa: LarvalSa): string {
  const spi = `0x${sa.spi.toString(16)}`;
  const reqid = sa.reqid === undefined ? '' : ` reqid ${sa.reqid}`;
  return `xfrm state allocspi src ${sa.src} dst ${sa.dst} proto ${sa.proto ?? 'esp'}${reqid} min ${spi} max ${spi}\n`;
}

/** Add larval SAs with one `ip -batch` process (10,000 take well under a second). */
export function addLarvalSas(netns: string, sas: LarvalSa[]): void {
  execFileSync('ip', ['-n', netns, '-batch', '-'], { input: sas.map(allocSpiLine).join(''), stdio: ['pipe', 'ignore', 'pipe'] });
}

/**
 * One GETAE per ESP SA, back to back in one buffer, as `list` pipelines them (sequence
 * numbers 0: the pipeline writes its own). For the bulk tests and bench/kernel-share.ts.
 */
export function encodeGetAes(sas: { dst: string; spi: number }[]): Buffer {
  const requests = sas.map((sa) => {
    const dst = parseAddress(sa.dst);
    if (!dst) throw new Error(`not an address: ${sa.dst}`);
    return encodeGetAe({ saId: { daddr: dst.bytes, spi: sa.spi, family: dst.family, proto: IPPROTO_ESP } });
  });
  const out = Buffer.alloc(requests.reduce((n, r) => n + encodedLength(r.parts), 0));
  let end = 0;
  for (const r of requests) end = encodeMessageInto(out, end, { type: r.type, flags: NLM_F_REQUEST, seq: 0, pid: 0 }, r.parts);
  return out;
}
