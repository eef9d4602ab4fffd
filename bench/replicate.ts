// Benchmark: SA and policy replication at scale (issue 19 item 6) in the kernel lab
// (bench/replicate.sh): 10,000 SAs and 10,000 policies on the active A, an empty standby S.
//
//   - `ip xfrm state` and `ip xfrm policy` on A: dump time and output size (the reference);
//   - `xaev sync send --replicate sas,policies`: its snapshot's size, and the time from the
//     sender's start until its snapshot-end record is written out;
//   - `xaev sync receive --install` on S: the time from its start until every SA and policy
//     is installed (NEWSA/NEWPOLICY on S's groups), against `ip -batch` creating them on A;
//   - a rekey burst of 1,000 SAs in one `ip -batch` on A: for each SA, the time it appears on
//     S minus the time it appeared on A (p50/p99), against the time the batch took.
//
//   npm run build:ts && node dist/bench/replicate.js [--sas 10000] [--policies 10000]
//                                                     [--burst 1000] [--keep] [--kernel ID]
//                                                     [--profile]   (CPU profiles of the receiver
//                                                                    and its sender, kept)
//                                                     [--xaev PATH] (another build's bin/xaev.js,
//                                                                    on a path the guest sees:
//                                                                    not under /tmp)
//
// replicateBench() returns a Section like the other benchmarks, for bench/run.ts.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanupLab, labFile, labStatus, REPO_ROOT, runInLab, type LabKernelId } from '../test/lab/lab.js';
import { fmt, kv, log, median, ratio, renderSection, scenarioFailure, skippedSection, verdict, type Section } from './util.js';

/** The fastest lab kernel here (docs/lab.md), and the one that has every feature replication carries. */
export const REPLICATE_KERNEL: LabKernelId = 'uml-7.3';

export interface ReplicateBenchOptions {
  xaev: string;
  sas: number;
  policies: number;
  burst: number;
  reps: number;
  keep: boolean;
  kernel?: LabKernelId;
  /** Profile the receiver and its sender (bench/replicate.sh BENCH_PROFILE); implies keep. */
  profile?: boolean;
}

/** `START_MS END_MS STATUS` lines (replicate-nl.pl time). */
function rounds(text: string): { ms: number; status: number }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [start, end, status] = line.split(' ').map(Number);
      return { ms: end! - start!, status: status! };
    });
}

/** A listener's file (replicate-nl.pl listen): NEWSA times by SPI, and its summary lines. */
interface Listened {
  saAt: Map<number, number>;
  summary: Map<string, string>;
}

