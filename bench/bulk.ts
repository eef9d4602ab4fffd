// Benchmark 2b: bulk read in the kernel lab, `xaev -j list` against `ip -s xfrm state` at two
// SA counts (real ESP SAs, bench/bulk.sh). The host kernel's side is bench/scale.ts.
import { join } from 'node:path';
import { cleanupLab, labFile, labStatus, REPO_ROOT, runInLab } from '../test/lab/lab.js';
import { commandLine, fmt, log, median, verdict, type Table, type Target } from './util.js';

export type Tool = 'ip' | 'xaev';

export interface Sample {
  sas: number;
  tool: Tool;
  wallMs: number;
  cpuMs?: number;
  minflt?: number;
}

export interface PlaceResult {
  place: string;
  samples: Sample[];
  small: number;
  large: number;
  commands: string[];
  notes: string[];
  error?: string;
}

export function bulkArgv(tool: Tool, xaev: string, netns: string): string[] {
  return tool === 'ip' ? ['ip', '-n', netns, '-s', 'xfrm', 'state'] : [process.execPath, xaev, '-n', netns, '-j', 'list'];
}

export async function labBulk(xaev: string, small: number, large: number, reps: number, keep: boolean): Promise<PlaceResult> {
  const place = 'kernel lab';
  const base: PlaceResult = { place, samples: [], small, large, commands: [], notes: [] };
  const st = labStatus();
  if (!st.available) return { ...base, error: `kernel lab unavailable: ${st.reason}` };
  log(`bulk (lab): booting the lab (${small} then ${large} real SAs, ${reps} runs each)`);
  const run = await runInLab(join(REPO_ROOT, 'bench/bulk.sh'), {
    env: { BENCH_XAEV: xaev, BENCH_SMALL: String(small), BENCH_LARGE: String(large), BENCH_REPS: String(reps) },
    timeoutMs: 600000,
  });
  log(`bulk (lab): lab run took ${(run.durationMs / 1000).toFixed(1)} s, scenario status ${run.exitCode}`);
  if (run.exitCode !== 0) {
    return {
      ...base,
      error: `scenario failed (status ${run.exitCode}), output kept in ${run.outDir}: ${run.scenarioLog.trim().split('\n').slice(-4).join(' / ')}`,
    };
  }
  const samples: Sample[] = [];
  for (const line of labFile(run, 'bulk.txt').trim().split('\n')) {
    const [sas, tool, , wall, cpu, flt, status] = line.split(' ');
    if (status !== '0') return { ...base, error: `${tool} exited ${status} at ${sas} SAs (output kept in ${run.outDir})` };
    samples.push({
      sas: Number(sas),
      tool: tool as Tool,
      wallMs: Number(wall),
      cpuMs: Number(cpu),
      minflt: flt === '-' ? undefined : Number(flt),
    });
  }
  const env = labFile(run, 'env.txt');
  const get = (k: string) => new RegExp(`^${k} (.*)$`, 'm').exec(env)?.[1];
  const notes = [
    `UML ${get('kernel') ?? '?'} guest; real ESP SAs (cipher_null + hmac(sha256), replay window 32): ${small} in netns bulks, ${large} in netns bulkl, created with \`ip -batch\` in ${get('create_small_ms') ?? '?'} and ${get('create_large_ms') ?? '?'} ms; both tools listed all of them (xaev ${get('xaev_listed_bulks') ?? '?'} and ${get('xaev_listed_bulkl') ?? '?'}, ip ${get('ip_listed_bulks') ?? '?'} and ${get('ip_listed_bulkl') ?? '?'}). Each round times both tools on both namespaces, so slow spells of the shared host hit both sizes alike.`,
    'Times from GNU time inside the guest (10 ms steps), so the shell\'s own process start is not counted; every syscall and page fault is a ptrace round trip in UML.',
    ...(get('time') ? [`The guest ran slowly: ${get('time')} (the rounds stop after a time budget so the benchmark stays within minutes).`] : []),
  ];
  if (!keep) cleanupLab(run);
  return {
    ...base,
    samples,
    commands: [
      commandLine(bulkArgv('ip', xaev, 'bulks')) + '   # and -n bulkl',
      commandLine(bulkArgv('xaev', xaev, 'bulks')).replace(process.execPath, 'node') + '   # and -n bulkl',
      '# both run inside the lab scenario bench/bulk.sh',
    ],
    notes,
  };
}

