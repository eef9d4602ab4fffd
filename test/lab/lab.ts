// xaev kernel lab: host-side API. Boots a user-mode-linux (UML) kernel with
// ESP/AH support as an ordinary process, runs a shell scenario inside it
// (test/lab/uml-init.sh is PID 1) and returns the scenario's exit status and
// output. The guest sees the host's / read-only (hostfs) and writes results
// into a fresh host temp directory (outDir) mounted writable.
//
//   import { labStatus, runInLab } from '../lab/lab.js';
//   const st = labStatus();
//   if (!st.available) t.skip(st.reason);
//   const run = await runInLab('/work/main/test/lab/smoke.sh');
//
// Requirements: Debian/Ubuntu package `user-mode-linux` (/usr/bin/linux.uml,
// modules in /usr/lib/uml/modules/<version>) and `kmod` (modprobe), iproute2
// on the host (the guest runs the host's binaries). Root on the host is
// required (see labStatus).

import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants as fsc,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LabStatus {
  available: boolean;
  /** Why the lab is unavailable, with the exact command that enables it; "ok: ..." when available. */
  reason: string;
}

export interface LabRun {
  /** Exit status of the scenario (124: in-guest timeout; -1: no status written, e.g. the host-side timeout killed UML). */
  exitCode: number;
  /** Host directory with everything the scenario wrote ($LAB_OUT inside the guest). Not removed automatically. */
  outDir: string;
  /** UML stdout+stderr: kernel log, init messages, scenario output (copied by tee). */
  console: string;
  /** The scenario's stdout+stderr ($LAB_OUT/scenario.log). */
  scenarioLog: string;
  /** Wall-clock time from spawning linux.uml until it exited. */
  durationMs: number;
  /** True when the host-side timeout killed the UML process group. */
  timedOut: boolean;
}

export interface RunOptions {
  /**
   * Extra environment for the scenario. Keys must match [A-Za-z_][A-Za-z0-9_]*;
   * values may be arbitrary strings: they are written (sh-quoted) into
   * $LAB_OUT/lab-env.sh, which uml-init.sh sources, never put on the kernel
   * command line (where values could not contain spaces).
   */
  env?: Record<string, string>;
  /** Host-side limit for the whole run (boot + scenario + power off), default 60000. The scenario itself gets this minus 8 s (min 3 s). */
  timeoutMs?: number;
  /** Guest memory in MiB, default 512. */
  memMb?: number;
  /** Stream the console to this process's stdout live (still collected in `console`). Default false. */
  interactive?: boolean;
  /** Add `quiet` to the kernel command line (no boot messages on the console). Default: same as interactive. */
  quiet?: boolean;
  /** Extra modules to load at boot (space-separated names in LAB_MODULES), e.g. ['sch_netem']. */
  modules?: string[];
}

export const UML_BIN = process.env.XAEV_LAB_UML ?? '/usr/bin/linux.uml';
export const UML_MODULES = '/usr/lib/uml/modules';

const here = dirname(fileURLToPath(import.meta.url));

/** Repository root: this file is test/lab/lab.ts or dist/test/lab/lab.js. */
function findRepoRoot(): string {
  for (const up of ['../..', '../../..']) {
    const dir = resolve(here, up);
    if (existsSync(join(dir, 'test/lab/uml-init.sh'))) return dir;
  }
  return resolve(here, '../../..');
}

export const REPO_ROOT = findRepoRoot();
/** Source directory with uml-init.sh, topology.sh and the shell scenarios. */
export const LAB_DIR = join(REPO_ROOT, 'test/lab');
export const INIT_SCRIPT = join(LAB_DIR, 'uml-init.sh');
/** Compiled traffic generator (run inside the guest with `ip netns exec NS node ...`). */
export const TRAFFIC_JS = join(REPO_ROOT, 'dist/test/lab/traffic.js');

const INSTALL_HINT =
  'as root run `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y user-mode-linux kmod` ' +
  '(or call ensureLab({ install: true }) as root)';

