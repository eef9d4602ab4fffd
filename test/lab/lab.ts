// xaev kernel lab: host-side API. Boots a user-mode-linux (UML) kernel with
// ESP/AH support as an ordinary process, runs a shell scenario inside it
// (test/lab/uml-init.sh is PID 1) and returns the scenario's exit status and
// output. The guest sees the host's / read-only (hostfs) and writes results
// into a fresh host temp directory (outDir) mounted writable.
//
// Two kernels (docs/lab.md): 'uml-6.1' (Debian's user-mode-linux package,
// the default) and 'uml-6.12' (built once from Debian's linux-source-6.12 by
// test/lab/build-uml.sh and cached outside the checkout). Run a scenario on
// every kernel with describeOnLabKernels:
//
//   import { bootOnce, describeOnLabKernels } from './lab/lab.js';
//   describeOnLabKernels('kernel lab: my scenario', { timeout: 300_000 }, (kernel) => {
//     const { file } = bootOnce(kernel, 'my.sh', { timeoutMs: 240_000 }); // test/lab/my.sh, once per kernel
//     it('...', () => assert.equal(file('out.txt'), kernel.id === 'uml-6.12' ? '...' : '...'));
//   });
//
// Requirements: Debian/Ubuntu packages `user-mode-linux` (/usr/bin/linux.uml,
// modules in /usr/lib/uml/modules/<version>) and `kmod` (modprobe), iproute2
// on the host (the guest runs the host's binaries); for uml-6.12
// `linux-source-6.12 bc flex bison build-essential`. Root on the host is
// required (see labStatus).

import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  appendFileSync,
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
import { after, before, describe } from 'node:test';
import { gunzipSync } from 'node:zlib';
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
  /** Extra modules to load at boot (space-separated names in LAB_MODULES), e.g. ['sch_netem']. Ignored by kernels without modules (uml-6.12 has everything built in). */
  modules?: string[];
  /** Which lab kernel boots (LAB_KERNEL_IDS), default DEFAULT_LAB_KERNEL ('uml-6.1'). */
  kernel?: LabKernelId;
}

/** The lab kernels, in the order tests run on them. */
export const LAB_KERNEL_IDS = ['uml-6.1', 'uml-6.12'] as const;
export type LabKernelId = (typeof LAB_KERNEL_IDS)[number];
/**
 * The kernel runInLab, labStatus and ensureLab use when none is given: uml-6.1, or
 * $XAEV_LAB_DEFAULT_KERNEL (to run a test file not yet written for every kernel on another).
 */
export const DEFAULT_LAB_KERNEL: LabKernelId = defaultKernel(process.env.XAEV_LAB_DEFAULT_KERNEL);

function defaultKernel(fromEnv: string | undefined): LabKernelId {
  if (fromEnv === undefined || fromEnv === '') return 'uml-6.1';
  const known = LAB_KERNEL_IDS.find((id) => id === fromEnv);
  if (!known) throw new Error(`XAEV_LAB_DEFAULT_KERNEL=${fromEnv}: must be one of ${LAB_KERNEL_IDS.join(', ')}`);
  return known;
}

export interface LabKernel extends LabStatus {
  id: LabKernelId;
  /** The UML binary (may not exist when unavailable). */
  binary: string;
  /** Module tree for the guest's modprobe, or undefined when everything is built in. */
  modulesDir?: string;
  /** `uname -r` of the guest, when known. */
  release?: string;
  /** CONFIG_HZ of the kernel's build configuration, when known. */
  hz?: number;
  /** Whether /proc/config.gz exists in the guest (xaev then reads HZ from it instead of probing). */
  configGz: boolean;
}

