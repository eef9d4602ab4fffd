// Benchmark 2: scale on the host kernel (issue 10). `xaev list` (-j, text, --counters-only)
// against `ip -s xfrm state` and against the kernel's own share of the work, at 1k, 10k and
// 50k larval SAs with random SPIs; `get` and batch lines at 1, 1k and 50k SAs against a bare
// `node -e ''`. Every run is measured with wait4(): wall, CPU (user + system) and peak RSS.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hex } from '../src/netlink/bytes.js';
import { encodeGetAes } from '../test/support/host.js';
import { commandLine, fmt, log, median, ratio, timed, verdict, type HostNamespace, type Section, type Table, type Target } from './util.js';

export interface Usage {
  wallMs: number;
  cpuMs: number;
  rssMb: number;
}

/**
 * Runs argv as a child of a small Python process that times it from fork to wait4(), and
 * reports the child's own rusage: Python's start-up is not counted. stdout goes to /dev/null.
 */
const MEASURE = [
  'import os,sys,time',
  't=time.perf_counter()',
  'pid=os.fork()',
  'if pid==0:',
  ' fd=os.open("/dev/null",os.O_WRONLY); os.dup2(fd,1); os.execvp(sys.argv[1],sys.argv[1:])',
  '_,st,ru=os.wait4(pid,0)',
  'w=time.perf_counter()-t',
  'sys.stderr.write("\\nRUSAGE %.3f %.3f %d %d\\n"%(w*1000,(ru.ru_utime+ru.ru_stime)*1000,ru.ru_maxrss,os.waitstatus_to_exitcode(st)))',
].join('\n');

export function measure(argv: string[]): Usage {
  const r = timed(['python3', '-c', MEASURE, ...argv]);
  const lines = r.stderr.trimEnd().split('\n');
  const m = /^RUSAGE ([\d.]+) ([\d.]+) (\d+) (-?\d+)$/.exec(lines.at(-1) ?? '');
  const stderr = lines.slice(0, -1).join('\n').trim();
  if (!m || m[4] !== '0' || stderr !== '') throw new Error(`\`${argv.join(' ')}\` failed: ${stderr || lines.at(-1)}`);
  return { wallMs: Number(m[1]), cpuMs: Number(m[2]), rssMb: Number(m[3]) / 1024 };
}

interface Tool {
  key: string;
  label: string;
  argv: (ns: HostNamespace) => string[];
  /** What the output must contain once per SA (checked outside the timed runs). */
  count: (stdout: string) => number;
}

const jsonCount = (stdout: string): number => (JSON.parse(stdout) as unknown[]).length;
const blockCount = (stdout: string): number => (stdout.match(/^src /gm) ?? []).length;

function listTools(xaev: string, kernelShare: string, getAesFile: (ns: HostNamespace) => string): Tool[] {
  const node = process.execPath;
  return [
    { key: 'ip', label: '`ip -s xfrm state`', argv: (ns) => ['ip', '-n', ns.name, '-s', 'xfrm', 'state'], count: blockCount },
    { key: 'json', label: '`xaev -j list`', argv: (ns) => [node, xaev, '-n', ns.name, '-j', 'list'], count: jsonCount },
    { key: 'text', label: '`xaev list`', argv: (ns) => [node, xaev, '-n', ns.name, 'list'], count: blockCount },
    {
      key: 'counters',
      label: '`xaev -j list --counters-only`',
      argv: (ns) => [node, xaev, '-n', ns.name, '-j', 'list', '--counters-only'],
      count: jsonCount,
    },
    { key: 'kernel', label: 'kernel share (same dump and GETAEs, answers drained)', argv: (ns) => [node, kernelShare, ns.name, getAesFile(ns), String(ns.size)], count: () => NaN },
  ];
}

type Samples = Map<string, Usage[]>;

const keyOf = (tool: string, sas: number): string => `${tool}@${sas}`;

function med(samples: Samples, key: string, f: (u: Usage) => number): number {
  return median((samples.get(key) ?? []).map(f));
}

/** Per-SA cost in µs between two sizes, from the medians. */
function slope(samples: Samples, tool: string, from: number, to: number, f: (u: Usage) => number = (u) => u.wallMs): number {
  return ((med(samples, keyOf(tool, to), f) - med(samples, keyOf(tool, from), f)) * 1000) / (to - from);
}

