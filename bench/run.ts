// xaev benchmarks: `npm run bench` (tsc, then node dist/bench/run.js [options]).
//
// Runs every benchmark, comparing xaev with iproute2 in the same run, prints one Markdown
// table per benchmark with ratios, PASS/MISS against the targets and the exact command
// lines, and writes the same report to bench/RESULTS.md (overwritten each run).
//
//   1. event throughput   kernel lab (UML, real ESP): xaev monitor / xaev -j monitor /
//                         ip xfrm monitor aevent side by side on one burst
//   2. bulk read          xaev -j list vs ip -s xfrm state at 1,000 and 10,000 SAs:
//                         host kernel (larval SAs) and kernel lab (real SAs)
//   3. scripting          1,000 gets in one xaev batch vs 1,000 xaev get processes (host)
//      start-up           xaev get SPI vs node -e '' (host), with a breakdown
//   diagnostics           CPU profiles of xaev -j list and xaev batch (host)
//   5. sync               kernel lab: replication delay and takeover time of xaev sync with
//                         1,000 SA pairs (bench/sync.ts)
//
// Options (after `npm run bench --`):
//   --quick             small sizes and few runs (checks the benchmark itself, ~2 min)
//   --only LIST         comma-separated subset of events,bulk,scripting,startup,profile,sync
//   --no-lab            skip everything that needs the kernel lab
//   --no-snapshot       run this checkout's bin/xaev.js in place instead of a copy
//   --keep              keep the work directory and the lab's output directories
//   --no-write          do not overwrite bench/RESULTS.md
//
// Needs root (network namespaces, NETLINK_XFRM). Creates and deletes the network namespaces
// xaev-bench-PID and xaev-bench-PID-l on the host; never touches any other namespace.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem, version as osVersion } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { labStatus, REPO_ROOT } from '../test/lab/lab.js';
import { bulkTables, checkHostBulk, labBulk, measureHostBulk, type PlaceResult } from './bulk.js';
import { eventsBench } from './events.js';
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

