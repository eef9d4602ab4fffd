// xaev kernel lab: host-side API. Boots a user-mode-linux (UML) kernel with
// ESP/AH support as an ordinary process, runs a shell scenario inside it
// (test/lab/uml-init.sh is PID 1) and returns the scenario's exit status and
// output. The guest sees the host's / read-only (hostfs) and writes results
// into a fresh host temp directory (outDir) mounted writable.
//
// Three kernels (docs/lab.md): 'uml-6.1' (Debian's user-mode-linux package,
// the default), 'uml-6.12' and 'uml-7.3' (built once from Debian's
// linux-source-6.12 and trixie-backports' linux-source-7.3 by
// test/lab/build-uml.sh and cached outside the checkout). Nothing here installs
// or builds: test/lab/provision.ts does, once, before the suites run. Run a
// scenario on every kernel with describeOnLabKernels:
//
//   import { bootOnce, describeOnLabKernels } from './lab/lab.js';
//   describeOnLabKernels('kernel lab: my scenario', { timeout: 300_000 }, (kernel) => {
//     const { file } = bootOnce(kernel, 'my.sh', { timeoutMs: 240_000 }); // test/lab/my.sh, once per kernel
//     it('...', () => assert.equal(file('out.txt'), kernel.id === 'uml-6.12' ? '...' : '...'));
//   });
//
// Requirements (provision.ts LAB_PACKAGES): Debian's `user-mode-linux`
// (/usr/bin/linux.uml, modules in /usr/lib/uml/modules/<version>) and `kmod`
// (modprobe), iproute2 on the host (the guest runs the host's binaries); the
// kernels built from source. Root on the host is required (see labStatus).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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
  /** Extra kernel command-line words, e.g. ['lockdown=confidentiality'] (no spaces). */
  cmdline?: string[];
}

/** The lab kernels, in the order tests run on them. */
export const LAB_KERNEL_IDS = ['uml-6.1', 'uml-6.12', 'uml-7.3'] as const;
export type LabKernelId = (typeof LAB_KERNEL_IDS)[number];
/** The kernels test/lab/build-uml.sh builds from Debian's source, by the version it is given. */
export const SOURCE_KERNELS: Partial<Record<LabKernelId, string>> = { 'uml-6.12': '6.12', 'uml-7.3': '7.3' };
/**
 * The kernel runInLab and labStatus use when none is given: uml-6.1, or
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
  /** Whether the kernel checks and reports XFRMA_SA_DIR (6.10+; docs/kernel/versions.md). */
  saDirection: boolean;
  /** Whether `lockdown=confidentiality` on its command line redacts SA keys (the lockdown LSM is built in). */
  lockdown: boolean;
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
/** Builds and caches the kernels built from source: `build-uml.sh path|source|build 6.12|7.3`. */
export const BUILD_SCRIPT = join(LAB_DIR, 'build-uml.sh');
/** Where the kernels built from source, their sources, the xstate shim and the other Node.js lines are kept. */
export const LAB_CACHE = process.env.XAEV_LAB_CACHE ?? '/var/cache/xaev-lab';
/** The LD_PRELOAD shim every UML kernel runs with (test/lab/uml-xstate.c), named after its source's hash; provision.ts builds it. */
export const XSTATE_SHIM_SOURCE = join(LAB_DIR, 'uml-xstate.c');
export const XSTATE_SHIM = join(LAB_CACHE, `uml-xstate-${createHash('sha256').update(readFileSync(XSTATE_SHIM_SOURCE)).digest('hex').slice(0, 12)}.so`);
/** Compiled traffic generator (run inside the guest with `ip netns exec NS node ...`). */
export const TRAFFIC_JS = join(REPO_ROOT, 'dist/test/lab/traffic.js');

/** How to get what is missing: npm test provisions the lab itself (test/lab/provision.ts). */
const PROVISION_HINT = 'as root with apt, `npm test` installs and builds it (test/lab/provision.ts)';

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

