// Loads the C++ addon (native/netlink_socket.cc) and describes its interface. The addon does
// socket syscalls only; everything protocol-specific is TypeScript.
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/** Bumped with every change to the addon's JS interface, to detect a stale build. */
export const EXPECTED_ADDON_ABI = 2;

export interface NativeNetlinkSocket {
  readonly portId: number;
  readonly fd: number;
  setReceiveBufferSize(bytes: number): number;
  getReceiveBufferSize(): number;
  addMembership(group: number): void;
  dropMembership(group: number): void;
  send(data: Uint8Array): number;
  receive(timeoutMs: number): Buffer | null;
  receiveAll(timeoutMs: number): Buffer[];
  /**
   * Like receiveAll, into `buffer` (at least 64 KiB): datagrams back to back at 4-aligned
   * offsets, zero-padded. Returns the bytes used, 0 after timeoutMs with nothing received.
   */
  receiveInto(buffer: Uint8Array, timeoutMs: number): number;
  startReceiving(onDatagrams: (datagrams: Buffer[]) => void, onOverrun: () => void): void;
  stopReceiving(): void;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NativeAddon {
  abiVersion: number;
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