function cell(samples: Samples, key: string): string {
  const wall = med(samples, key, (u) => u.wallMs);
  return `${fmt(wall, 0)} / ${fmt(med(samples, key, (u) => u.cpuMs), 0)} / ${fmt(med(samples, key, (u) => u.rssMb), 1)}`;
}

function listTables(samples: Samples, tools: Tool[], sizes: number[]): { tables: Table[]; targets: Target[] } {
  const [small, mid, large] = sizes as [number, number, number];
  const absolute: Table = {
    caption: 'Medians: wall ms / CPU ms / peak RSS MB',
    head: ['tool', ...sizes.map((n) => `${n} SAs`)],
    rows: tools.map((t) => [t.label, ...sizes.map((n) => cell(samples, keyOf(t.key, n)))]),
  };
  const s = (tool: string, from: number, to: number, f?: (u: Usage) => number): number => slope(samples, tool, from, to, f);
  const perSa: Table = {
    caption: 'Per SA: µs of wall (and CPU) between two sizes, from the medians (start-up cancels out); ratios to ip and to the kernel share',
    head: ['tool', `wall ${small}→${mid}`, `wall ${mid}→${large}`, `CPU ${mid}→${large}`, `vs ip ${small}→${mid}`, `vs ip ${mid}→${large}`, `vs kernel ${mid}→${large}`],
    rows: tools.map((t) => [
      t.label,
      fmt(s(t.key, small, mid), 2),
      fmt(s(t.key, mid, large), 2),
      fmt(s(t.key, mid, large, (u) => u.cpuMs), 2),
      ratio(s(t.key, small, mid), s('ip', small, mid)),
      ratio(s(t.key, mid, large), s('ip', mid, large)),
      ratio(s(t.key, mid, large), s('kernel', mid, large)),
    ]),
  };
  const targets: Target[] = [];
  for (const key of ['json', 'text']) {
    const label = tools.find((t) => t.key === key)!.label;
    const hi = s(key, mid, large) / s('ip', mid, large);
    const lo = s(key, small, mid) / s('ip', small, mid);
    const kernel = s(key, mid, large) / s('kernel', mid, large);
    const rss = med(samples, keyOf(key, large), (u) => u.rssMb) - med(samples, keyOf(key, small), (u) => u.rssMb);
    targets.push(
      { target: `${label}: per-SA wall no higher than ip's, ${mid}→${large}`, verdict: verdict(hi <= 1), detail: `${hi.toFixed(2)}x ip` },
      { target: `${label}: per-SA wall at most 1.3x ip's, ${small}→${mid}`, verdict: verdict(lo <= 1.3), detail: `${lo.toFixed(2)}x ip` },
      { target: `${label}: within 1.5x of the kernel share, ${mid}→${large}`, verdict: verdict(kernel <= 1.5), detail: `${kernel.toFixed(2)}x kernel share` },
      { target: `${label}: RSS at ${large} SAs within 40 MB of RSS at ${small}`, verdict: verdict(rss <= 40), detail: `+${fmt(rss, 1)} MB` },
    );
  }
  const counters = Math.max(s('counters', small, mid) / s('ip', small, mid), s('counters', mid, large) / s('ip', mid, large));
  targets.push({
    target: '`xaev -j list --counters-only`: per-SA cost at most 0.5x ip\'s',
    verdict: verdict(counters <= 0.5),
    detail: `${counters.toFixed(2)}x ip (the worse of ${small}→${mid} and ${mid}→${large})`,
  });
  return { tables: [absolute, perSa], targets };
}

function writeGetAesFile(work: string, ns: HostNamespace): string {
  const file = join(work, `getae-${ns.size}.bin`);
  writeFileSync(file, encodeGetAes(ns.sas));
  return file;
}

/** An SA from the middle of the namespace's list: neither the first nor the last the dump meets. */
const middleSa = (ns: HostNamespace) => ns.sas[ns.sas.length >> 1]!;

interface LookupResult {
  table: Table;
  targets: Target[];
  commands: string[];
}

