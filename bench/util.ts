// Shared helpers for the benchmarks (bench/run.ts): timing child processes, statistics,
// Markdown tables, a throwaway network namespace with larval SAs, a snapshot of the xaev
// build, and CPU-profile summaries.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { addLarvalSas, makeNetns, type LarvalSa, type Netns } from '../test/support/host.js';
import { prng } from '../test/support/prng.js';

// ---------------------------------------------------------------------------------------
// Reporting types

export type Verdict = 'PASS' | 'MISS' | 'N/A';

export interface Target {
  target: string;
  verdict: Verdict;
  detail: string;
}

export interface Table {
  caption?: string;
  head: string[];
  rows: string[][];
}

export interface Section {
  title: string;
  where: string;
  tables: Table[];
  commands: string[];
  targets: Target[];
  notes: string[];
}

export function skippedSection(title: string, reason: string): Section {
  return { title, where: 'not run', tables: [], commands: [], targets: [], notes: [`SKIPPED: ${reason}`] };
}

/** The reason a lab scenario's section was not measured: its status and the last lines it printed. */
export function scenarioFailure(run: { exitCode: number | null; outDir: string; scenarioLog: string }): string {
  return `scenario failed (status ${run.exitCode}); output kept in ${run.outDir}: ${run.scenarioLog.trim().split('\n').slice(-5).join(' / ')}`;
}

// ---------------------------------------------------------------------------------------
// Statistics and formatting

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** n with d decimals, or "-" when not finite. */
export function fmt(n: number, d = 1): string {
  return Number.isFinite(n) ? n.toFixed(d) : '-';
}

export function ratio(a: number, b: number, d = 2): string {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(d)}x` : '-';
}

export function verdict(pass: boolean | undefined): Verdict {
  return pass === undefined ? 'N/A' : pass ? 'PASS' : 'MISS';
}

/** A Markdown table, columns padded so it also reads well in a terminal. */
export function markdownTable(t: Table): string {
  const cells = [t.head, ...t.rows].map((r) => r.map((c) => c.replace(/\|/g, '\\|')));
  const widths = t.head.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${widths.map((w, i) => (r[i] ?? '').padEnd(w)).join(' | ')} |`;
  const out = [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)];
  return (t.caption ? `${t.caption}\n\n` : '') + out.join('\n');
}

