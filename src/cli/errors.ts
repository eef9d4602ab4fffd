// Every expected failure becomes one line on stderr that names the cause and the fix, and an
// exit status: 1 for runtime and kernel errors, 2 for usage errors. No stack traces.
import { getSystemErrorMap } from 'node:util';
import { DecodeError, NetlinkError, NetlinkOverrunError, NetlinkTimeoutError } from '../netlink/errors.js';
import { NativeAddonError } from '../netlink/native.js';
import { IncompatibleChangeError } from '../xfrm/update.js';
import { shown } from './user-text.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A bad command line: exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An expected runtime failure whose message is already written for a human: exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly details: string[];
  constructor(message: string, details: string[] = []) {
    super(message);
    this.details = details;
  }
}

/** A failure already reported on stderr (e.g. by a batch line): only its status remains. */
export class ReportedFailure extends Error {
  override readonly name = 'ReportedFailure';
  readonly status: number;
  constructor(status: number) {
    super(`failed with status ${status}`);
    this.status = status;
  }
}

/** strerror text for an errno, e.g. "No such process" for 3. */
export function strerror(errno: number): string {
  return getSystemErrorMap().get(-errno)?.[1] ?? `error ${errno}`;
}

/**
 * Why a system call failed, for a message that names the file itself: "no such file or
 * directory (ENOENT)". Node's own message would repeat the path, unescaped.
 */
export function systemErrorCause(error: NodeJS.ErrnoException): string {
  if (typeof error.errno !== 'number') return error.message;
  return error.code === undefined ? strerror(Math.abs(error.errno)) : `${strerror(Math.abs(error.errno))} (${error.code})`;
}

interface SyscallError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
}

/** What went wrong, for stderr, and the exit status; undefined for an unexpected error (a bug). */
export function describeError(error: unknown, netns?: string): { lines: string[]; status: number } | undefined {
  if (error instanceof ReportedFailure) return { lines: [], status: error.status };
  if (error instanceof UsageError) return { lines: [error.message], status: EXIT_USAGE };
  if (error instanceof CliError) return { lines: [error.message, ...error.details], status: EXIT_FAILURE };
  if (error instanceof NativeAddonError) return { lines: [error.message], status: EXIT_FAILURE };
  if (error instanceof IncompatibleChangeError) return { lines: [error.message], status: EXIT_FAILURE };
  if (error instanceof NetlinkTimeoutError) return { lines: [error.message], status: EXIT_FAILURE };
  if (error instanceof NetlinkOverrunError) return { lines: [error.message], status: EXIT_FAILURE };
  if (error instanceof DecodeError) {
    return { lines: [`malformed message from the kernel: ${error.message}`], status: EXIT_FAILURE };
  }
  if (error instanceof NetlinkError) return { lines: [kernelErrorLine(error)], status: EXIT_FAILURE };
  const sys = error as SyscallError;
  if (error instanceof Error && typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    return { lines: [syscallErrorLine(sys, netns)], status: EXIT_FAILURE };
  }
  return undefined;
}

const CAP_NET_ADMIN_HINT = 'permission denied: NETLINK_XFRM needs CAP_NET_ADMIN (run as root)';

function kernelErrorLine(error: NetlinkError): string {
  if (error.code === 'EPERM') return CAP_NET_ADMIN_HINT;
  const text = error.kernelMessage ?? strerror(error.errno);
  return `the kernel refused the request: ${text} (${error.code})`;
}

function syscallErrorLine(error: SyscallError, netns: string | undefined): string {
  if (error.syscall === 'open' && error.code === 'ENOENT' && netns !== undefined) {
    return `network namespace ${shown(netns)} not found: /run/netns/${netns} does not exist (see ip netns list)`;
  }
  if (error.syscall === 'setns' || (error.syscall === 'open' && netns !== undefined)) {
    if (error.code === 'EPERM' || error.code === 'EACCES') {
      return `permission denied: entering network namespace ${shown(netns ?? '')} needs CAP_SYS_ADMIN (run as root)`;
    }
    return `cannot enter network namespace ${shown(netns ?? '')}: ${error.message}`;
  }
  if (error.code === 'EPERM' || error.code === 'EACCES') return CAP_NET_ADMIN_HINT;
  if (error.syscall === 'socket' && (error.code === 'EPROTONOSUPPORT' || error.code === 'EAFNOSUPPORT')) {
    return 'this kernel has no NETLINK_XFRM: load the xfrm_user module (modprobe xfrm_user) or build the kernel with CONFIG_XFRM_USER';
  }
  return `${error.syscall} failed: ${error.message}`;
}
