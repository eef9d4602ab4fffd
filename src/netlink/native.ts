// Loads the C++ addon (native/netlink_socket.cc) and describes its interface. The addon makes
// syscalls and reports their results; socket options, errno names and what an error means
// are decided in TypeScript (socket.ts, errors.ts).
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * The interface version this code needs; the addon's own is kAbiVersion in
 * native/netlink_socket.cc. Bump both with every change to the addon's JS interface.
 */
export const EXPECTED_ADDON_ABI = 3;

/**
 * The addon's socket. Syscall failures throw an Error with `errno` (positive) and `syscall`;
 * the symbolic `code` is added by withErrnoCode (errors.ts).
 */
export interface NativeNetlinkSocket {
  readonly portId: number;
  setSockOptInt(level: number, option: number, value: number): void;
  getSockOptInt(level: number, option: number): number;
  send(data: Uint8Array): number;
  /** Datagrams queued now or within timeoutMs (-1: forever); [] on timeout. */
  receiveAll(timeoutMs: number): Buffer[];
  /**
   * Deliver datagrams on the event loop. `fullSizes` is set only when a datagram in the batch
   * was longer than the addon's read size: then it holds every datagram's real size. A recv()
   * error reaches onError as its errno; receiving goes on unless stopReceiving() is called.
   */
  startReceiving(onDatagrams: (datagrams: Buffer[], fullSizes: number[] | undefined) => void, onError: (errno: number) => void): void;
  /**
   * Like receiveAll, into `buffer` (at least 64 KiB): datagrams back to back at 4-aligned
   * offsets, zero-padded. Returns the bytes used, 0 after timeoutMs with nothing received.
   */
  receiveInto(buffer: Uint8Array, timeoutMs: number): number;
  stopReceiving(): void;
  close(): void;
}

/** Socket option numbers from the C headers of the machine the addon was built on. */
export interface NativeConstants {
  SOL_SOCKET: number;
  SO_RCVBUF: number;
  SO_RCVBUFFORCE: number;
  SOL_NETLINK: number;
  NETLINK_ADD_MEMBERSHIP: number;
  NETLINK_EXT_ACK: number;
  NETLINK_CAP_ACK: number;
}

export interface NativeAddon {
  abiVersion: number;
  constants: NativeConstants;
  enterNetns(path: string): void;
  NetlinkSocket: new (protocol: number) => NativeNetlinkSocket;
}

/** The addon is missing, built for another Node.js, or older than this code. */
export class NativeAddonError extends Error {
  override readonly name = 'NativeAddonError';
  readonly code = 'EADDON';
}

export const ADDON_PATH = join(PACKAGE_ROOT, 'build/Release/xaev_netlink.node');
const ADDON_SOURCE = join(PACKAGE_ROOT, 'native/netlink_socket.cc');
const REBUILD_HINT = 'rebuild it with `npm run build:native` (needs make, g++, python3 and the Node.js headers)';

let addon: NativeAddon | undefined;

function modifiedTime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

export function loadAddon(): NativeAddon {
  if (addon) return addon;
  let loaded: NativeAddon;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'MODULE_NOT_FOUND'
        ? `the native addon is not built (${ADDON_PATH} is missing)`
        : `the native addon at ${ADDON_PATH} cannot be loaded: ${(error as Error).message.split('\n')[0]}`;
    throw new NativeAddonError(`${reason}; ${REBUILD_HINT}`);
  }
  // A source newer than the build means a pull or an edit without a rebuild.
  const sourceTime = modifiedTime(ADDON_SOURCE);
  const buildTime = modifiedTime(ADDON_PATH);
  if (sourceTime !== undefined && buildTime !== undefined && sourceTime > buildTime) {
    throw new NativeAddonError(`the native addon is stale (native/netlink_socket.cc changed after it was built); ${REBUILD_HINT}`);
  }
  if (loaded.abiVersion !== EXPECTED_ADDON_ABI) {
    throw new NativeAddonError(
      `the native addon is stale (interface ${String(loaded.abiVersion)}, this code needs ${EXPECTED_ADDON_ABI}); ${REBUILD_HINT}`,
    );
  }
  addon = loaded;
  return loaded;
}