/** The uml-6.1 kernel (Debian's user-mode-linux). */
export const UML_BIN = process.env.XAEV_LAB_UML ?? '/usr/bin/linux.uml';
export const UML_MODULES = '/usr/lib/uml/modules';
/** Debian's build configuration of UML_BIN. */
const UML_CONFIG = '/usr/share/doc/user-mode-linux/config.gz';

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
/** Builds and caches the uml-6.12 kernel: `build-uml.sh path|build`. */
export const BUILD_SCRIPT = join(LAB_DIR, 'build-uml.sh');
/** Compiled traffic generator (run inside the guest with `ip netns exec NS node ...`). */
export const TRAFFIC_JS = join(REPO_ROOT, 'dist/test/lab/traffic.js');

/** What building the uml-6.12 kernel needs from apt. */
const SOURCE_PACKAGES = ['linux-source-6.12', 'bc', 'flex', 'bison', 'build-essential', 'xz-utils', 'user-mode-linux', 'kmod'];

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

const versionCache = new Map<string, string>();

/** Kernel release of a UML binary (`linux --version`), e.g. "6.1.176". */
function umlVersion(binary: string): string | undefined {
  const cached = versionCache.get(binary);
  if (cached) return cached;
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10000 });
  const v = r.status === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
  if (v) versionCache.set(binary, v);
  return v;
}

function hasModule(dir: string, rel: string): boolean {
  return ['', '.xz', '.zst', '.gz'].some((ext) => existsSync(join(dir, rel + ext)));
}

