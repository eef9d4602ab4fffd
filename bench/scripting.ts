// Benchmark 3: scripting on the host kernel (larval SAs in a throwaway namespace).
//  3a: start-up of `xaev get SPI` against a bare `node -e ''` (+ a breakdown of where it goes)
//  3b: 1,000 `get` lines in one `xaev batch` against 1,000 `xaev get` processes
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { hex } from '../src/netlink/bytes.js';
import type { LarvalSa } from '../test/support/host.js';
import {
  commandLine,
  fmt,
  log,
  median,
  timedOk,
  verdict,
  xaevEntry,
  type HostNamespace,
  type Section,
} from './util.js';

interface Variant {
  key: string;
  label: string;
  argv: string[];
  cwd?: string;
  /** An import timed alone: also shown against the ESM baseline. */
  imports?: boolean;
  /** Part of the target comparison (the others are the breakdown). */
  primary?: boolean;
}

const nodeImport = (specifier: string): string[] => [
  process.execPath,
  '--input-type=module',
  '-e',
  `await import(${JSON.stringify(specifier)})`,
];

/** Start-up: every variant `runs` times, interleaved so drift hits all alike. */
export function startupSection(ns: HostNamespace, xaev: string, runs: number): Section {
  const root = resolve(dirname(xaev), '..');
  const sa = ns.sas[0]!;
  const spi = hex(sa.spi);
  const loaded = xaevEntry(xaev);
  const entry = loaded?.path;
  const graph = entry ? importGraph(entry) : undefined;
  const variants: Variant[] = [
    { key: 'node', label: "node -e ''", argv: [process.execPath, '-e', ''], primary: true },
    { key: 'get', label: `xaev get ${spi}`, argv: [process.execPath, xaev, '-n', ns.name, 'get', spi], primary: true },
    { key: 'esm', label: "node --input-type=module -e ''", argv: [process.execPath, '--input-type=module', '-e', ''] },
    // Packages the entry module imports itself (not bundled into it), each alone.
    ...(graph?.packages ?? []).map((p) => ({ key: `pkg:${p}`, label: `+ import('${p}') alone`, argv: nodeImport(p), cwd: root, imports: true })),
    ...(loaded && entry
      ? [
          loaded.how === 'code-cache'
            ? {
                key: 'entry',
                label: `+ ${relative(root, entry)} from its code cache (what bin/xaev.js loads; nothing run)`,
                argv: [process.execPath, '-e', `require(${JSON.stringify(loaded.loader)}).loadBundle(${JSON.stringify(entry)})`],
              }
            : loaded.how === 'require'
            ? {
                key: 'entry',
                label: `+ require ${relative(root, entry)} (what bin/xaev.js loads; nothing run)`,
                argv: [process.execPath, '-e', `require(${JSON.stringify(entry)})`],
              }
            : { key: 'entry', label: `+ import ${relative(root, entry)} (what bin/xaev.js loads; nothing run)`, argv: nodeImport(entry), imports: true },
        ]
      : []),
    { key: 'version', label: 'xaev --version (parse, no socket)', argv: [process.execPath, xaev, '--version'] },
    {
      key: 'ipget',
      label: `ip xfrm state get ... spi ${spi} (reference)`,
      argv: ipGet(ns.name, sa),
    },
  ];
  log(`startup: ${variants.length} variants x ${runs} runs (netns with ${ns.size} SA)`);
  const times = new Map<string, number[]>(variants.map((v) => [v.key, []]));
  for (const v of variants) timedOk(v.argv, { cwd: v.cwd }); // warm the page cache
  for (let r = 0; r < runs; r++) {
    for (const v of variants) times.get(v.key)!.push(timedOk(v.argv, { cwd: v.cwd }).ms);
  }
  const med = (k: string) => median(times.get(k)!);
  const min = (k: string) => Math.min(...times.get(k)!);
  const base = med('node');
  const esm = med('esm');
  const rows = variants.map((v) => [
    v.primary ? `**${v.label}**` : v.label,
    fmt(med(v.key), 1),
    fmt(min(v.key), 1),
    fmt(med(v.key) - base, 1),
    v.imports ? fmt(med(v.key) - esm, 1) : '',
  ]);
  const over = med('get') - base;
  return {
    title: "Start-up: xaev get SPI against a bare node -e ''",
    where: `host kernel, throwaway netns ${ns.name} with ${ns.size} larval SA`,
    tables: [
      {
        head: ['command', 'median ms', 'min ms', 'vs node -e \'\' (ms)', "vs node --input-type=module -e '' (ms)"],
        rows,
      },
    ],
    targets: [
      {
        target: "xaev's start-up within 30 ms of bare Node",
        verdict: verdict(over <= 30),
        detail: `xaev get ${fmt(med('get'))} ms vs node -e '' ${fmt(base)} ms: +${fmt(over)} ms (median of ${runs} runs each)`,
      },
    ],
    notes: [
      `The rows below the two targets are a breakdown: module imports timed alone (each a fresh process), then xaev without the netlink work (--version), then ip's own start-up for scale.`,
      graph && entry
        ? `Static imports reachable from ${relative(root, entry)}: ${graph.own} module file(s) of xaev (${fmt(graph.bytes / 1024, 0)} KiB), packages loaded separately: ${graph.packages.join(', ') || 'none'}; node builtins imported: ${graph.builtins.join(', ') || 'none'}; required: ${graph.required.join(', ') || 'none'}; imported lazily (import()): ${graph.lazy.join(', ') || 'none'}.`
        : 'bin/xaev.js imports no relative module (unexpected layout).',
    ],
    commands: variants.map((v) => commandLine(v.argv).replace(process.execPath, 'node') + (v.cwd ? `   # in ${v.cwd}` : '')),
  };
}

