// xaev benchmarks: `npm run bench` (tsc, then node dist/bench/run.js [options]).
//
// Runs every benchmark, comparing xaev with iproute2 in the same run, prints one Markdown
// table per benchmark with ratios, PASS/MISS against the targets and the exact command
// lines, and writes the same report to bench/RESULTS.md (overwritten each run).
//
//   1. event throughput   kernel lab (UML, real ESP): xaev monitor / xaev -j monitor /
//                         ip xfrm monitor aevent side by side on one burst
//   2. scale              xaev list (-j, text, --counters-only) vs ip -s xfrm state vs the
//                         kernel's own share at 1k, 10k and 50k SAs; get and batch lines at
//                         1, 1k and 50k SAs vs node -e '' (host kernel, larval SAs)
//   2b. bulk read (lab)   xaev -j list vs ip -s xfrm state at 1,000 and 10,000 real SAs
//   3. scripting          1,000 gets in one xaev batch vs 1,000 xaev get processes (host)
//      start-up           xaev get SPI vs node -e '' (host), with a breakdown
//   diagnostics           CPU profiles of xaev -j list and xaev batch (host)
//   5. sync               kernel lab: replication delay and takeover time of xaev sync with
//                         1,000 SA pairs (bench/sync.ts)
//   6. replicate          kernel lab (uml-7.3): SA and policy replication with 10,000 SAs and
//                         10,000 policies: the sender's snapshot vs ip xfrm state/policy dumps,
//                         install on an empty standby vs ip -batch, per-SA delay of a rekey
//                         burst of 1,000 SAs (bench/replicate.ts)
//
// Options (after `npm run bench --`):
//   --quick             small sizes and few runs (checks the benchmark itself, ~2 min)
//   --only LIST         comma-separated subset of events,scale,bulk,scripting,startup,profile,sync,
//                       replicate
//   --no-lab            skip everything that needs the kernel lab
//   --no-snapshot       run this checkout's bin/xaev.js in place instead of a copy
//   --keep              keep the work directory and the lab's output directories
//   --no-write          do not overwrite bench/RESULTS.md
//
// Needs root (network namespaces, NETLINK_XFRM). Creates and deletes throwaway network
// namespaces xaev-bench-*-PID-* on the host; never touches any other namespace.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem, version as osVersion } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { labStatus, REPO_ROOT } from '../test/lab/lab.js';
import { bulkTables, labBulk, type PlaceResult } from './bulk.js';
import { scaleSection } from './scale.js';
import { eventsBench } from './events.js';
import { REPLICATE_KERNEL, replicateBench } from './replicate.js';
import { syncBench } from './sync.js';
import { scriptingSection, startupSection } from './scripting.js';
import {
  fmt,
  HostNamespace,
  log,
  makeWorkDir,
  markdownTable,
  renderSection,
  skippedSection,
  snapshotXaev,
  summarizeProfile,
  timed,
  type Section,
  type Table,
} from './util.js';

const ALL = ['events', 'scale', 'bulk', 'scripting', 'startup', 'profile', 'sync', 'replicate'] as const;
type Part = (typeof ALL)[number];

interface Config {
  quick: boolean;
  parts: Set<Part>;
  lab: boolean;
  snapshot: boolean;
  keep: boolean;
  write: boolean;
  flows: number;
  packets: number;
  small: number;
  mid: number;
  large: number;
  labLarge: number;
  bulkReps: number;
  getRuns: number;
  batchLines: number;
  labBulkReps: number;
  scriptCount: number;
  scriptReps: number;
  startupRuns: number;
  syncPairs: number;
  replicateSas: number;
  replicateBurst: number;
}