/** CONFIG_HZ from a kernel build configuration (plain or gzip), undefined if unreadable. */
function configHz(configFile: string): number | undefined {
  try {
    let text = readFileSync(configFile);
    if (configFile.endsWith('.gz')) text = gunzipSync(text);
    const m = /^CONFIG_HZ=(\d+)$/m.exec(text.toString('utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Is the lab usable here with `kernel` (default DEFAULT_LAB_KERNEL)? Checks Linux, root, the kernel, its modules, modprobe, ip, and the lab scripts. */
export function labStatus(kernel: LabKernelId = DEFAULT_LAB_KERNEL): LabStatus {
  const { available, reason } = check(kernel);
  return { available, reason };
}

type Checked = LabKernel & { installable: boolean; buildable: boolean };

/** Everything about one kernel, plus whether installing packages or building could make it available. */
function check(id: LabKernelId): Checked {
  const base = id === 'uml-6.12' ? kernel612() : kernel61();
  const no = (reason: string, fix: { installable?: boolean; buildable?: boolean } = {}): Checked => ({
    ...base,
    available: false,
    reason,
    installable: fix.installable ?? false,
    buildable: fix.buildable ?? false,
  });
  if (process.platform !== 'linux') return no(`the kernel lab needs Linux (this is ${process.platform})`);
  // UML itself would run unprivileged, but the lab (hostfs root, installing the
  // package, test expectations) is only supported as root.
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return no('the kernel lab must run as root (uid 0): run the tests with sudo or in a root container');
  }
  const selected = process.env.XAEV_LAB_KERNELS;
  if (selected !== undefined && !selected.split(/[ ,]+/).includes(id)) return no(`not selected by XAEV_LAB_KERNELS=${selected}`);
  const problem = id === 'uml-6.12' ? missing612(base) : missing61(base);
  if (problem) return no(problem.reason, problem);
  if (!existsSync('/sbin/modprobe') && !existsSync('/usr/sbin/modprobe')) {
    return no(`modprobe (package kmod) not found: ${INSTALL_HINT}`, { installable: true });
  }
  if (!which('ip')) return no('`ip` (iproute2) not found: as root run `apt-get install -y iproute2`');
  if (!existsSync(INIT_SCRIPT)) return no(`${INIT_SCRIPT} missing (broken checkout?)`);
  if (!existsSync(TRAFFIC_JS)) return no(`${TRAFFIC_JS} missing: run \`npx tsc -p tsconfig.json\` in ${REPO_ROOT}`);
  const where = base.modulesDir ? `modules in ${base.modulesDir}` : 'everything built in';
  return {
    ...base,
    available: true,
    reason: `ok: ${id} ${base.binary} ${base.release ?? ''} (HZ=${base.hz ?? '?'}, ${where})`,
    installable: false,
    buildable: false,
  };
}

function kernel61(): LabKernel {
  const release = isExecutable(UML_BIN) ? umlVersion(UML_BIN) : undefined;
  return {
    id: 'uml-6.1',
    binary: UML_BIN,
    modulesDir: release ? join(UML_MODULES, release) : undefined,
    release,
    // Debian's UML is HZ=100 and has /proc/config.gz (module `configs`).
    hz: configHz(UML_CONFIG) ?? 100,
    configGz: true,
    available: false,
    reason: '',
  };
}

type Problem = { reason: string; installable?: boolean; buildable?: boolean };

function missing61(k: LabKernel): Problem | undefined {
  if (!isExecutable(k.binary)) return { reason: `${k.binary} not found: ${INSTALL_HINT}`, installable: true };
  if (!k.release || !k.modulesDir) return { reason: `\`${k.binary} --version\` failed: reinstall with ${INSTALL_HINT}`, installable: true };
  for (const m of ['kernel/net/xfrm/xfrm_user.ko', 'kernel/net/ipv4/esp4.ko', 'kernel/drivers/net/veth.ko']) {
    if (!hasModule(k.modulesDir, m)) {
      return { reason: `UML module ${join(k.modulesDir, m)} missing (linux.uml ${k.release} without matching modules): ${INSTALL_HINT}`, installable: true };
    }
  }
  return undefined;
}

/** Where build-uml.sh keeps (or would keep) the 6.12 kernel; undefined when it cannot say (no source package). */
function kernel612Dir(): { dir?: string; error?: string } {
  const r = spawnSync('sh', [BUILD_SCRIPT, 'path'], { encoding: 'utf8', timeout: 20000 });
  if (r.status === 0 && r.stdout.trim()) return { dir: r.stdout.trim() };
  return { error: (r.stderr || String(r.error ?? r.status)).trim() };
}

function kernel612(): LabKernel {
  const { dir } = kernel612Dir();
  const binary = dir ? join(dir, 'linux') : '(not built)';
  const built = dir !== undefined && isExecutable(binary);
  return {
    id: 'uml-6.12',
    binary,
    modulesDir: undefined,
    release: built ? umlVersion(binary) : undefined,
    hz: dir ? configHz(join(dir, 'config')) : undefined,
    configGz: false,
    available: false,
    reason: '',
  };
}

const BUILD_HINT = `as root run \`sh test/lab/build-uml.sh build\` (about 4 minutes; needs ${SOURCE_PACKAGES.join(' ')})`;

function missing612(k: LabKernel): Problem | undefined {
  const { error } = kernel612Dir();
  if (error) return { reason: `${error.split('\n').at(-1)}`, installable: true, buildable: true };
  if (!isExecutable(k.binary) || !k.release) return { reason: `${k.binary} not built yet: ${BUILD_HINT}`, buildable: true };
  return undefined;
}

/** Run `cmd args` for ensureLab; a one-line failure reason, or undefined on success. */
function runStep(cmd: string, args: string[], timeoutMs: number, env = process.env): string | undefined {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  if (r.status === 0) return undefined;
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-5).join(' | ');
  return `\`${[cmd, ...args].join(' ')}\` failed (${r.status ?? r.signal}): ${tail}`;
}

/**
 * labStatus(kernel), first fixing what can be fixed when we are root and
 * opts.install !== false: installing user-mode-linux + kmod (and, for
 * uml-6.12, the source package and build tools) with apt-get, and building
 * the uml-6.12 kernel (once; cached, see build-uml.sh; minutes).
 */
export function ensureLab(opts: { install?: boolean; kernel?: LabKernelId } = {}): LabStatus {
  const id = opts.kernel ?? DEFAULT_LAB_KERNEL;
  const { installable, buildable, available, reason } = check(id);
  if (available || opts.install === false || !(installable || buildable)) return { available, reason };
  if (installable) {
    const apt = which('apt-get');
    if (!apt) return { available: false, reason: `${reason} (apt-get not found: install the packages by other means)` };
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const packages = id === 'uml-6.12' ? SOURCE_PACKAGES : ['user-mode-linux', 'kmod'];
    for (const args of [['update'], ['install', '-y', ...packages]]) {
      const failed = runStep(apt, args, 15 * 60 * 1000, env);
      if (failed) return { available: false, reason: `${failed}; ${reason}` };
    }
    versionCache.clear();
  }
  if (id === 'uml-6.12' && check(id).buildable) {
    process.stderr.write(`kernel lab: building the uml-6.12 kernel once (${BUILD_SCRIPT} build, about 4 minutes)\n`);
    const failed = runStep('sh', [BUILD_SCRIPT, 'build'], 40 * 60 * 1000);
    if (failed) return { available: false, reason: failed };
  }
  return labStatus(id);
}

/** Every lab kernel with its status (as ensureLab when opts.ensure, else as labStatus). */
export function labKernels(opts: { ensure?: boolean } = {}): LabKernel[] {
  return LAB_KERNEL_IDS.map((id) => {
    if (opts.ensure) ensureLab({ kernel: id });
    const { installable: _i, buildable: _b, ...kernel } = check(id);
    return kernel;
  });
}

/** One describe() per lab kernel, named "NAME [uml-6.12]" and skipped with the kernel's reason when it is unavailable. As root, missing kernels are installed or built first. */
export function describeOnLabKernels(
  name: string,
  options: { timeout?: number; concurrency?: number | boolean },
  fn: (kernel: LabKernel) => void,
): void {
  const asRoot = process.getuid?.() === 0;
  for (const kernel of labKernels({ ensure: asRoot })) {
    const skip = kernel.available ? false : `kernel lab (${kernel.id}) unavailable: ${kernel.reason}`;
    if (skip) recordKernel(kernel, 'skipped');
    describe(`${name} [${kernel.id}]`, { ...options, skip }, () => fn(kernel));
  }
}

/**
 * Boots waiting for the first of their group to start (bootBeside). A scenario's boots on
 * every kernel run side by side, one UML per kernel, so `npm test` waits for the slower
 * kernel rather than for both in turn; different scenarios still run one after another.
 * XAEV_LAB_SEQUENTIAL=1 boots one kernel at a time.
 */
const waitingBoots = new Map<string, (() => void)[]>();

/**
 * Boots that started beside another kernel's but that no hook of their own ever took (their
 * tests were filtered out, or the run was aborted): their outputs are removed when the test
 * process exits. It exits only after they finished: their UML child keeps it alive.
 */
const unclaimedBoots: (() => LabRun | undefined)[] = [];
process.once('exit', () => {
  if (process.env.XAEV_LAB_KEEP) return;
  for (const unclaimed of unclaimedBoots) {
    const run = unclaimed();
    if (run) cleanupLab(run);
  }
});

/**
 * Register, while describe()s are being collected, a boot that starts together with the
 * other boots registered under the same key (the same scenario on the other kernels):
 * start() starts the group (each boot once) and gives this boot's run; running() gives it
 * only if it has started. Either way the caller takes over its outputs; a boot started beside
 * others and never taken has its rejection handled and its outputs removed at exit.
 */
export function bootBeside(
  key: string,
  available: boolean,
  boot: () => Promise<LabRun>,
): { start: () => Promise<LabRun>; running: () => Promise<LabRun> | undefined } {
  let started: Promise<LabRun> | undefined;
  let finished: LabRun | undefined;
  let claimed = false;
  const startThis = (): Promise<LabRun> => {
    if (!started) {
      started = boot();
      // Awaited (and reported) by this kernel's own hook; if none ever takes it, swept at exit.
      started.then((run) => (finished = run)).catch(() => undefined);
      unclaimedBoots.push(() => (claimed ? undefined : finished));
    }
    return started;
  };
  if (available && !process.env.XAEV_LAB_SEQUENTIAL) waitingBoots.set(key, [...(waitingBoots.get(key) ?? []), startThis]);
  return {
    start: () => {
      claimed = true;
      for (const other of waitingBoots.get(key)?.splice(0) ?? []) other();
      return startThis();
    },
    running: () => {
      claimed = true;
      return started;
    },
  };
}

/**
 * Inside a describe(): boot `scenario` (a file in LAB_DIR, or an absolute path) on
 * `kernel` once in a before() hook, fail the hook unless it exits 0, and remove
 * its outputs in after() (unless XAEV_LAB_KEEP is set). `file(name)` reads what
 * the scenario wrote into $LAB_OUT. The same scenario's boots on the other kernels
 * (through describeOnLabKernels) start at the same time as this one.
 */
export function bootOnce(
  kernel: LabKernel | LabKernelId,
  scenario: string,
  opts: RunOptions = {},
): { run: () => LabRun; file: (name: string) => string } {
  let run: LabRun | undefined;
  const kernelId = typeof kernel === 'string' ? kernel : kernel.id;
  const path = resolve(LAB_DIR, scenario);
  const available = typeof kernel === 'string' ? labStatus(kernel).available : kernel.available;
  const boot = bootBeside(path, available, () => runInLab(path, { ...opts, kernel: kernelId }));
  before(async () => {
    run = await boot.start();
    if (run.exitCode !== 0) {
      throw new Error(`${scenario} on ${kernelId} exited ${run.exitCode}\n${run.scenarioLog}\n${run.console.slice(-3000)}`);
    }
  });
  after(async () => {
    // A boot started beside another kernel's is cleaned up even if its own before() never ran.
    const finished = run ?? (await boot.running()?.catch(() => undefined));
    if (finished && !process.env.XAEV_LAB_KEEP) cleanupLab(finished);
  });
  const current = (): LabRun => {
    if (!run) throw new Error(`${scenario} has not run on ${kernelId} (its before() hook failed)`);
    return run;
  };
  return { run: current, file: (name: string) => labFile(current(), name) };
}

/**
 * Record which kernels ran (or were skipped) in $XAEV_LAB_REPORT, a file that
 * test/lab/kernel-report.ts gives to `npm test` and summarises in one line.
 */
function recordKernel(kernel: LabKernel, what: 'ran' | 'skipped'): void {
  const file = process.env.XAEV_LAB_REPORT;
  if (!file) return;
  const detail = what === 'ran' ? `HZ=${kernel.hz ?? '?'}` : kernel.reason;
  appendFileSync(file, `${JSON.stringify({ kernel: kernel.id, what, detail })}\n`);
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
 * LAB_TRAFFIC, LAB_SCENARIO_SRC, LAB_KERNEL (e.g. uml-6.12), LAB_KERNEL_HZ
 * plus opts.env, and usually starts with
 *   . "$LAB_DIR/topology.sh"
 * Rejects only if the lab (opts.kernel) is unavailable or UML cannot be spawned; a
 * failing scenario or a timeout is reported in the result.
 */
export async function runInLab(scenarioScript: string, opts: RunOptions = {}): Promise<LabRun> {
  const kernel = check(opts.kernel ?? DEFAULT_LAB_KERNEL);
  if (!kernel.available) throw new Error(`kernel lab (${kernel.id}) unavailable: ${kernel.reason}`);
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
    LAB_KERNEL: kernel.id,
    LAB_KERNEL_HZ: String(kernel.hz ?? ''),
    // 'none': the kernel has no module support (uml-init.sh skips modprobe).
    LAB_UML_MODULES: kernel.modulesDir ? dirname(kernel.modulesDir) : 'none',
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
  const child = spawn(kernel.binary, args, {
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
  if (result.spawnError) throw new Error(`cannot start ${kernel.binary}: ${result.spawnError.message}`);
  recordKernel(kernel, 'ran');

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
  else if (exitCode === -1) consoleText += `\n[runInLab: ${kernel.id} exited (code ${result.code}, signal ${result.signal}) without writing exit-status]\n`;
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