/** xaev's own module files reachable from `entry` through static imports, and what they load. */
function importGraph(entry: string): { own: number; bytes: number; packages: string[]; builtins: string[]; required: string[]; lazy: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const builtins = new Set<string>();
  const required = new Set<string>();
  const lazy = new Set<string>();
  let bytes = 0;
  const stack = [entry];
  const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    bytes += text.length;
    // Static imports and re-exports, also minified (`import{a as b}from"node:fs"`).
    for (const m of text.matchAll(/(?:^|[;\s}])(?:import|export)\s*(?:[\w*{}\s,$]*?from\s*)?["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec));
      else if (isBuiltin(spec)) builtins.add(spec);
      else packages.add(spec);
    }
    for (const m of text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) lazy.add(m[1]!);
    for (const m of text.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) required.add(m[1]!);
  }
  return {
    own: seen.size,
    bytes,
    packages: [...packages].sort(),
    builtins: [...builtins].sort(),
    required: [...required].sort(),
    lazy: [...lazy].sort(),
  };
}

/** `ip xfrm state get` of one SA: ip needs dst, proto and SPI. */
function ipGet(netns: string, sa: LarvalSa): string[] {
  return ['ip', '-n', netns, ...ipGetLine(sa).trim().split(' ')];
}

function ipGetLine(sa: LarvalSa): string {
  return `xfrm state get src ${sa.src} dst ${sa.dst} proto esp spi ${hex(sa.spi)}\n`;
}

