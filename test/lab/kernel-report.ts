// Runs a command (npm test's `node --test ...`) with $XAEV_LAB_REPORT set to a
// fresh file in which test/lab/lab.ts records every lab kernel that booted or
// was skipped, then prints one line saying which kernels the lab ran on, e.g.
//   kernel lab: ran on uml-6.1 (HZ=100), uml-6.12 (HZ=250)
// and exits with the command's status.
//
//   node dist/test/lab/kernel-report.js node --test dist/test/*.test.js

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface KernelRecord {
  kernel: string;
  what: 'ran' | 'skipped';
  detail: string;
}

/** The one summary line from the records (first record per kernel and outcome wins). */
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

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write('usage: kernel-report.js COMMAND [ARGS...]\n');
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'xaev-lab-report-'));
  const file = join(dir, 'kernels.jsonl');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, XAEV_LAB_REPORT: file } });
  // The test runner gets Ctrl-C from the terminal itself; forward TERM from a supervisor.
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  process.on('SIGINT', () => undefined);
  const status = await new Promise<number>((done) => {
    child.once('error', (e) => {
      process.stderr.write(`kernel-report: cannot run ${argv[0]}: ${e.message}\n`);
      done(1);
    });
    child.once('close', (code, signal) => done(code ?? (signal ? 128 + 15 : 1)));
  });
  process.stdout.write(`${kernelReportLine(readRecords(file))}\n`);
  rmSync(dir, { recursive: true, force: true });
  return status;
}

// Only when run as a script (node --test never loads this file: it is not *.test.js).
if (process.argv[1]?.endsWith('kernel-report.js')) {
  process.exitCode = await main(process.argv.slice(2));
}