function isExecutable(p: string): boolean {
  try {
    accessSync(p, fsc.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && isExecutable(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

let umlVersionCache: string | undefined;

/** Kernel release of linux.uml (`linux.uml --version`), e.g. "6.1.176". */
function umlVersion(): string | undefined {
  if (umlVersionCache !== undefined) return umlVersionCache;
  const r = spawnSync(UML_BIN, ['--version'], { encoding: 'utf8', timeout: 10000 });
  const v = r.status === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
  if (v) umlVersionCache = v;
  return v;
}

function hasModule(dir: string, rel: string): boolean {
  return ['', '.xz', '.zst', '.gz'].some((ext) => existsSync(join(dir, rel + ext)));
}

/** Is the lab usable here? Checks Linux, root, linux.uml, its modules, modprobe, ip, and the lab scripts. */
export function labStatus(): LabStatus {
  const { available, reason } = check();
  return { available, reason };
}

/** labStatus plus whether installing user-mode-linux + kmod could fix it. */
function check(): LabStatus & { installable: boolean } {
  const no = (reason: string, installable = false) => ({ available: false, reason, installable });
  if (process.platform !== 'linux') return no(`the kernel lab needs Linux (this is ${process.platform})`);
  // UML itself would run unprivileged, but the lab (hostfs root, installing the
  // package, test expectations) is only supported as root.
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return no('the kernel lab must run as root (uid 0): run the tests with sudo or in a root container');
  }
  if (!isExecutable(UML_BIN)) return no(`${UML_BIN} not found: ${INSTALL_HINT}`, true);
  const ver = umlVersion();
  if (!ver) return no(`\`${UML_BIN} --version\` failed: reinstall with ${INSTALL_HINT}`, true);
  const modDir = join(UML_MODULES, ver);
  for (const m of ['kernel/net/xfrm/xfrm_user.ko', 'kernel/net/ipv4/esp4.ko', 'kernel/drivers/net/veth.ko']) {
    if (!hasModule(modDir, m)) {
      return no(`UML module ${join(modDir, m)} missing (linux.uml ${ver} without matching modules): ${INSTALL_HINT}`, true);
    }
  }
  if (!existsSync('/sbin/modprobe') && !existsSync('/usr/sbin/modprobe')) {
    return no(`modprobe (package kmod) not found: ${INSTALL_HINT}`, true);
  }
  if (!which('ip')) return no('`ip` (iproute2) not found: as root run `apt-get install -y iproute2`');
  if (!existsSync(INIT_SCRIPT)) return no(`${INIT_SCRIPT} missing (broken checkout?)`);
  if (!existsSync(TRAFFIC_JS)) return no(`${TRAFFIC_JS} missing: run \`npx tsc -p tsconfig.json\` in ${REPO_ROOT}`);
  return { available: true, reason: `ok: ${UML_BIN} ${ver}, modules in ${modDir}`, installable: false };
}

/**
 * labStatus(), installing user-mode-linux + kmod with apt-get first when they are
 * missing, we are root, apt-get exists and opts.install !== false.
 */
export function ensureLab(opts: { install?: boolean } = {}): LabStatus {
  const { installable, ...st } = check();
  // Only a missing/broken user-mode-linux or kmod package is fixed by installing.
  if (st.available || opts.install === false || !installable) return st;
  const apt = which('apt-get');
  if (!apt) return { available: false, reason: `${st.reason} (apt-get not found: install user-mode-linux and kmod by other means)` };
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', 'user-mode-linux', 'kmod']]) {
    const r = spawnSync(apt, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60 * 1000 });
    if (r.status !== 0) {
      const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-5).join(' | ');
      return { available: false, reason: `\`apt-get ${args.join(' ')}\` failed (${r.status ?? r.signal}): ${tail}; ${st.reason}` };
    }
  }
  umlVersionCache = undefined;
  return labStatus();
}

/** Directory for UML's own files (memory file via TMPDIR, umid dir): /dev/shm when usable (not noexec), else os.tmpdir(). */
function umlRuntimeBase(): string {
  const forced = process.env.XAEV_LAB_TMPDIR;
  if (forced) return forced;
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8');
    const shm = mounts.split('\n').find((l) => l.split(' ')[1] === '/dev/shm');
    // UML maps its memory file executable, which fails on a noexec mount.
    if (shm && !/\bnoexec\b/.test(shm.split(' ')[3] ?? '') && isWritableDir('/dev/shm')) return '/dev/shm';
  } catch {
    /* fall through */
  }
  return tmpdir();
}

function isWritableDir(d: string): boolean {
  try {
    accessSync(d, fsc.W_OK);
    return statSync(d).isDirectory();
  } catch {
    return false;
  }
}

/** Kernel command-line words cannot contain spaces; hostfs mount options cannot contain commas. */
const SAFE_PATH = /^\/[A-Za-z0-9._/+-]*$/;

function outBase(): string {
  const t = tmpdir();
  return SAFE_PATH.test(t) ? t : '/tmp';
}

function shQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

let runCounter = 0;
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // UML runs in its own process group (detached); do not leave it behind if we die.
  process.on('exit', () => {
    for (const pid of liveGroups) killGroup(pid);
  });
}

/**
 * Boot UML, run `scenarioScript` (a host path to a sh script; it is copied into
 * outDir as scenario.sh) as root inside it, power off, and collect results.
 * Inside the guest the scenario sees LAB_OUT, LAB_REPO, LAB_DIR, LAB_NODE,
 * LAB_TRAFFIC, LAB_SCENARIO_SRC plus opts.env, and usually starts with
 *   . "$LAB_DIR/topology.sh"
 * Rejects only if the lab is unavailable or linux.uml cannot be spawned; a
 * failing scenario or a timeout is reported in the result.
 */