function config(): Config {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      'no-lab': { type: 'boolean' },
      'no-snapshot': { type: 'boolean' },
      keep: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    const head = readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//'));
    process.stdout.write(head.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    process.exit(0);
  }
  const parts = new Set<Part>(
    values.only === undefined
      ? ALL
      : values.only.split(',').map((p) => {
          if (!(ALL as readonly string[]).includes(p)) throw new Error(`--only: unknown part '${p}' (${ALL.join(', ')})`);
          return p as Part;
        }),
  );
  const quick = values.quick === true;
  return {
    quick,
    parts,
    lab: values['no-lab'] !== true,
    snapshot: values['no-snapshot'] !== true,
    keep: values.keep === true,
    write: values['no-write'] !== true,
    flows: 4,
    packets: quick ? 500 : 2000,
    small: quick ? 200 : 1000,
    mid: quick ? 2000 : 10000,
    large: quick ? 10000 : 50000,
    labLarge: quick ? 2000 : 10000,
    bulkReps: quick ? 3 : 15,
    getRuns: quick ? 5 : 15,
    batchLines: quick ? 100 : 500,
    labBulkReps: quick ? 3 : 7,
    scriptCount: quick ? 100 : 1000,
    scriptReps: quick ? 2 : 3,
    startupRuns: quick ? 5 : 20,
    syncPairs: quick ? 100 : 1000,
    replicateSas: quick ? 2000 : 10000,
    replicateBurst: quick ? 200 : 1000,
  };
}