function lookups(spaces: HostNamespace[], xaev: string, work: string, runs: number, batchLines: number): LookupResult {
  const node = process.execPath;
  const variants = [
    { key: 'node', label: "`node -e ''`", argv: () => [node, '-e', ''] },
    { key: 'dst', label: '`xaev get SPI --dst DST` (GETSA, GETAE)', argv: (ns: HostNamespace) => [node, xaev, '-n', ns.name, 'get', hex(middleSa(ns).spi), '--dst', middleSa(ns).dst] },
    { key: 'spi', label: '`xaev get SPI` (the SPI found in the dump)', argv: (ns: HostNamespace) => [node, xaev, '-n', ns.name, 'get', hex(middleSa(ns).spi)] },
    { key: 'batch', label: `\`xaev batch\`, ${batchLines} \`get SPI --dst DST\` lines: per line`, argv: (ns: HostNamespace) => [node, xaev, '-n', ns.name, 'batch', batchFile(ns)] },
  ];
  const batchFile = (ns: HostNamespace): string => join(work, `batch-${ns.size}.txt`);
  for (const ns of spaces) {
    const lines = Array.from({ length: batchLines }, (_, i) => ns.sas[Math.floor((i * ns.size) / batchLines)]!);
    writeFileSync(batchFile(ns), lines.map((sa) => `get ${hex(sa.spi)} --dst ${sa.dst}\n`).join(''));
  }
  const samples: Samples = new Map();
  for (let r = 0; r < runs; r++) {
    for (const ns of spaces) {
      for (const v of variants) {
        if (v.key === 'node' && ns !== spaces[0]) continue;
        const key = keyOf(v.key, ns.size);
        samples.set(key, [...(samples.get(key) ?? []), measure(v.argv(ns))]);
      }
    }
  }
  const sizes = spaces.map((ns) => ns.size);
  const row = (label: string, key: string, divide: number) => [
    label,
    ...sizes.map((n) => {
      if (key === 'node' && n !== sizes[0]) return '';
      const k = keyOf(key, n);
      return `${fmt(med(samples, k, (u) => u.wallMs) / divide, divide > 1 ? 3 : 1)} / ${fmt(med(samples, k, (u) => u.cpuMs) / divide, divide > 1 ? 3 : 1)} / ${fmt(med(samples, k, (u) => u.rssMb), 1)}`;
    }),
  ];
  const table: Table = {
    caption: `Medians of ${runs} runs: wall ms / CPU ms / peak RSS MB (batch: per line, RSS of the whole run)`,
    head: ['command', ...sizes.map((n) => `${n} SA${n === 1 ? '' : 's'}`)],
    rows: [row(variants[0]!.label, 'node', 1), row(variants[1]!.label, 'dst', 1), row(variants[2]!.label, 'spi', 1), row(variants[3]!.label, 'batch', batchLines)],
  };
  const [one, , large] = sizes as [number, number, number];
  const wall = (key: string, n: number) => med(samples, keyOf(key, n), (u) => u.wallMs);
  const cpu = (key: string, n: number) => med(samples, keyOf(key, n), (u) => u.cpuMs);
  // "The same cost": within the run-to-run noise of a shared machine, 10% or 3 ms.
  const same = (a: number, b: number) => b <= a * 1.1 || b - a <= 3;
  const targets: Target[] = [
    {
      target: `\`get SPI --dst\`: the same cost at ${large} SAs as at ${one} (within 10% or 3 ms)`,
      verdict: verdict(same(wall('dst', one), wall('dst', large)) && same(cpu('dst', one), cpu('dst', large))),
      detail: `wall ${fmt(wall('dst', one), 1)} → ${fmt(wall('dst', large), 1)} ms, CPU ${fmt(cpu('dst', one), 1)} → ${fmt(cpu('dst', large), 1)} ms; node -e '' ${fmt(wall('node', one), 1)} ms wall`,
    },
    {
      target: `batch \`get SPI --dst\` lines: the same cost per line at ${large} SAs as at ${one} (within 10% or 3 ms per ${batchLines} lines)`,
      verdict: verdict(same(wall('batch', one), wall('batch', large))),
      detail: `${fmt(wall('batch', one) / batchLines, 3)} → ${fmt(wall('batch', large) / batchLines, 3)} ms per line (whole runs ${fmt(wall('batch', one), 0)} → ${fmt(wall('batch', large), 0)} ms)`,
    },
  ];
  const sample = spaces.at(-1)!;
  return {
    table,
    targets,
    commands: [
      ...variants.map((x) => commandLine(x.argv(sample)).replace(process.execPath, 'node')),
      `# ${batchFile(sample)}: ${batchLines} lines "get SPI --dst DST", SAs spread over the namespace`,
    ],
  };
}