export function renderSection(s: Section, label: string): string {
  const parts = [`## ${label}. ${s.title}`, '', `Where: ${s.where}`, ''];
  for (const t of s.tables) parts.push(markdownTable(t), '');
  if (s.targets.length) {
    parts.push('Targets:', '');
    for (const t of s.targets) parts.push(`- **${t.verdict}** ${t.target}: ${t.detail}`);
    parts.push('');
  }
  if (s.notes.length) {
    parts.push('Notes:', '');
    for (const n of s.notes) parts.push(`- ${n}`);
    parts.push('');
  }
  if (s.commands.length) {
    parts.push('Commands:', '', '```', ...s.commands, '```', '');
  }
  return parts.join('\n');
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------------------------------
// Running and timing commands

let devNullFd: number | undefined;
function devNull(): number {
  devNullFd ??= openSync('/dev/null', 'w');
  return devNullFd;
}

export interface Timed {
  ms: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run argv to completion and return its wall-clock time (spawn to exit, measured here; the
 * same small spawn overhead is in every measurement). stdout goes to /dev/null unless
 * captured.
 */
export function timed(
  argv: string[],
  opts: { capture?: boolean; input?: string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Timed {
  const options: SpawnSyncOptions = {
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.capture ? 'pipe' : devNull(), 'pipe'],
    input: opts.input,
    cwd: opts.cwd,
    env: opts.env,
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 10 * 60 * 1000,
  };
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), options);
  const t1 = process.hrtime.bigint();
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  return {
    ms: Number(t1 - t0) / 1e6,
    status: r.status,
    stdout: (r.stdout as string | null) ?? '',
    stderr: (r.stderr as string | null) ?? '',
  };
}

/** Run argv, throw with its stderr unless it exits 0; returns stdout. */
export function run(argv: string[], opts: { input?: string; quiet?: boolean } = {}): string {
  const r = timed(argv, { capture: !opts.quiet, input: opts.input });
  if (r.status !== 0) throw new Error(`\`${argv.join(' ')}\` failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}

/** Like timed(), but a non-zero exit status or any stderr output is an error. */
export function timedOk(argv: string[], opts: Parameters<typeof timed>[1] = {}): Timed {
  const r = timed(argv, opts);
  if (r.status !== 0 || r.stderr.trim() !== '') {
    throw new Error(`\`${argv.join(' ')}\` failed (status ${r.status}): ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  }
  return r;
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: string[], redirect = '> /dev/null'): string {
  return `${argv.map(shellQuote).join(' ')}${redirect ? ` ${redirect}` : ''}`;
}

// ---------------------------------------------------------------------------------------
// Host network namespace with larval SAs

/** Source of every benchmark SA; each SA has its own destination (10.x.y.z). */
export const LARVAL_SRC = '192.0.2.1';

/**
 * A throwaway namespace on the host kernel (test/support/host.ts). The host has no ESP, so
 * its SAs are larval (`ip xfrm state allocspi`): GETAE answers them like any SA. SPIs are
 * random, as real ones are (sequential SPIs would make the kernel's SPI hash chains unusually
 * regular), and every SA has its own destination, as on a gateway with many peers (one shared
 * destination would put every SA in one by-destination hash chain: allocspi then costs O(n)
 * per SA).
 */
export class HostNamespace {
  readonly name: string;
  readonly sas: LarvalSa[] = [];
  private readonly netns: Netns;
  private readonly random: () => number;
  private readonly used = new Set<number>();

  constructor(prefix: string, seed: number) {
    this.netns = makeNetns(prefix);
    this.name = this.netns.name;
    this.random = prng(seed);
  }

  get size(): number {
    return this.sas.length;
  }

  /** Add SAs until there are `total`, with one ip process; returns the time it took (ms). */
  growTo(total: number): number {
    const added: LarvalSa[] = [];
    for (let i = this.sas.length + 1; i <= total; i++) {
      let spi: number;
      do spi = 0x100 + Math.floor(this.random() * 0xfffffe00);
      while (this.used.has(spi));
      this.used.add(spi);
      added.push({ src: LARVAL_SRC, dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, spi });
    }
    const t0 = Date.now();
    addLarvalSas(this.name, added);
    const ms = Date.now() - t0;
    this.sas.push(...added);
    const count = this.count();
    if (count !== total) throw new Error(`netns ${this.name} has ${count} SAs, expected ${total}`);
    return ms;
  }

  count(): number {
    const out = run(['ip', '-n', this.name, 'xfrm', 'state', 'count']);
    const m = /SAD count (\d+)/.exec(out);
    return m ? Number(m[1]) : -1;
  }

  destroy(): void {
    this.netns.remove();
  }
}

// ---------------------------------------------------------------------------------------
// Snapshot of the xaev build

/**
 * Copy what `node bin/xaev.js` loads (bin/, dist/ without the compiled tests and benchmarks,
 * the addon, package.json; node_modules linked) into `dir`, so that other people rebuilding
 * the tree during the run (tsc rewriting dist/, node-gyp deleting build/) cannot break or
 * change a measurement half-way. Also writes bin/xaev-modules.mjs, which runs the unbundled
 * dist/src/cli/main.js when it exists (for CPU profiles with readable function names).
 */
export function snapshotXaev(repo: string, dir: string, waitMs = 180000): string {
  const addon = join(repo, 'build/Release/xaev_netlink.node');
  const bin = join(repo, 'bin/xaev.js');
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    while (!(existsSync(addon) && existsSync(bin))) {
      if (Date.now() > deadline) throw new Error(`${addon} or ${bin} missing: build first (npm run build)`);
      log(`waiting for ${existsSync(addon) ? bin : addon} (being rebuilt?)`);
      spawnSync('sleep', ['5']);
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'build/Release'), { recursive: true });
    cpSync(join(repo, 'bin'), join(dir, 'bin'), { recursive: true });
    cpSync(join(repo, 'dist'), join(dir, 'dist'), {
      recursive: true,
      filter: (src) => !/\/dist\/(test|bench)(\/|$)/.test(src),
    });
    cpSync(addon, join(dir, 'build/Release/xaev_netlink.node'));
    cpSync(join(repo, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(
      join(dir, 'bin/xaev-modules.mjs'),
      "// bench: xaev from the unbundled modules (readable CPU profiles)\n" +
        "const { main } = await import('../dist/src/cli/main.js');\n" +
        'process.exitCode = await main(process.argv.slice(2));\n',
    );
    const check = timed([process.execPath, join(dir, 'bin/xaev.js'), '--version'], { capture: true });
    if (check.status === 0) return join(dir, 'bin/xaev.js');
    if (attempt >= 3 || Date.now() > deadline) {
      throw new Error(`the copied xaev does not start: ${check.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
    }
    log('the copied xaev does not start (tree being rebuilt?); copying again in 10 s');
    spawnSync('sleep', ['10']);
  }
}

/**
 * The module bin/xaev.js loads (e.g. a bundle, or dist/src/cli/main.js) and how: import,
 * require, or through bin/code-cache.cjs's loadBundle() (the bundle from its V8 code cache).
 */
export function xaevEntry(xaevBin: string): { path: string; how: 'import' | 'require' | 'code-cache'; loader?: string } | undefined {
  const text = readFileSync(xaevBin, 'utf8').replace(/^\s*\/\/.*$/gm, '');
  const cached = /loadBundle\(\s*require\.resolve\(\s*['"](\.\.?\/[^'"]+)['"]/.exec(text);
  const loader = /require\(\s*['"](\.\/code-cache\.cjs)['"]/.exec(text);
  if (cached && loader) return { path: join(dirname(xaevBin), cached[1]!), how: 'code-cache', loader: join(dirname(xaevBin), loader[1]!) };
  const m = /(from\s*|require\(\s*|import\(\s*)['"](\.\.?\/[^'"]+)['"]/.exec(text);
  if (!m) return undefined;
  return { path: join(dirname(xaevBin), m[2]!), how: m[1]!.startsWith('require') ? 'require' : 'import' };
}

/** "KEY VALUE" lines (what the lab scenarios write into env.txt, phases.txt) as a map. */
export function kv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

export function makeWorkDir(): string {
  // /var/tmp, not /tmp: the lab guest mounts its own tmpfs on /tmp and must see this
  // directory (the copied xaev, the lab's output directories) through hostfs.
  const base = '/var/tmp';
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'xaev-bench-'));
}

export function writeLines(path: string, lines: string[]): void {
  writeFileSync(path, lines.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------
// CPU profiles (node --cpu-prof)

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface ProfileSummary {
  totalMs: number;
  self: { name: string; ms: number }[];
  inclusive: { name: string; ms: number }[];
}

/** Self and inclusive time per function from the one .cpuprofile in dir. */
export function summarizeProfile(dir: string, top = 12): ProfileSummary | undefined {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return undefined;
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode): string => {
    const url = n.callFrame.url
      .replace(/^file:\/\//, '')
      .replace(/.*\/(dist\/src\/|node_modules\/)/, '$1')
      .replace(/.*\/bin\/xaev\.js$/, 'bin/xaev.js');
    return `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
  };
  const perNode = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    perNode.set(id, (perNode.get(id) ?? 0) + dt);
    total += dt;
  });
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, t] of perNode) {
    const node = byId.get(id);
    if (!node) continue;
    self.set(label(node), (self.get(label(node)) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const k = label(n);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + t);
    }
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: us / 1000 }));
  return {
    totalMs: total / 1000,
    self: sorted(self).slice(0, top),
    // Inclusive: xaev's own functions only (node internals and commander are plumbing).
    inclusive: sorted(incl)
      .filter((e) => e.name.includes('dist/src/'))
      .slice(0, top),
  };
}
