// Loads the C++ addon (native/netlink_socket.cc) and describes its interface. The addon makes
// syscalls and reports their results; socket options, errno names and what an error means
// are decided in TypeScript (socket.ts, errors.ts).
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * The interface version this code needs; the addon's own is kAbiVersion in
 * native/netlink_socket.cc. Bump both with every change to the addon's JS interface.
 */
export const EXPECTED_ADDON_ABI = 4;

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
  /**
   * send(request) unless it is empty, then receiveInto(buffer, timeoutMs), on a libuv worker
   * thread. Until the promise settles the socket is busy: other calls throw (errno EBUSY),
   * close() takes effect when it settles, and neither buffer may be touched.
   */
  exchangeInto(request: Uint8Array, buffer: Uint8Array, timeoutMs: number): Promise<number>;
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

/** Where a local build (`npm ci`, `npm run build:native`) puts the addon; tests load it directly. */
export const ADDON_PATH = join(PACKAGE_ROOT, 'build/Release/xaev_netlink.node');
const LOCAL_BUILD_DIRECTORY = join(PACKAGE_ROOT, 'build') + sep;
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

/**
 * The addon node-gyp-build picks, as `require` does for a package: a local build/Release first,
 * else the prebuilt N-API binary the npm package ships (prebuilds/linux-x64, made by
 * `npm run build:prebuild` at pack time), so an install needs no compiler on linux-x64.
 */
function resolveAddonPath(): string {
  try {
    return nodeGypBuild.resolve(PACKAGE_ROOT);
  } catch {
    const prebuilds = join(PACKAGE_ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
    throw new NativeAddonError(`the native addon is not built (${ADDON_PATH} is missing and ${prebuilds} has no prebuilt one); ${REBUILD_HINT}`);
  }
}

/** A local build older than its source means a pull or an edit without a rebuild. A prebuild
 * has no such relation (npm gives every file in a tarball the same time): its ABI number decides. */
function isStaleLocalBuild(path: string): boolean {
  if (!path.startsWith(LOCAL_BUILD_DIRECTORY)) return false;
  const sourceTime = modifiedTime(ADDON_SOURCE);
  const buildTime = modifiedTime(path);
  return sourceTime !== undefined && buildTime !== undefined && sourceTime > buildTime;
}

export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const path = resolveAddonPath();
  let loaded: NativeAddon;
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (error) {
    throw new NativeAddonError(`the native addon at ${path} cannot be loaded: ${(error as Error).message.split('\n')[0]}; ${REBUILD_HINT}`);
  }
  if (isStaleLocalBuild(path)) {
    throw new NativeAddonError(`the native addon is stale (native/netlink_socket.cc changed after it was built); ${REBUILD_HINT}`);
  }
  if (loaded.abiVersion !== EXPECTED_ADDON_ABI) {
    throw new NativeAddonError(
      `the native addon ${path} is stale (interface ${String(loaded.abiVersion)}, this code needs ${EXPECTED_ADDON_ABI}); ${REBUILD_HINT}`,
    );
  }
  addon = loaded;
  return loaded;
}
