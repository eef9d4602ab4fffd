import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

/**
 * Malformed data from the kernel (or from a file): a length that does not fit, a struct
 * that is too short. Decoders throw only this, so callers can tell corrupt input from bugs.
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  readonly code = 'EBADMSG';
  constructor(message: string) {
    super(message);
  }
}

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** The symbolic name of a (positive) errno, e.g. 'ESRCH' for 3: the one place names come from. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/**
 * Whether a recv() errno means an overrun: ENOBUFS, which the kernel sets when it dropped
 * messages for a full receive buffer (docs/kernel/netlink.md; net/netlink/af_netlink.c:
 * netlink_overrun()). The socket stays usable; what was dropped is gone. The one place
 * that says so: the addon reports errnos without judging them.
 */
export function isOverrun(errno: unknown): boolean {
  return errno === osConstants.errno.ENOBUFS;
}

/**
 * A failed syscall as Node reports its own: `code` (the errno's name), `errno`, `syscall`.
 * The addon throws errors with the number only (native/netlink_socket.cc: ErrnoError).
 */
export function withErrnoCode(error: unknown): unknown {
  const sys = error as NodeJS.ErrnoException;
  if (error instanceof Error && typeof sys.errno === 'number' && sys.code === undefined) sys.code = errnoName(sys.errno);
  return error;
}

/** Run an addon call, naming the errno of any syscall error it throws. */
export function callNative<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw withErrnoCode(error);
  }
}

/** An error for a syscall that failed with `errno`, shaped like the addon's. */
export function syscallError(syscall: string, errno: number): NodeJS.ErrnoException {
  const text = getSystemErrorMap().get(-errno)?.[1] ?? `error ${errno}`;
  const error: NodeJS.ErrnoException = new Error(`${syscall}: ${text}`);
  error.errno = errno;
  error.syscall = syscall;
  return withErrnoCode(error) as NodeJS.ErrnoException;
}

/** A request the kernel refused: an NLMSG_ERROR with a negative error code. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** Positive errno, e.g. 3 for ESRCH. */
  readonly errno: number;
  /** Symbolic errno, e.g. 'ESRCH'. */
  readonly code: string;
  /** The kernel's extended-ack text, when it sent one (kernels 6.2+ for most XFRM checks). */
  readonly kernelMessage: string | undefined;
  /** Byte offset of the offending attribute in the request, when the kernel sent one. */
  readonly attributeOffset: number | undefined;

  constructor(errno: number, kernelMessage?: string, attributeOffset?: number) {
    const code = errnoName(errno);
    super(kernelMessage ? `${kernelMessage} (${code})` : code);
    this.errno = errno;
    this.code = code;
    this.kernelMessage = kernelMessage;
    this.attributeOffset = attributeOffset;
  }
}

/** No answer within the time allowed: the kernel dropped a reply or never sent one. */
export class NetlinkTimeoutError extends Error {
  override readonly name = 'NetlinkTimeoutError';
  readonly code = 'ETIMEDOUT';
}

/**
 * The kernel dropped messages for this socket because its receive buffer was full (recv
 * failed with ENOBUFS): replies to a request are lost, not late (docs/kernel/netlink.md).
 */
export class NetlinkOverrunError extends Error {
  override readonly name = 'NetlinkOverrunError';
  readonly code = 'ENOBUFS';
}