/** A kernel build configuration's text (plain or gzip), undefined if unreadable. */
function readText(file: string): string | undefined {
  try {
    const bytes = readFileSync(file);
    return (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  } catch {
    return undefined;
  }
}

/** A numeric CONFIG_ value of a kernel build configuration. */
function configValue(config: string, name: string): number | undefined {
  const m = new RegExp(`^CONFIG_${name}=(\\d+)$`, 'm').exec(config);
  return m ? Number(m[1]) : undefined;
}

/** Is the lab usable here with `kernel` (default DEFAULT_LAB_KERNEL)? Checks Linux, root, the kernel, its modules, modprobe, ip, and the lab scripts. */
export function labStatus(kernel: LabKernelId = DEFAULT_LAB_KERNEL): LabStatus {
  const { available, reason } = check(kernel);
  return { available, reason };
}

/** Everything about one kernel: what it is, and whether it can boot here (with the reason). */
function check(id: LabKernelId): LabKernel {
  const source = SOURCE_KERNELS[id] ? sourceKernelDir(id) : undefined;
  const base = source ? kernelFromSource(id, source) : kernel61();
  const no = (reason: string): LabKernel => ({ ...base, available: false, reason });
  if (process.platform !== 'linux') return no(`the kernel lab needs Linux (this is ${process.platform})`);
  // UML itself would run unprivileged, but the lab (hostfs root, test expectations) is only
  // supported as root.
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return no('the kernel lab must run as root (uid 0): run the tests with sudo or in a root container');
  }
  const selected = process.env.XAEV_LAB_KERNELS;
  if (selected !== undefined && !selected.split(/[ ,]+/).includes(id)) return no(`not selected by XAEV_LAB_KERNELS=${selected}`);
  const problem = source ? missingFromSource(base, source) : missing61(base);
  if (problem) return no(problem);
  if (!existsSync('/sbin/modprobe') && !existsSync('/usr/sbin/modprobe')) return no(`modprobe (package kmod) not found: ${PROVISION_HINT}`);
  if (!which('ip')) return no(`\`ip\` (iproute2) not found: ${PROVISION_HINT}`);
  if (!existsSync(INIT_SCRIPT)) return no(`${INIT_SCRIPT} missing (broken checkout?)`);
  if (!existsSync(XSTATE_SHIM)) return no(`${XSTATE_SHIM} (the UML xstate shim) is not built: ${PROVISION_HINT}`);
  if (!existsSync(TRAFFIC_JS)) return no(`${TRAFFIC_JS} missing: run \`npm run build:ts\` in ${REPO_ROOT}`);
  const where = base.modulesDir ? `modules in ${base.modulesDir}` : 'everything built in';
  return { ...base, available: true, reason: `ok: ${id} ${base.binary} ${base.release ?? ''} (HZ=${base.hz ?? '?'}, ${where})` };
}

function kernel61(): LabKernel {
  const release = isExecutable(UML_BIN) ? umlVersion(UML_BIN) : undefined;
  return {
    id: 'uml-6.1',
    binary: UML_BIN,
    modulesDir: release ? join(UML_MODULES, release) : undefined,
    release,
    // Debian's UML is HZ=100 and has /proc/config.gz (module `configs`).
    hz: configValue(readText(UML_CONFIG) ?? '', 'HZ') ?? 100,
    configGz: true,
    saDirection: false,
    lockdown: false,
    available: false,
    reason: '',
  };
}

function missing61(k: LabKernel): string | undefined {
  if (!isExecutable(k.binary)) return `${k.binary} not found (package user-mode-linux): ${PROVISION_HINT}`;
  if (!k.release || !k.modulesDir) return `\`${k.binary} --version\` failed: reinstall user-mode-linux (${PROVISION_HINT})`;
  for (const m of ['kernel/net/xfrm/xfrm_user.ko', 'kernel/net/ipv4/esp4.ko', 'kernel/drivers/net/veth.ko']) {
    if (!hasModule(k.modulesDir, m)) return `UML module ${join(k.modulesDir, m)} missing (linux.uml ${k.release} without matching modules): reinstall user-mode-linux`;
  }
  return undefined;
}