interface Stats {
  small: number;
  large: number;
  slopeUs: number;
  minfltSlope?: number;
  cpuSlopeUs?: number;
}

function stats(samples: Sample[], tool: Tool, small: number, large: number): Stats {
  const pick = (n: number, f: (s: Sample) => number | undefined) =>
    median(samples.filter((s) => s.tool === tool && s.sas === n).map(f).filter((v): v is number => v !== undefined));
  const s = pick(small, (x) => x.wallMs);
  const l = pick(large, (x) => x.wallMs);
  const fs = pick(small, (x) => x.minflt);
  const fl = pick(large, (x) => x.minflt);
  const cs = pick(small, (x) => x.cpuMs);
  const cl = pick(large, (x) => x.cpuMs);
  return {
    small: s,
    large: l,
    slopeUs: ((l - s) * 1000) / (large - small),
    minfltSlope: Number.isFinite(fl - fs) ? (fl - fs) / (large - small) : undefined,
    cpuSlopeUs: Number.isFinite(cl - cs) ? ((cl - cs) * 1000) / (large - small) : undefined,
  };
}

export function bulkTables(places: PlaceResult[]): { tables: Table[]; targets: Target[]; notes: string[]; commands: string[] } {
  const rows: string[][] = [];
  const targets: Target[] = [];
  const notes: string[] = [];
  const commands: string[] = [];
  for (const p of places) {
    if (p.error) {
      notes.push(`${p.place}: SKIPPED: ${p.error}`);
      targets.push({ target: `per-SA cost of xaev no higher than ip's (${p.place})`, verdict: 'N/A', detail: p.error });
      continue;
    }
    const ip = stats(p.samples, 'ip', p.small, p.large);
    const xa = stats(p.samples, 'xaev', p.small, p.large);
    const reps = p.samples.filter((s) => s.tool === 'ip' && s.sas === p.small).length;
    for (const [tool, s] of [
      ['ip -s xfrm state', ip],
      ['xaev -j list', xa],
    ] as const) {
      rows.push([
        p.place,
        tool,
        fmt(s.small, 1),
        fmt(s.large, 1),
        fmt(s.slopeUs, 2),
        s === xa ? `${(xa.slopeUs / ip.slopeUs).toFixed(2)}x` : '1.00x',
        s.cpuSlopeUs === undefined ? '-' : fmt(s.cpuSlopeUs, 2),
        s.minfltSlope === undefined ? '-' : fmt(s.minfltSlope, 2),
      ]);
    }
    const sane = xa.slopeUs > 0 && ip.slopeUs > 0;
    targets.push({
      target: `per-SA cost of xaev no higher than ip's (${p.place})`,
      verdict: sane ? verdict(xa.slopeUs <= ip.slopeUs) : 'N/A',
      detail:
        `xaev ${fmt(xa.slopeUs, 2)} us/SA vs ip ${fmt(ip.slopeUs, 2)} us/SA = ${(xa.slopeUs / ip.slopeUs).toFixed(2)}x (medians of ${reps} runs)` +
        (sane ? '' : '; a slope <= 0 means the noise exceeded the effect: no verdict'),
    });
    const all = (tool: Tool, n: number) =>
      p.samples
        .filter((s) => s.tool === tool && s.sas === n)
        .map((s) => fmt(s.wallMs, 0))
        .join(', ');
    notes.push(
      `${p.place}, every run in ms: ip ${p.small}: ${all('ip', p.small)}; ip ${p.large}: ${all('ip', p.large)}; xaev ${p.small}: ${all('xaev', p.small)}; xaev ${p.large}: ${all('xaev', p.large)}.`,
    );
    notes.push(...p.notes);
    commands.push(...p.commands);
  }
  return {
    tables: [
      {
        head: [
          'where',
          'tool',
          `t(${places[0]?.small ?? '?'}) ms`,
          `t(${places[0]?.large ?? '?'}) ms`,
          'per SA us (slope)',
          'vs ip',
          'CPU per SA us',
          'page faults per SA',
        ],
        rows,
      },
    ],
    targets,
    notes,
    commands,
  };
}