/** 3b: one batch against separate processes; ip's equivalents as a reference. */
export function scriptingSection(ns: HostNamespace, xaev: string, workDir: string, count: number, reps: number): Section {
  const sas = ns.sas.slice(0, count);
  const spis = sas.map((sa) => hex(sa.spi));
  if (ns.size < count) throw new Error(`scripting needs ${count} SAs, netns has ${ns.size}`);
  const batchFile = join(workDir, 'xaev-batch.txt');
  writeFileSync(batchFile, spis.map((s) => `get ${s}\n`).join(''));
  const xaevScript = join(workDir, 'xaev-separate.sh');
  writeFileSync(
    xaevScript,
    `set -e\n${spis.map((s) => `${commandLine([process.execPath, xaev, '-n', ns.name, 'get', s])}\n`).join('')}`,
  );
  const ipBatchFile = join(workDir, 'ip-batch.txt');
  writeFileSync(ipBatchFile, sas.map(ipGetLine).join(''));
  const ipScript = join(workDir, 'ip-separate.sh');
  writeFileSync(
    ipScript,
    `set -e\n${sas.map((sa) => `${commandLine(ipGet(ns.name, sa))}\n`).join('')}`,
  );

  const xBatch = [process.execPath, xaev, '-n', ns.name, 'batch', batchFile];
  const ipBatch = ['ip', '-n', ns.name, '-batch', ipBatchFile];
  // Check once that every line answered (outside the timed runs).
  const check = timedOk(xBatch, { capture: true });
  const answered = (check.stdout.match(/^src /gm) ?? []).length;
  if (answered !== count) throw new Error(`xaev batch printed ${answered} SAs for ${count} get lines`);

  log(`scripting: xaev batch x ${reps}, ip -batch x ${reps}`);
  const xb = median(Array.from({ length: reps }, () => timedOk(xBatch).ms));
  const ib = median(Array.from({ length: reps }, () => timedOk(ipBatch).ms));
  log(`scripting: ${count} separate ip processes`);
  const is = timedOk(['sh', ipScript]).ms;
  log(`scripting: ${count} separate xaev processes (the long one: ~${Math.round((count * 0.15) / 60)}+ min)`);
  const xs = timedOk(['sh', xaevScript], { timeoutMs: 30 * 60 * 1000 }).ms;
  const speedup = xs / xb;
  return {
    title: `Scripting: ${count} gets in one xaev batch against ${count} xaev get processes`,
    where: `host kernel, throwaway netns ${ns.name} with ${ns.size} larval SAs (one get per SA)`,
    tables: [
      {
        head: ['how', 'processes', 'total s', 'per get ms', 'speed-up'],
        rows: [
          [`**xaev batch** (${count} \`get 0x...\` lines)`, '1', fmt(xb / 1000, 2), fmt(xb / count, 2), `**${speedup.toFixed(1)}x**`],
          [`**${count} x xaev get**`, String(count), fmt(xs / 1000, 2), fmt(xs / count, 2), '1.0x'],
          [`ip -batch (${count} \`xfrm state get\` lines), reference`, '1', fmt(ib / 1000, 2), fmt(ib / count, 3), `${(is / ib).toFixed(1)}x`],
          [`${count} x ip xfrm state get, reference`, String(count), fmt(is / 1000, 2), fmt(is / count, 2), '1.0x'],
        ],
      },
    ],
    targets: [
      {
        target: 'batch at least 20x faster than separate processes',
        verdict: verdict(speedup >= 20),
        detail: `${fmt(xs / 1000, 2)} s / ${fmt(xb / 1000, 2)} s = ${speedup.toFixed(1)}x (batch: median of ${reps} runs; separate: one run of ${count} processes)`,
      },
    ],
    notes: [
      `\`xaev get SPI\` without --dst finds the SA by its SPI in a dump of the SA database (the kernel has no lookup by SPI alone), then reads it with GETAE; the namespace holds ${ns.size} SAs, so every separate process dumps ${ns.size} SAs. A batch dumps once and looks every line up in that dump. (With --dst, one GETAE finds the SA: see the scale benchmark.)`,
      'ip xfrm state get is given dst, proto and spi, so the kernel looks the SA up directly (no dump); it reads the SA, not its aevent thresholds (iproute2 cannot send GETAE).',
    ],
    commands: [
      commandLine(xBatch).replace(process.execPath, 'node') + `   # ${batchFile}: ${count} lines "get 0x..."`,
      `sh ${xaevScript}   # ${count} lines: ${commandLine([process.execPath, xaev, '-n', ns.name, 'get', spis[0]!]).replace(process.execPath, 'node')} ...`,
      commandLine(ipBatch) + `   # ${ipBatchFile}: ${count} lines "${ipGetLine(sas[0]!).trim()}" ...`,
      `sh ${ipScript}   # ${count} lines: ${commandLine(ipGet(ns.name, sas[0]!))} ...`,
    ],
  };
}
