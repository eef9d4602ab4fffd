import { spawnSync } from 'node:child_process';
import { XAEV_BIN } from './paths.js';

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI as a child process, the way a user would. */
export function runXaev(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; uid?: number; gid?: number } = {}): RunResult {
  const result = spawnSync(process.execPath, [XAEV_BIN, ...args], {
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
