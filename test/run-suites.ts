// `npm test`: provision once (test/lab/provision.ts), run every suite under this machine's
// Node.js, run the suites that need no lab kernel under each other supported Node.js line,
// then say in the last line which lab kernels ran, e.g.
//   kernel lab: ran on uml-6.1 (HZ=100), uml-6.12 (HZ=250), uml-7.3 (HZ=250)
// As root with apt (mustRunEverything) a lab suite that skipped fails the run: the test
// runner counts a skipped describe() as nothing, so lab.ts records each skip itself.
//
//   node dist/test/run-suites.js [FILE.test.js ...]   (default: every dist/test/*.test.js)

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mustRunEverything, provision, ProvisionError, type NodeLine } from './lab/provision.js';

interface KernelRecord {
  kernel: string;
  what: 'ran' | 'skipped';
  detail: string;
  suite?: string;
}

/** The summary line from the records (first record per kernel and outcome wins). */
export function kernelReportLine(records: KernelRecord[]): string {
  const ran = new Map<string, string>();
  const skipped = new Map<string, string>();
  for (const r of records) {
    const into = r.what === 'ran' ? ran : skipped;
    if (!into.has(r.kernel)) into.set(r.kernel, r.detail);
  }
  for (const kernel of ran.keys()) skipped.delete(kernel);
  const parts = [`ran on ${ran.size ? [...ran].map(([k, hz]) => `${k} (${hz})`).join(', ') : 'no kernel'}`];
  if (skipped.size) parts.push(`skipped ${[...skipped].map(([k, why]) => `${k} (${why})`).join(', ')}`);
  return `kernel lab: ${parts.join('; ')}`;
}

function readRecords(file: string): KernelRecord[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as KernelRecord);
}

/** The runner's own totals, read from the spec reporter's summary ("ℹ pass 12"). */
interface Totals {
  tests: number;
  pass: number;
  fail: number;
  cancelled: number;
  skipped: number;
}

let stopping = false;
let current: ReturnType<typeof spawn> | undefined;

/** Run `node --test` on `files` with `node`, output passed through; its status and totals. */
function runTests(node: string, files: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; totals: Totals }> {
  const totals: Totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0 };
  return new Promise((resolve) => {
    const child = spawn(node, ['--test', '--test-reporter=spec', '--test-concurrency=1', ...files], { stdio: ['ignore', 'pipe', 'inherit'], env });
    current = child;
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = /^ℹ (tests|pass|fail|cancelled|skipped) (\d+)$/.exec(line);
        if (m) totals[m[1] as keyof Totals] = Number(m[2]);
      }
    });
    child.once('error', (error) => {
      process.stderr.write(`run-suites: cannot run ${node}: ${error.message}\n`);
      resolve({ status: 1, totals });
    });
    child.once('close', (code, signal) => resolve({ status: code ?? (signal ? 128 + 15 : 1), totals }));
  });
}

const describeTotals = (t: Totals): string => `${t.tests} tests, ${t.pass} passed, ${t.fail} failed, ${t.cancelled} cancelled, ${t.skipped} skipped`;

async function main(argv: string[]): Promise<number> {
  const here = dirname(fileURLToPath(import.meta.url));
  const files = argv.length > 0 ? argv : readdirSync(here).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(here, f));
  // The test runner gets Ctrl-C from the terminal itself; forward TERM from a supervisor.
  process.on('SIGTERM', () => {
    stopping = true;
    current?.kill('SIGTERM');
  });
  process.on('SIGINT', () => {
    stopping = true;
  });

  const started = Date.now();
  let nodeLines: NodeLine[];
  try {
    ({ nodeLines } = await provision((line) => process.stdout.write(`provision: ${line}\n`)));
  } catch (error) {
    if (!(error instanceof ProvisionError)) throw error;
    process.stderr.write(`npm test: provisioning failed, no suite ran\n${error.message}\n`);
    return 1;
  }

  const dir = mkdtempSync(join(tmpdir(), 'xaev-lab-report-'));
  const report = join(dir, 'kernels.jsonl');
  const env = { ...process.env, XAEV_LAB_REPORT: report };
  const summary: string[] = [];
  const machineRun = await runTests(process.execPath, files, env);
  let status = machineRun.status;
  summary.push(`Node.js ${process.versions.node} (this machine's): every suite: ${describeTotals(machineRun.totals)}`);

  // The suites that need no lab kernel, under each other supported line: the same build, the
  // same N-API addon (ABI-stable: it loads unchanged), the CLI spawned with that line's node.
  const hostFiles = files.filter((f) => !basename(f).startsWith('lab-'));
  for (const line of nodeLines) {
    if (stopping) break;
    // `node --test` with no file runs every test file it finds: never hand it an empty list.
    if (hostFiles.length === 0) {
      summary.push(`Node.js ${line.version}: not run (no suite without a lab kernel was named)`);
      continue;
    }
    if (!line.node) {
      summary.push(`Node.js ${line.version}: skipped (${line.reason})`);
      continue;
    }
    process.stdout.write(`\n# the ${hostFiles.length} suites that need no lab kernel, under Node.js ${line.version}\n`);
    const run = await runTests(line.node, hostFiles, { ...process.env, XAEV_LAB_REPORT: '', XAEV_TEST_OTHER_NODE_LINE: line.version });
    if (run.status !== 0) status = run.status;
    summary.push(`Node.js ${line.version}: the suites without a lab kernel: ${describeTotals(run.totals)}`);
  }

  const records = readRecords(report);
  rmSync(dir, { recursive: true, force: true });
  const skippedSuites = records.filter((r) => r.what === 'skipped' && r.suite);
  process.stdout.write(`\n${summary.join('\n')}\ntime: ${Math.round((Date.now() - started) / 1000)} s\n`);
  if (skippedSuites.length > 0 && mustRunEverything() && process.env.XAEV_LAB_KERNELS === undefined && !stopping) {
    process.stdout.write(`${skippedSuites.length} lab suites skipped on a machine that can run them (root, apt):\n`);
    for (const r of skippedSuites) process.stdout.write(`  ${r.suite}: ${r.detail}\n`);
    if (status === 0) status = 1;
  }
  process.stdout.write(`${kernelReportLine(records)}\n`);
  return status;
}

// Only when run as a script (node --test never loads this file: it is not *.test.js).
if (process.argv[1]?.endsWith('run-suites.js')) {
  process.exitCode = await main(process.argv.slice(2));
}
