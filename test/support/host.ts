import { execFileSync, spawnSync } from 'node:child_process';

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

/** A throwaway network namespace, deleted by the returned function. */
export function makeNetns(prefix: string): { name: string; remove: () => void } {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  ip('netns', 'add', name);
  return { name, remove: () => spawnSync('ip', ['netns', 'del', name]) };
}