function sh(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

function profileTables(label: string, dir: string): Table[] {
  const p = summarizeProfile(dir, 12);
  if (!p) return [];
  return [
    {
      caption: `**${label}**: ${fmt(p.totalMs, 0)} ms sampled. Self time (top 12):`,
      head: ['function', 'self ms', 'share'],
      rows: p.self.map((e) => [e.name, fmt(e.ms, 1), `${((100 * e.ms) / p.totalMs).toFixed(1)}%`]),
    },
    {
      caption: `${label}: inclusive time of xaev's own functions (top 12):`,
      head: ['function', 'inclusive ms', 'share'],
      rows: p.inclusive.map((e) => [e.name, fmt(e.ms, 1), `${((100 * e.ms) / p.totalMs).toFixed(1)}%`]),
    },
  ];
}

/** Profile with the unbundled modules when they exist: a minified bundle has no readable names. */
function profileEntry(xaev: string): string {
  const modules = join(dirname(xaev), 'xaev-modules.mjs');
  return existsSync(modules) && existsSync(join(dirname(xaev), '../dist/src/cli/main.js')) ? modules : xaev;
}

function profileRun(argv: string[], dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = timed([process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, ...argv]);
  if (r.status !== 0) throw new Error(`profiling ${argv.join(' ')} failed: ${r.stderr.trim()}`);
}

async function main(): Promise<number> {
  const cfg = config();
  const started = Date.now();
  const load0 = loadavg();
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: run as root (network namespaces and NETLINK_XFRM need CAP_NET_ADMIN)\n');
    return 1;
  }
  // What is measured is the build copied now: name its commit now, not at the end.
  const commit = sh(['git', '-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh(['git', '-C', REPO_ROOT, 'status', '--porcelain', '--', 'src', 'native', 'bin']);
  const work = makeWorkDir();
  // The lab writes its output directories below os.tmpdir(): keep them in our work directory
  // (visible to the guest through hostfs, away from anyone cleaning /tmp).
  process.env.TMPDIR = work;
  const spaces: HostNamespace[] = [];
  const destroySpaces = () => {
    for (const ns of spaces.splice(0)) ns.destroy();
  };
  const cleanup = () => {
    destroySpaces();
    if (!cfg.keep) rmSync(work, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      log(`${sig}: cleaning up`);
      cleanup();
      process.exit(130);
    });
  }

  const xaev = cfg.snapshot ? snapshotXaev(REPO_ROOT, join(work, 'xaev')) : join(REPO_ROOT, 'bin/xaev.js');
  log(`xaev under test: node ${xaev}`);
  const sections = new Map<string, Section>();
  const hostParts = (['scale', 'scripting', 'startup', 'profile'] as const).filter((p) => cfg.parts.has(p));
  let profiles: Table[] = [];
  let profileCommands: string[] = [];

  // ---- host kernel: throwaway namespaces with 1, small, mid and large SA counts ----
  const grow = (prefix: string, size: number): HostNamespace => {
    const ns = new HostNamespace(`xaev-bench-${prefix}`, size);
    spaces.push(ns);
    const ms = ns.growTo(size);
    log(`host: ${size} larval SAs in netns ${ns.name} (${fmt(ms, 0)} ms)`);
    return ns;
  };
  if (hostParts.length) {
    try {
      const one = grow('one', 1);
      if (cfg.parts.has('startup')) sections.set('startup', startupSection(one, xaev, cfg.startupRuns));
      const small = grow('s', Math.max(cfg.small, cfg.parts.has('scripting') ? cfg.scriptCount : 0));
      if (cfg.parts.has('scripting')) sections.set('scripting', scriptingSection(small, xaev, work, cfg.scriptCount, cfg.scriptReps));
      if (cfg.parts.has('profile') && cfg.parts.has('scripting')) {
        const dir = join(work, 'prof-batch');
        profileRun([profileEntry(xaev), '-n', small.name, 'batch', join(work, 'xaev-batch.txt')], dir);
        profiles.push(...profileTables(`xaev batch (${cfg.scriptCount} get lines, ${small.size} SAs)`, dir));
        profileCommands.push(`node --cpu-prof ${profileEntry(xaev)} -n ${small.name} batch ${join(work, 'xaev-batch.txt')} > /dev/null`);
      }
      if (cfg.parts.has('scale') || cfg.parts.has('profile')) {
        if (small.size !== cfg.small) throw new Error(`the scale benchmark needs exactly ${cfg.small} SAs, netns has ${small.size}`);
        const mid = grow('m', cfg.mid);
        const large = grow('l', cfg.large);
        if (cfg.parts.has('scale')) {
          const kernelShare = join(REPO_ROOT, 'dist/bench/kernel-share.js');
          const opts = { reps: cfg.bulkReps, getRuns: cfg.getRuns, batchLines: cfg.batchLines };
          sections.set('scale', scaleSection(one, [small, mid, large], xaev, kernelShare, work, opts));
        }
        if (cfg.parts.has('profile')) {
          const dir = join(work, 'prof-list');
          profileRun([profileEntry(xaev), '-n', large.name, '-j', 'list'], dir);
          profiles.push(...profileTables(`xaev -j list (${large.size} SAs)`, dir));
          profileCommands.push(`node --cpu-prof ${profileEntry(xaev)} -n ${large.name} -j list > /dev/null`);
        }
      }
    } catch (error) {
      const reason = `host kernel benchmark failed: ${(error as Error).message}`;
      log(reason);
      for (const p of ['scale', 'scripting', 'startup'] as const) {
        if (cfg.parts.has(p) && !sections.has(p)) sections.set(p, skippedSection(p, reason));
      }
      profiles = [];
      profileCommands = [];
    } finally {
      destroySpaces();
    }
  }

  // ---- kernel lab ----
  const labOk = cfg.lab && labStatus().available;
  const labReason = cfg.lab ? labStatus().reason : 'disabled with --no-lab';
  if (cfg.parts.has('events')) {
    sections.set(
      'events',
      labOk
        ? await eventsBench({ xaev, flows: cfg.flows, count: cfg.packets, keep: cfg.keep })
        : skippedSection('Event throughput', `kernel lab unavailable: ${labReason}`),
    );
  }
  if (cfg.parts.has('bulk')) {
    const labPlace: PlaceResult = labOk
      ? await labBulk(xaev, cfg.small, cfg.labLarge, cfg.labBulkReps, cfg.keep)
      : { place: 'kernel lab', samples: [], small: cfg.small, large: cfg.labLarge, commands: [], notes: [], error: labReason };
    const b = bulkTables([labPlace]);
    sections.set('bulk', {
      title: `Bulk read in the kernel lab: xaev -j list vs ip -s xfrm state at ${cfg.small} and ${cfg.labLarge} SAs`,
      where: 'kernel lab (real ESP SAs, UML syscall costs)',
      tables: b.tables,
      targets: b.targets,
      notes: [
        `Per SA = (median t(${cfg.labLarge}) - median t(${cfg.small})) / ${cfg.labLarge - cfg.small}: Node's start-up cancels out. ip -s prints counters but no thresholds from one dump; xaev -j list dumps, then sends one GETAE per SA (dumps carry no thresholds), pipelined.`,
        ...b.notes,
      ],
      commands: b.commands,
    });
  }
  if (cfg.parts.has('sync')) {
    sections.set(
      'sync',
      labOk
        ? await syncBench({ xaev, pairs: cfg.syncPairs, flows: 4, trafficS: cfg.quick ? 5 : 10, takeovers: cfg.quick ? 2 : 5, keep: cfg.keep })
        : skippedSection('xaev sync', `kernel lab unavailable: ${labReason}`),
    );
  }
  if (cfg.parts.has('replicate')) {
    // On uml-7.3 whatever the other parts boot: the fastest lab kernel, with every SA feature.
    const status = cfg.lab ? labStatus(REPLICATE_KERNEL) : { available: false, reason: 'disabled with --no-lab' };
    sections.set(
      'replicate',
      status.available
        ? await replicateBench({ xaev, sas: cfg.replicateSas, policies: cfg.replicateSas, burst: cfg.replicateBurst, reps: 3, keep: cfg.keep })
        : skippedSection('SA and policy replication at scale', `kernel lab (${REPLICATE_KERNEL}) unavailable: ${status.reason}`),
    );
  }
  if (cfg.parts.has('profile') && profiles.length) {
    sections.set('profile', {
      title: 'Diagnostics: where xaev spends its time (node --cpu-prof, host kernel)',
      where: 'host kernel, same throwaway namespace',
      tables: profiles,
      targets: [],
      notes: [
        'Sampled once each. Run from the unbundled dist/src modules (bin/xaev-modules.mjs in the copy) when they exist, so names are function file:line in dist/src (compiled from src/ with the same names and lines close to the source).',
      ],
      commands: profileCommands,
    });
  }

  // ---- report ----
  const labels: Record<string, string> = { events: '1', scale: '2', bulk: '2b', scripting: '3a', startup: '3b', profile: '4', sync: '5', replicate: '6' };
  const list = Object.keys(labels)
    .filter((k) => sections.has(k))
    .map((k) => ({ label: labels[k]!, section: sections.get(k)! }));
  const elapsed = (Date.now() - started) / 1000;
  const cpu = cpus();
  const labKernel = /linux\.uml ([\d.]+)/.exec(labReason)?.[1] ?? '?';
  const header = [
    '# xaev benchmarks',
    '',
    `Generated by \`npm run bench\`${cfg.quick ? ' --quick (small sizes: not the reference numbers)' : ''} (bench/run.ts); this file is overwritten by every run.`,
    '',
    `- Date: ${new Date(started).toISOString()} (the run took ${fmt(elapsed, 0)} s)`,
    `- Machine: ${hostname()}, ${cpu[0]?.model ?? '?'} x ${cpu.length} CPUs, ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM; load average ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at end (the machine is shared: other jobs can add noise)`,
    `- Host kernel: Linux ${release()} (${osVersion()})`,
    `- Kernel lab: ${labOk ? `user-mode-linux ${labKernel} (HZ=100, one CPU)` : `not used (${labReason})`}${sections.has('replicate') ? `; part 6 on ${REPLICATE_KERNEL}` : ''}`,
    `- Node.js ${process.version}; ${sh(['ip', '-V'])}`,
    `- xaev ${JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version as string} at commit ${commit}${dirty && dirty !== '?' ? ' plus uncommitted changes in src/, native/ or bin/' : ''}; ${cfg.snapshot ? "run from a copy of the checkout's bin/, dist/ (without tests) and build/Release/ made in a temporary directory at the start, so concurrent rebuilds cannot interfere" : 'run in place as `node bin/xaev.js`'}`,
    '- Paths: $WORK is the run\'s scratch directory, ./ the checkout.',
    '',
  ];
  const summary: Table = { head: ['benchmark', 'target', 'result', 'measured'], rows: [] };
  for (const { label, section: s } of list) {
    const name = `${label}. ${s.title.split(':')[0]}`;
    for (const t of s.targets) summary.rows.push([name, t.target, `**${t.verdict}**`, t.detail]);
    if (s.targets.length === 0 && s.notes[0]?.startsWith('SKIPPED')) summary.rows.push([name, '-', '**N/A**', s.notes[0]]);
  }
  // No machine's absolute paths in a file that is committed.
  const relativePaths = (text: string): string =>
    text.replaceAll(work, '$WORK').replaceAll(REPO_ROOT.replace(/\/$/, ''), '.').replaceAll(process.execPath, 'node');
  const report = relativePaths([
    ...header,
    '## Summary',
    '',
    markdownTable(summary),
    '',
    ...list.map(({ label, section }) => renderSection(section, label)),
  ].join('\n'));
  process.stdout.write(`${report}\n`);
  if (cfg.write) {
    const out = join(REPO_ROOT, 'bench/RESULTS.md');
    if (existsSync(join(REPO_ROOT, 'bench'))) writeFileSync(out, report);
    log(`wrote ${out}`);
  }
  log(`done in ${fmt(elapsed, 0)} s${cfg.keep ? `; work directory kept: ${work}` : ''}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