function listened(text: string): Listened {
  const saAt = new Map<number, number>();
  const summary = new Map<string, string>();
  for (const line of text.split('\n')) {
    const words = line.split(' ');
    if (words[0] === 'sa' && words.length === 3) {
      const spi = Number.parseInt(words[1]!, 16);
      // The first NEWSA of an SPI: a later one would be another SA of the same SPI.
      if (!saAt.has(spi)) saAt.set(spi, Number(words[2]));
    } else if (words.length >= 2) summary.set(words.slice(0, -1).join(' '), words[words.length - 1]!);
  }
  return { saAt, summary };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The sender's stream up to its snapshot-end: sizes by record type, and its hello's time. */
interface Snapshot {
  bytes: number;
  saRecords: number;
  saBytes: number;
  withConfig: number;
  policyRecords: number;
  policyBytes: number;
  helloAt: number;
  endCount: number;
  endPolicies: number;
}

function snapshotOf(stream: string): Snapshot {
  const s: Snapshot = { bytes: 0, saRecords: 0, saBytes: 0, withConfig: 0, policyRecords: 0, policyBytes: 0, helloAt: NaN, endCount: NaN, endPolicies: NaN };
  for (const line of stream.split('\n')) {
    if (!line) continue;
    const bytes = Buffer.byteLength(line) + 1;
    s.bytes += bytes;
    const record = JSON.parse(line) as { type: string; time: number; config?: unknown; count?: number; policies?: number };
    if (record.type === 'hello') s.helloAt = record.time;
    else if (record.type === 'sa') {
      s.saRecords++;
      s.saBytes += bytes;
      if (record.config !== undefined) s.withConfig++;
    } else if (record.type === 'policy') {
      s.policyRecords++;
      s.policyBytes += bytes;
    } else if (record.type === 'snapshot-end') {
      s.endCount = record.count ?? NaN;
      s.endPolicies = record.policies ?? NaN;
      break;
    }
  }
  return s;
}

/** `MS BYTES` (replicate-nl.pl tee --match STRING=FILE); NaN when the file was never written. */
function stampOf(text: string): { at: number; bytes: number } {
  const [at, bytes] = text.trim() === '' ? [] : text.trim().split(' ').map(Number);
  return { at: at ?? NaN, bytes: bytes ?? NaN };
}

/** The receiver's default `--heartbeat-timeout` (src/cli/commands/sync.ts): the longest silence it allows once data flowed. */
const DEFAULT_HEARTBEAT_TIMEOUT_MS = 5000;

interface StatusTotals {
  installedSas?: number;
  installedPolicies?: number;
  installErrors?: number;
  replicasRefused?: number;
  streamErrors?: number;
  snapshots?: number;
}

function totalsOf(text: string): StatusTotals {
  try {
    return (JSON.parse(text) as { totals: StatusTotals }).totals;
  } catch {
    return {};
  }
}

export async function replicateBench(o: ReplicateBenchOptions): Promise<Section> {
  const title = `SA and policy replication at scale: ${o.sas} SAs and ${o.policies} policies, a rekey burst of ${o.burst} SAs`;
  const kernel = o.kernel ?? REPLICATE_KERNEL;
  const st = labStatus(kernel);
  if (!st.available) return skippedSection(title, `kernel lab (${kernel}) unavailable: ${st.reason}`);
  log(`replicate: booting ${kernel} (${o.sas} SAs, ${o.policies} policies, burst ${o.burst})`);
  const run = await runInLab(join(REPO_ROOT, 'bench/replicate.sh'), {
    env: {
      BENCH_XAEV: o.xaev,
      BENCH_SAS: String(o.sas),
      BENCH_POLICIES: String(o.policies),
      BENCH_BURST: String(o.burst),
      BENCH_REPS: String(o.reps),
      ...(o.profile ? { BENCH_PROFILE: '1' } : {}),
    },
    kernel,
    // Two nodes' tables of SAs with keys, and three node processes holding them: at 40,000 SAs
    // and 40,000 policies the receiver's 300 MB did not fit in 1 GiB beside the rest.
    memMb: 1024 + Math.ceil((o.sas + o.policies) / 40),
    timeoutMs: 600_000,
  });
  log(`replicate: lab run took ${(run.durationMs / 1000).toFixed(1)} s, scenario status ${run.exitCode}`);
  if (run.exitCode !== 0) return skippedSection(title, scenarioFailure(run));

  const env = kv(labFile(run, 'env.txt'));
  const sizes = kv(labFile(run, 'sizes.txt'));
  const med = (file: string) => median(rounds(labFile(run, file)).map((r) => r.ms));
  const [createSas, createPolicies] = rounds(labFile(run, 'create.txt')).map((r) => r.ms);
  const stateMs = med('dump-state.txt');
  const policyMs = med('dump-policy.txt');
  const versionMs = med('version.txt');
  const stateBytes = Number(sizes.get('state_bytes'));
  const policyBytes = Number(sizes.get('policy_bytes'));

  // The sender alone.
  const sendStart = Number(labFile(run, 'send-start.txt').split(' ')[0]);
  const sendEnd = stampOf(labFile(run, 'send-end.txt'));
  // The longest time between two reads of its stream from the hello to the snapshot's end:
  // the silence a receiver's heartbeat watchdog must allow.
  const silenceMs = Number(labFile(run, 'send-gap.txt').trim() || NaN);
  const snap = snapshotOf(labFile(run, 'send.jsonl'));
  const snapshotMs = sendEnd.at - sendStart;

  // The install on S.
  const receiveStart = Number(labFile(run, 'receive-start.txt').split(' ')[0]);
  const receivedSnapshot = stampOf(labFile(run, 'receive-snapshot-end.txt'));
  const install = listened(labFile(run, 'listen-install.txt'));
  const lastSa = Number(install.summary.get('last sa'));
  const lastPolicy = Number(install.summary.get('last policy'));
  const firstInstall = Math.min(Number(install.summary.get('first sa')), Number(install.summary.get('first policy')));
  const installMs = Math.max(lastSa, lastPolicy) - receiveStart;
  const installedSas = Number(install.summary.get('count sa'));
  const installedPolicies = Number(install.summary.get('count policy'));
  const statusInstall = totalsOf(labFile(run, 'status-install.json'));
  const createMs = (createSas ?? NaN) + (createPolicies ?? NaN);

  // The burst.
  const [burstIp] = rounds(labFile(run, 'burst-ip.txt'));
  const burstStart = Number(labFile(run, 'burst-ip.txt').split(' ')[0]);
  const onA = listened(labFile(run, 'listen-burst-A.txt'));
  const onS = listened(labFile(run, 'listen-burst-S.txt'));
  const delays: number[] = [];
  let missing = 0;
  for (const [spi, at] of onA.saAt) {
    const there = onS.saAt.get(spi);
    if (there === undefined) missing++;
    else delays.push(there - at);
  }
  // The sender's own record of each (its `time`: when it had read A's NEWSA and the SA's state).
  const sentAt = new Map<number, number>();
  for (const line of labFile(run, 'stream-burst.jsonl').split('\n')) {
    if (!line.includes('"cause":"added"')) continue;
    let r: { spi: number; time: number };
    try {
      r = JSON.parse(line) as typeof r;
    } catch {
      continue; // the last line, cut off when the receiver was stopped
    }
    if (onA.saAt.has(r.spi) && !sentAt.has(r.spi)) sentAt.set(r.spi, r.time);
  }
  const toSender = [...sentAt].map(([spi, t]) => t - onA.saAt.get(spi)!);
  const fromSender = [...sentAt].filter(([spi]) => onS.saAt.has(spi)).map(([spi, t]) => onS.saAt.get(spi)! - t);
  const lastOnS = Math.max(...onS.saAt.values());
  const lastOnA = Math.max(...onA.saAt.values());
  const statusBurst = totalsOf(labFile(run, 'status-burst.json'));
  const lost = ['listen-install.txt', 'listen-burst-A.txt', 'listen-burst-S.txt'].map((f) => Number(listened(labFile(run, f)).summary.get('enobufs') ?? NaN));

  const complete =
    installedSas === o.sas &&
    installedPolicies === o.policies &&
    statusInstall.installedSas === o.sas &&
    statusInstall.installedPolicies === o.policies &&
    statusInstall.installErrors === 0 &&
    statusBurst.installedSas === o.sas + o.burst &&
    statusBurst.installErrors === 0 &&
    delays.length === o.burst &&
    onA.saAt.size === o.burst;

  const section: Section = {
    title,
    where: `kernel lab (user-mode-linux ${env.get('kernel') ?? '?'}, one CPU), netns A (active) and S (standby)`,
    tables: [
      {
        caption: `A's tables read whole: \`ip xfrm state\` and \`ip xfrm policy\` (medians of ${o.reps}) against the sender's snapshot (start to its snapshot-end record written out; one run)`,
        head: ['what', 'entries', 'bytes', 'bytes per entry', 'ms', 'ratio to ip (ms)', 'ratio to ip (bytes)'],
        rows: [
          ['`ip xfrm state`', String(sizes.get('state_sas') ?? '?'), String(stateBytes), fmt(stateBytes / o.sas, 0), fmt(stateMs, 0), '', ''],
          ['`ip xfrm policy`', String(sizes.get('policy_policies') ?? '?'), String(policyBytes), fmt(policyBytes / o.policies, 0), fmt(policyMs, 0), '', ''],
          ['both', String(o.sas + o.policies), String(stateBytes + policyBytes), '', fmt(stateMs + policyMs, 0), '1.00x', '1.00x'],
          [
            '`xaev sync send --replicate sas,policies`: snapshot (SA and policy records)',
            `${snap.saRecords} + ${snap.policyRecords}`,
            String(snap.bytes),
            fmt(snap.bytes / (snap.saRecords + snap.policyRecords), 0),
            fmt(snapshotMs, 0),
            ratio(snapshotMs, stateMs + policyMs),
            ratio(snap.bytes, stateBytes + policyBytes),
          ],
          ['  of which node start-up to hello', '', '', '', fmt(snap.helloAt - sendStart, 0), '', ''],
          ['  of which hello to snapshot-end written', '', '', '', fmt(sendEnd.at - snap.helloAt, 0), ratio(sendEnd.at - snap.helloAt, stateMs + policyMs), ''],
          ['  longest silence: the most time between two reads of the stream, hello to snapshot-end', '', '', '', fmt(silenceMs, 0), '', ''],
          ['  SA records (with keys)', String(snap.saRecords), String(snap.saBytes), fmt(snap.saBytes / snap.saRecords, 0), '', '', ratio(snap.saBytes, stateBytes)],
          ['  policy records', String(snap.policyRecords), String(snap.policyBytes), fmt(snap.policyBytes / snap.policyRecords, 0), '', '', ratio(snap.policyBytes, policyBytes)],
          ['`xaev --version` (node start-up in the guest)', '', '', '', fmt(versionMs, 0), '', ''],
        ],
      },
      {
        caption: `Install on the empty standby S: from \`xaev sync receive --install\`'s start until S holds every SA and policy (the last NEWSA/NEWPOLICY on S's groups), against \`ip -batch\` creating the same tables on A`,
        head: ['what', 'SAs', 'policies', 'ms', 'ratio to ip -batch'],
        rows: [
          ['`ip -n A -batch` (SAs, then policies; two runs)', String(o.sas), String(o.policies), `${fmt(createMs, 0)} (${fmt(createSas ?? NaN, 0)} + ${fmt(createPolicies ?? NaN, 0)})`, '1.00x'],
          ['receiver start until all installed on S', String(installedSas), String(installedPolicies), fmt(installMs, 0), ratio(installMs, createMs)],
          ["  of which: start until its sender's snapshot-end is written out", '', '', fmt(receivedSnapshot.at - receiveStart, 0), ''],
          ['  of which: start until the first install', '', '', fmt(firstInstall - receiveStart, 0), ''],
          ['  of which: first install until the last', '', '', fmt(Math.max(lastSa, lastPolicy) - firstInstall, 0), ratio(Math.max(lastSa, lastPolicy) - firstInstall, createMs)],
        ],
      },
      {
        caption: `Rekey burst: ${o.burst} new SAs in one \`ip -n A -batch\`; per SA, the time its NEWSA was read on S minus the time it was read on A (listeners on both SA groups)`,
        head: ['what', 'SAs', 'p50 ms', 'p99 ms', 'max ms', 'ratio of p99 to ip -batch'],
        rows: [
          ['`ip -batch` on A (wall)', String(o.burst), '', '', fmt(burstIp?.ms ?? NaN, 0), '1.00x'],
          ['replication delay, A to S', String(delays.length), fmt(percentile(delays, 50), 0), fmt(percentile(delays, 99), 0), fmt(Math.max(...delays), 0), ratio(percentile(delays, 99), burstIp?.ms ?? NaN)],
          ["  of which A to the sender's record", String(toSender.length), fmt(percentile(toSender, 50), 0), fmt(percentile(toSender, 99), 0), fmt(Math.max(...toSender), 0), ''],
          ["  of which the sender's record to S", String(fromSender.length), fmt(percentile(fromSender, 50), 0), fmt(percentile(fromSender, 99), 0), fmt(Math.max(...fromSender), 0), ''],
          ['batch start until the last SA is on S', '', '', '', fmt(lastOnS - burstStart, 0), ratio(lastOnS - burstStart, burstIp?.ms ?? NaN)],
          ['batch start until the last SA is read on A', '', '', '', fmt(lastOnA - burstStart, 0), ''],
        ],
      },
    ],
    commands: [
      `ip -n A -batch sas.batch; ip -n A -batch policies.batch   # ${o.sas} SAs (rfc4106(gcm(aes)), ESN, tunnel), ${o.policies} policies`,
      'ip -n A xfrm state > file; ip -n A xfrm policy > file',
      'ip netns exec A xaev sync send --node A --replicate sas,policies > file',
      `ip netns exec S xaev sync receive --install --from 'ip netns exec A xaev sync send --node A --replicate sas,policies | tee'`,
      `ip -n A -batch burst.batch   # ${o.burst} SAs`,
      'perl bench/replicate-nl.pl listen ...   # NEWSA/NEWPOLICY times on A and S',
      '# all inside bench/replicate.sh (booted with runInLab from test/lab/lab.ts)',
    ],
    targets: [
      {
        target: `S holds every replicated SA and policy: ${o.sas} SAs and ${o.policies} policies after the snapshot, and the ${o.burst} SAs of the burst, with no install error`,
        verdict: verdict(complete),
        detail: `installed ${installedSas} SAs and ${installedPolicies} policies in ${fmt(installMs / 1000, 1)} s (${ratio(installMs, createMs)} of ip -batch); snapshot ${fmt(snap.bytes / 2 ** 20, 1)} MiB in ${fmt(snapshotMs / 1000, 1)} s (${ratio(snapshotMs, stateMs + policyMs)} of the ip dumps' time, ${ratio(snap.bytes, stateBytes + policyBytes)} of their bytes); burst delay p50 ${fmt(percentile(delays, 50), 0)} ms, p99 ${fmt(percentile(delays, 99), 0)} ms (ip -batch ${fmt(burstIp?.ms ?? NaN, 0)} ms); errors: ${statusBurst.installErrors ?? '?'}`,
      },
      {
        target: `the sender's stream never silent for the receiver's default --heartbeat-timeout (${DEFAULT_HEARTBEAT_TIMEOUT_MS / 1000} s) while it writes its snapshot, and the receiver (with that default) never restarted it`,
        verdict: verdict(Number.isFinite(silenceMs) && env.has('receive_restarts') ? silenceMs < DEFAULT_HEARTBEAT_TIMEOUT_MS && env.get('receive_restarts') === '0' : undefined),
        detail: `longest silence ${fmt(silenceMs, 0)} ms with ${o.sas} SAs and ${o.policies} policies; the receiver restarted the sender ${env.get('receive_restarts') ?? '?'} times`,
      },
    ],
    notes: [
      `A: ${env.get('sas_A') ?? '?'} SAs, policies ${env.get('policies_A') ?? '?'}; S after the snapshot: ${env.get('sas_S') ?? '?'} SAs, policies ${env.get('policies_S') ?? '?'}; after the burst: ${env.get('sas_S_after_burst') ?? '?'} SAs. Receiver status: ${statusInstall.installedSas ?? '?'} SAs and ${statusInstall.installedPolicies ?? '?'} policies installed after the snapshot, ${statusBurst.installedSas ?? '?'} SAs after the burst, ${statusBurst.installErrors ?? '?'} install errors, ${statusBurst.replicasRefused ?? '?'} refused, ${statusBurst.streamErrors ?? '?'} stream errors, ${statusBurst.snapshots ?? '?'} snapshot(s).`,
      `The sender's snapshot: ${snap.withConfig} of ${snap.saRecords} SA records carry a configuration with keys; snapshot-end says ${snap.endCount} SAs and ${snap.endPolicies} policies. In the receiver's connection (through a tee) the sender wrote its snapshot-end ${fmt(receivedSnapshot.at - receiveStart, 0)} ms after the receiver started (${receivedSnapshot.bytes} bytes).`,
      `Each peer of A (a road-warrior concentrator): an inbound and an outbound tunnel SA (rfc4106(gcm(aes)), 256-bit key, ESN, window 128, random SPIs from a fixed seed) and an out and an in policy (10.0.0.0/8 to the peer's virtual /32; the kernel keeps such policies in its inexact bins, as a concentrator's are). The burst is a rekey of ${o.burst / 2} peers: a new pair each.`,
      `Times: epoch ms from the guest's one clock, read by perl (bench/replicate-nl.pl) once per wake-up; the listeners run at nice -10, so they read each message soon after the kernel sent it. Everything shares one virtual CPU: the ip -batch, the sender, the receiver and the listeners wait for each other, and every system call is a round trip to the host. Listener overruns (messages lost to a listener): ${lost.join(', ')}.`,
      'Delay A to S includes the sender reading the NEWSA, its GETAE and threshold NEWAE for the new SA, the pipe (and tee), the receiver decoding the record, its NEWSA on S and the listener waking up.',
    ],
  };
  if (!o.keep && !o.profile) cleanupLab(run);
  else section.notes.push(`Raw files kept in ${run.outDir}.`);
  return section;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sas: { type: 'string', default: '10000' },
      policies: { type: 'string', default: '10000' },
      burst: { type: 'string', default: '1000' },
      reps: { type: 'string', default: '3' },
      kernel: { type: 'string' },
      keep: { type: 'boolean' },
      profile: { type: 'boolean' },
      xaev: { type: 'string' },
    },
  });
  const section = await replicateBench({
    xaev: values.xaev ?? join(REPO_ROOT, 'bin/xaev.js'),
    sas: Number(values.sas),
    policies: Number(values.policies),
    burst: Number(values.burst),
    reps: Number(values.reps),
    keep: values.keep === true,
    profile: values.profile === true,
    ...(values.kernel ? { kernel: values.kernel as LabKernelId } : {}),
  });
  process.stdout.write(renderSection(section, 'R'));
}

if (process.argv[1] && /bench[/\\]replicate\.js$/.test(process.argv[1])) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench/replicate: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
