// Loads the C++ addon (native/netlink_socket.cc) and describes its interface. The addon does
// socket syscalls only; everything protocol-specific is TypeScript.
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { PACKAGE_ROOT } from '../package-root.js';

/** Bumped with every change to the addon's JS interface, to detect a stale build. */
export const EXPECTED_ADDON_ABI = 1;

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