export function scaleSection(
  one: HostNamespace,
  spaces: HostNamespace[],
  xaev: string,
  kernelShare: string,
  work: string,
  opts: { reps: number; getRuns: number; batchLines: number },
): Section {
  const files = new Map(spaces.map((ns) => [ns, writeGetAesFile(work, ns)]));
  const tools = listTools(xaev, kernelShare, (ns) => files.get(ns)!);
  for (const ns of spaces) {
    for (const t of tools) {
      const out = timed(t.argv(ns), { capture: true });
      const count = t.count(out.stdout);
      if (out.status !== 0 || (!Number.isNaN(count) && count !== ns.size)) {
        throw new Error(`${t.label} at ${ns.size} SAs: status ${out.status}, listed ${count}: ${out.stderr.trim().slice(0, 300)}`);
      }
    }
  }
  log(`scale: list x ${opts.reps} rounds at ${spaces.map((ns) => ns.size).join(', ')} SAs`);
  const samples: Samples = new Map();
  for (let r = 0; r < opts.reps; r++) {
    for (const ns of spaces) {
      for (const t of tools) {
        const key = keyOf(t.key, ns.size);
        samples.set(key, [...(samples.get(key) ?? []), measure(t.argv(ns))]);
      }
    }
  }
  const sizes = spaces.map((ns) => ns.size);
  const list = listTables(samples, tools, sizes);
  log(`scale: get and batch x ${opts.getRuns} at 1, ${sizes[0]} and ${sizes.at(-1)} SAs`);
  const look = lookups([one, spaces[0]!, spaces.at(-1)!], xaev, work, opts.getRuns, opts.batchLines);
  const sample = spaces.at(-1)!;
  return {
    title: `Scale: list and lookups at ${sizes.join(', ')} SAs`,
    where: 'host kernel, larval SAs with random SPIs in throwaway namespaces',
    tables: [...list.tables, look.table],
    targets: [...list.targets, ...look.targets],
    notes: [
      `Larval SAs (\`ip xfrm state allocspi src ${sample.sas[0]!.src} dst 10.x.y.z proto esp min SPI max SPI\` through one \`ip -batch -\`, net.core.xfrm_acq_expires=3600), random SPIs (a fixed seed), a destination per SA. Each round runs every tool on every size in turn, so a slow spell of the shared machine hits all alike; ${opts.reps} rounds.`,
      'Measured by a Python parent with fork/exec/wait4: wall from fork to exit, CPU = the child\'s user + system time, peak RSS = ru_maxrss. stdout goes to /dev/null.',
      'ip -s dumps once and prints counters (no thresholds: dumps carry none). xaev list dumps on one socket and, after each dump batch, sends one GETAE per SA (encoded from the dump bytes, 512 per datagram) on another, writing -j output straight from the reply bytes. Both sockets are read and written on libuv worker threads, where the kernel does its share (it answers inside sendto() and builds dump batches inside recv()), while the main thread prints the answers before: on this 2-CPU machine the two overlap. --counters-only prints the dump alone, read the same way.',
      'The kernel share is a Node process doing the same dump and the same GETAEs with nothing decoded or printed, each step waiting for the one before in one thread (bench/kernel-share.ts): the kernel\'s work as the sum of its parts, the floor for a single-threaded implementation on this socket layer. xaev list can go below it by overlapping the parts.',
      `get SPI --dst looks the SA up with one GETSA per protocol that has SPIs (3 in one datagram), then reads it with one GETAE; get SPI without --dst reads the whole dump to find the SPI. The batch file has ${opts.batchLines} lines on SAs spread over the namespace (at 1 SA, the same SA each time).`,
    ],
    commands: [...tools.map((t) => commandLine(t.argv(sample)).replace(process.execPath, 'node')), ...look.commands],
  };
}