const ALL = ['events', 'bulk', 'scripting', 'startup', 'profile', 'sync'] as const;
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
  large: number;
  bulkReps: number;
  labBulkReps: number;
  scriptCount: number;
  scriptReps: number;
  startupRuns: number;
  syncPairs: number;
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
    large: quick ? 2000 : 10000,
    bulkReps: quick ? 3 : 5,
    labBulkReps: quick ? 3 : 7,
    scriptCount: quick ? 100 : 1000,
    scriptReps: quick ? 2 : 3,
    startupRuns: quick ? 5 : 20,
    syncPairs: quick ? 100 : 1000,
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
  const work = makeWorkDir();
  // The lab writes its output directories below os.tmpdir(): keep them in our work directory
  // (visible to the guest through hostfs, away from anyone cleaning /tmp).
  process.env.TMPDIR = work;
  let ns: HostNamespace | undefined;
  let nsLarge: HostNamespace | undefined;
  const cleanup = () => {
    ns?.destroy();
    nsLarge?.destroy();
    ns = nsLarge = undefined;
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
  const hostParts = (['bulk', 'scripting', 'startup', 'profile'] as const).filter((p) => cfg.parts.has(p));
  const hostPlace: PlaceResult = { place: 'host kernel', samples: [], small: cfg.small, large: cfg.large, commands: [], notes: [] };
  let profiles: Table[] = [];
  let profileCommands: string[] = [];

  // ---- host kernel: one throwaway namespace, grown 1 -> small -> large SAs ----
  if (hostParts.length) {
    try {
      ns = new HostNamespace(`xaev-bench-${process.pid}`);
      ns.growTo(1);
      if (cfg.parts.has('startup')) sections.set('startup', startupSection(ns, xaev, cfg.startupRuns));
      const createSmall = ns.growTo(Math.max(cfg.small, cfg.parts.has('scripting') ? cfg.scriptCount : 0));
      log(`host: ${ns.size} larval SAs in netns ${ns.name} (${fmt(createSmall, 0)} ms)`);
      if (cfg.parts.has('scripting')) sections.set('scripting', scriptingSection(ns, xaev, work, cfg.scriptCount, cfg.scriptReps));
      if (cfg.parts.has('profile') && cfg.parts.has('scripting')) {
        const dir = join(work, 'prof-batch');
        profileRun([profileEntry(xaev), '-n', ns.name, 'batch', join(work, 'xaev-batch.txt')], dir);
        profiles.push(...profileTables(`xaev batch (${cfg.scriptCount} get lines, ${ns.size} SAs)`, dir));
        profileCommands.push(`node --cpu-prof ${profileEntry(xaev)} -n ${ns.name} batch ${join(work, 'xaev-batch.txt')} > /dev/null`);
      }
      if (cfg.parts.has('bulk') || cfg.parts.has('profile')) {
        if (ns.size !== cfg.small) throw new Error(`bulk read needs exactly ${cfg.small} SAs, netns has ${ns.size}`);
        // The large size lives in a second namespace, so both sizes can be timed in turns.
        nsLarge = new HostNamespace(`xaev-bench-${process.pid}-l`);
        const createLarge = nsLarge.growTo(cfg.large);
        log(`host: ${nsLarge.size} larval SAs in netns ${nsLarge.name} (${fmt(createLarge, 0)} ms)`);
        if (cfg.parts.has('bulk')) {
          log(`bulk (host): ${cfg.small} and ${cfg.large} SAs, ${cfg.bulkReps} rounds`);
          checkHostBulk(ns, xaev);
          checkHostBulk(nsLarge, xaev);
          hostPlace.samples.push(...measureHostBulk([ns, nsLarge], xaev, cfg.bulkReps));
          hostPlace.commands.push(
            `ip -n ${ns.name} -s xfrm state > /dev/null   # and -n ${nsLarge.name}`,
            `node ${xaev} -n ${ns.name} -j list > /dev/null   # and -n ${nsLarge.name}`,
          );
          hostPlace.notes.push(
            `host kernel: larval SAs (\`ip xfrm state allocspi src 10.0.0.1 dst 10.0.0.2 proto esp min SPI max SPI\` through one \`ip -batch -\`, net.core.xfrm_acq_expires=3600 in the namespace): ${cfg.small} in throwaway netns ${ns.name} (${fmt(createSmall, 0)} ms to create), ${cfg.large} in ${nsLarge.name} (${fmt(createLarge, 0)} ms); both tools listed every SA (checked outside the timed runs). Wall time per run measured around the process (spawn to exit); each round times both tools on both namespaces.`,
          );
        }
        if (cfg.parts.has('profile')) {
          const dir = join(work, 'prof-list');
          profileRun([profileEntry(xaev), '-n', nsLarge.name, '-j', 'list'], dir);
          profiles.push(...profileTables(`xaev -j list (${nsLarge.size} SAs)`, dir));
          profileCommands.push(`node --cpu-prof ${profileEntry(xaev)} -n ${nsLarge.name} -j list > /dev/null`);
        }
      }
    } catch (error) {
      const reason = `host kernel benchmark failed: ${(error as Error).message}`;
      log(reason);
      hostPlace.samples = [];
      (hostPlace as PlaceResult).error = reason;
      for (const p of ['scripting', 'startup'] as const) {
        if (cfg.parts.has(p) && !sections.has(p)) sections.set(p, skippedSection(p, reason));
      }
      profiles = [];
      profileCommands = [];
    } finally {
      ns?.destroy();
      nsLarge?.destroy();
      ns = nsLarge = undefined;
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
  let labPlace: PlaceResult | undefined;
  if (cfg.parts.has('bulk')) {
    labPlace = labOk
      ? await labBulk(xaev, cfg.small, cfg.large, cfg.labBulkReps, cfg.keep)
      : { place: 'kernel lab', samples: [], small: cfg.small, large: cfg.large, commands: [], notes: [], error: labReason };
    const b = bulkTables([hostPlace, labPlace]);
    sections.set('bulk', {
      title: `Bulk read: xaev -j list vs ip -s xfrm state at ${cfg.small} and ${cfg.large} SAs`,
      where: 'both: host kernel (larval SAs, real syscall costs) and kernel lab (real ESP SAs, UML syscall costs); see the "where" column',
      tables: b.tables,
      targets: b.targets,
      notes: [
        `Per SA = (median t(${cfg.large}) - median t(${cfg.small})) / ${cfg.large - cfg.small}: Node's start-up cancels out. ip -s prints counters but no thresholds from one dump; xaev -j list dumps, then sends one GETAE per SA (dumps carry no thresholds), pipelined 128 per datagram.`,
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
  const labels: Record<string, string> = { events: '1', bulk: '2', scripting: '3a', startup: '3b', profile: '4', sync: '5' };
  const list = Object.keys(labels)
    .filter((k) => sections.has(k))
    .map((k) => ({ label: labels[k]!, section: sections.get(k)! }));
  const elapsed = (Date.now() - started) / 1000;
  const cpu = cpus();
  const labKernel = /linux\.uml ([\d.]+)/.exec(labReason)?.[1] ?? '?';
  const dirty = sh(['git', '-C', REPO_ROOT, 'status', '--porcelain', '--', 'src', 'native', 'bin']);
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
    `- Kernel lab: ${labOk ? `user-mode-linux ${labKernel} (HZ=100, one CPU)` : `not used (${labReason})`}`,
    `- Node.js ${process.version}; ${sh(['ip', '-V'])}`,
    `- xaev ${JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version as string} at commit ${sh(['git', '-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])}${dirty && dirty !== '?' ? ' plus uncommitted changes in src/, native/ or bin/' : ''}; ${cfg.snapshot ? "run from a copy of the checkout's bin/, dist/ (without tests) and build/Release/ made in a temporary directory at the start, so concurrent rebuilds cannot interfere" : 'run in place as `node bin/xaev.js`'}`,
    '',
  ];
  const summary: Table = { head: ['benchmark', 'target', 'result', 'measured'], rows: [] };
  for (const { label, section: s } of list) {
    const name = `${label}. ${s.title.split(':')[0]}`;
    for (const t of s.targets) summary.rows.push([name, t.target, `**${t.verdict}**`, t.detail]);
    if (s.targets.length === 0 && s.notes[0]?.startsWith('SKIPPED')) summary.rows.push([name, '-', '**N/A**', s.notes[0]]);
  }
  const report = [
    ...header,
    '## Summary',
    '',
    markdownTable(summary),
    '',
    ...list.map(({ label, section }) => renderSection(section, label)),
  ].join('\n');
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
