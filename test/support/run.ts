import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, XAEV_BIN } from './paths.js';

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI as a child process, the way a user would; with `uid`, as that user (see otherUserCopy). */
export function runXaev(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; uid?: number; gid?: number } = {}): RunResult {
  const asOther = options.uid !== undefined && options.uid !== process.getuid?.();
  const { node, bin } = asOther ? otherUserCopy() : { node: process.execPath, bin: XAEV_BIN };
  const result = spawnSync(node, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    input: options.input ?? '',
    timeout: 30_000,
    // `list` of thousands of SAs prints megabytes (the default cap, 1 MiB, kills the child).
    maxBuffer: 64 * 1024 * 1024,
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let copy: { node: string; bin: string } | undefined;

/**
 * What `bin/xaev.js` runs from (the bundle, its code cache, the addon, and this Node binary),
 * copied once into a directory every user can read. The checkout may sit below a directory
 * another user cannot enter (root clones into /root, mode 0700), and so may the Node binary
 * (a fetched Node line in a private cache): run from there, uid 65534 could not even load xaev.
 */
function otherUserCopy(): { node: string; bin: string } {
  if (copy) return copy;
  const dir = mkdtempSync(join(tmpdir(), 'xaev-other-user-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const part of ['package.json', 'bin', 'build/Release']) cpSync(join(REPO_ROOT, part), join(dir, part), { recursive: true });
  mkdirSync(join(dir, 'dist'));
  for (const file of readdirSync(join(REPO_ROOT, 'dist'))) {
    if (file.startsWith('xaev.cjs')) copyFileSync(join(REPO_ROOT, 'dist', file), join(dir, 'dist', file));
  }
  const node = join(dir, 'node');
  try {
    linkSync(process.execPath, node); // no copy of ~100 MB where the file system allows it
  } catch {
    copyFileSync(process.execPath, node);
  }
  chmodSync(node, 0o755);
  spawnSync('chmod', ['-R', 'a+rX', dir]);
  copy = { node, bin: join(dir, 'bin', 'xaev.js') };
  return copy;
}