/** Where build-uml.sh keeps (or would keep) a kernel built from source; its error when it cannot say (no source yet). */
export function sourceKernelDir(id: LabKernelId): { dir?: string; error?: string } {
  const version = SOURCE_KERNELS[id];
  if (!version) return { error: `${id} is not built from source` };
  const r = spawnSync('sh', [BUILD_SCRIPT, 'path', version], { encoding: 'utf8', timeout: 20000 });
  if (r.status === 0 && r.stdout.trim()) return { dir: r.stdout.trim() };
  return { error: (r.stderr || String(r.error ?? r.status)).trim().replace(/^build-uml: /, '') };
}

function kernelFromSource(id: LabKernelId, { dir }: { dir?: string }): LabKernel {
  const binary = dir ? join(dir, 'linux') : '(not built)';
  const built = dir !== undefined && isExecutable(binary);
  const config = dir ? readText(join(dir, 'config')) : undefined;
  return {
    id,
    binary,
    modulesDir: undefined,
    release: built ? umlVersion(binary) : undefined,
    hz: config === undefined ? undefined : configValue(config, 'HZ'),
    configGz: false,
    saDirection: true,
    lockdown: config !== undefined && /^CONFIG_SECURITY_LOCKDOWN_LSM=y$/m.test(config),
    available: false,
    reason: '',
  };
}

function missingFromSource(k: LabKernel, { error }: { error?: string }): string | undefined {
  if (error) return error.split('\n').at(-1);
  if (!isExecutable(k.binary) || !k.release) return `${k.binary} not built yet: ${PROVISION_HINT} (or \`sh test/lab/build-uml.sh build ${SOURCE_KERNELS[k.id]}\`)`;
  return undefined;
}

/** Every lab kernel with its status. */
export function labKernels(): LabKernel[] {
  return LAB_KERNEL_IDS.map(check);
}

/**
 * One describe() per lab kernel, named "NAME [uml-6.12]" and skipped with the kernel's reason
 * when it is unavailable (each skip is recorded, so that npm test can tell a skipped lab suite
 * from one that ran: the runner's own count does not see a skipped describe()).
 */
export function describeOnLabKernels(
  name: string,
  options: { timeout?: number; concurrency?: number | boolean },
  fn: (kernel: LabKernel) => void,
): void {
  for (const kernel of labKernels()) {
    const suite = `${name} [${kernel.id}]`;
    const skip = kernel.available ? false : `kernel lab (${kernel.id}) unavailable: ${kernel.reason}`;
    if (skip) recordKernel(kernel, 'skipped', suite);
    describe(suite, { ...options, skip }, () => fn(kernel));
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
 * Record which kernels ran (or which suites were skipped, and why) in $XAEV_LAB_REPORT, a file
 * that test/run-suites.ts gives to the suites and summarises in its last line.
 */
function recordKernel(kernel: LabKernel, what: 'ran' | 'skipped', suite?: string): void {
  const file = process.env.XAEV_LAB_REPORT;
  if (!file) return;
  const detail = what === 'ran' ? `HZ=${kernel.hz ?? '?'}` : kernel.reason;
  appendFileSync(file, `${JSON.stringify({ kernel: kernel.id, what, detail, ...(suite ? { suite } : {}) })}\n`);
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
  for (const word of opts.cmdline ?? []) if (!/^[A-Za-z0-9_.=,-]+$/.test(word)) throw new Error(`runInLab: kernel command-line word '${word}' must not contain spaces or quotes`);

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
    ...(opts.cmdline ?? []),
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
      // The kernels up to 6.12 need it on hosts with AVX-512 or AMX (uml-xstate.c).
      LD_PRELOAD: XSTATE_SHIM,
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

  const read = (f: string): string | undefined => {
    try {
      return readFileSync(join(outDir, f), 'utf8');
    } catch {
      return undefined;
    }
  };
  const status = read('exit-status');
  const exitCode = status !== undefined && /^\d+\s*$/.test(status) ? Number(status) : -1;
  // A kernel that died before the scenario ended did not run it (the test fails on its own).
  if (exitCode !== -1) recordKernel(kernel, 'ran');
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