export async function runInLab(scenarioScript: string, opts: RunOptions = {}): Promise<LabRun> {
  const st = labStatus();
  if (!st.available) throw new Error(`kernel lab unavailable: ${st.reason}`);
  const timeoutMs = opts.timeoutMs ?? 60000;
  const memMb = opts.memMb ?? 512;
  const interactive = opts.interactive ?? false;
  const quiet = opts.quiet ?? interactive;
  const scenarioSrc = resolve(scenarioScript);
  if (!existsSync(scenarioSrc)) throw new Error(`scenario ${scenarioSrc} not found`);
  if (!SAFE_PATH.test(INIT_SCRIPT)) throw new Error(`path of ${INIT_SCRIPT} must not contain spaces or commas`);

  const outDir = mkdtempSync(join(outBase(), 'xaev-lab-'));
  const runtimeDir = mkdtempSync(join(umlRuntimeBase(), 'xaev-uml-'));
  const umid = `xaev-${process.pid}-${++runCounter}`;

  copyFileSync(scenarioSrc, join(outDir, 'scenario.sh'));
  chmodSync(join(outDir, 'scenario.sh'), 0o755);

  const env: Record<string, string> = {
    LAB_REPO: REPO_ROOT,
    LAB_DIR,
    LAB_NODE: process.execPath,
    LAB_TRAFFIC: TRAFFIC_JS,
    LAB_SCENARIO_SRC: scenarioSrc,
    ...(opts.modules?.length ? { LAB_MODULES: opts.modules.join(' ') } : {}),
    ...opts.env,
  };
  let envFile = '# written by test/lab/lab.ts runInLab; sourced by uml-init.sh\n';
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`runInLab: bad environment variable name '${k}'`);
    envFile += `export ${k}=${shQuote(v)}\n`;
  }
  writeFileSync(join(outDir, 'lab-env.sh'), envFile);

  const scenarioTimeoutS = Math.max(3, Math.floor((timeoutMs - 8000) / 1000));
  const args = [
    `mem=${memMb}M`,
    'rootfstype=hostfs',
    'rootflags=/',
    'ro',
    // init=/bin/sh + `-- script`: works even if the checkout lost the x bit
    // (a non-executable init= fails with error -13 and panics the kernel).
    'init=/bin/sh',
    'con=null',
    'con0=fd:0,fd:1',
    'ssl=null',
    `umid=${umid}`,
    `uml_dir=${runtimeDir}`,
    ...(quiet ? ['quiet'] : []),
    `LAB_OUT=${outDir}`,
    `LAB_SCENARIO=${join(outDir, 'scenario.sh')}`,
    `LAB_TIMEOUT=${scenarioTimeoutS}`,
    // Everything after `--` becomes init's argv.
    '--',
    INIT_SCRIPT,
  ];

  const started = Date.now();
  // detached: own process group (UML forks helper processes; a timeout kills the group).
  // stdin is a pipe we keep open: UML's console driver wants a pollable fd 0
  // (with /dev/null it logs "epollctl add err fd 0").
  const child = spawn(UML_BIN, args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      TMPDIR: runtimeDir,
      HOME: runtimeDir,
    },
  });
  installExitHook();
  if (child.pid !== undefined) liveGroups.add(child.pid);

  const chunks: Buffer[] = [];
  const onData = (b: Buffer) => {
    chunks.push(b);
    if (interactive) process.stdout.write(b);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.stdin.on('error', () => {
    /* UML gone */
  });

  let timedOut = false;
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>(
    (resolveRun) => {
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) killGroup(child.pid);
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        resolveRun({ code: null, signal: null, spawnError: e });
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolveRun({ code, signal });
      });
    },
  );
  const durationMs = Date.now() - started;
  if (child.pid !== undefined) {
    // Reap any UML helper still around (normally none after power off).
    killGroup(child.pid);
    liveGroups.delete(child.pid);
  }
  child.stdin.destroy();
  rmSync(runtimeDir, { recursive: true, force: true });
  if (result.spawnError) throw new Error(`cannot start ${UML_BIN}: ${result.spawnError.message}`);

  const read = (f: string): string | undefined => {
    try {
      return readFileSync(join(outDir, f), 'utf8');
    } catch {
      return undefined;
    }
  };
  const status = read('exit-status');
  const exitCode = status !== undefined && /^\d+\s*$/.test(status) ? Number(status) : -1;
  let consoleText = Buffer.concat(chunks).toString('utf8');
  if (timedOut) consoleText += `\n[runInLab: killed after ${timeoutMs} ms]\n`;
  else if (exitCode === -1) consoleText += `\n[runInLab: linux.uml exited (code ${result.code}, signal ${result.signal}) without writing exit-status]\n`;
  return {
    exitCode,
    outDir,
    console: consoleText,
    scenarioLog: read('scenario.log') ?? '',
    durationMs,
    timedOut,
  };
}

/** Files the scenario left in run.outDir (sorted, relative names). */
export function labOutputs(run: LabRun): string[] {
  const walk = (d: string, pre: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name), `${pre}${e.name}/`) : [`${pre}${e.name}`],
    );
  return walk(run.outDir, '').sort();
}

/** Read a file the scenario wrote into $LAB_OUT ('' if missing). */
export function labFile(run: LabRun, name: string): string {
  try {
    return readFileSync(join(run.outDir, name), 'utf8');
  } catch {
    return '';
  }
}

/** Remove run.outDir (call when a test passed and the files are no longer needed). */
export function cleanupLab(run: LabRun): void {
  rmSync(run.outDir, { recursive: true, force: true });
}

