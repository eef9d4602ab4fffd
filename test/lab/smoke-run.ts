// xaev kernel lab smoke test runner: boots UML, runs test/lab/smoke.sh, prints
// the files it saved and the timings. Usage (after `npx tsc -p tsconfig.json`):
//   node dist/test/lab/smoke-run.js [--interactive] [--keep] [--no-install] [--kernel uml-6.1|uml-6.12|uml-7.3]
// Exit status: the scenario's (0 = all smoke checks passed); 3 = lab unavailable.
//
// Note: `node --test dist/test/` (not `npm test`, which runs dist/test/*.test.js)
// treats EVERY .js file below a directory named `test` as a test file. Loaded
// that way this file registers one node:test test that is skipped unless
// XAEV_LAB_SMOKE=1 (it takes ~20-30 s), and never installs packages.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanupLab, DEFAULT_LAB_KERNEL, LAB_DIR, LAB_KERNEL_IDS, labFile, labOutputs, labStatus, runInLab, type LabKernelId, type LabRun } from './lab.js';
import { provisionLab } from './provision.js';

const SMOKE = join(LAB_DIR, 'smoke.sh');

function timingsOf(run: LabRun): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of labFile(run, 'timings.txt').trim().split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) out[k] = Number(v);
  }
  return out;
}

async function main(): Promise<number> {
  const interactive = process.argv.includes('--interactive');
  const keep = process.argv.includes('--keep');
  const kernelArg = process.argv[process.argv.indexOf('--kernel') + 1];
  const kernel = (process.argv.includes('--kernel') ? kernelArg : DEFAULT_LAB_KERNEL) as LabKernelId;
  if (!LAB_KERNEL_IDS.includes(kernel)) {
    console.error(`--kernel must be one of ${LAB_KERNEL_IDS.join(', ')}`);
    return 2;
  }
  if (!labStatus(kernel).available && !process.argv.includes('--no-install')) await provisionLab([kernel], (line) => console.log(`provision: ${line}`));
  const st = labStatus(kernel);
  if (!st.available) {
    console.error(`kernel lab unavailable: ${st.reason}`);
    return 3;
  }
  console.log(st.reason);

  const t0 = Date.now();
  const run = await runInLab(SMOKE, { interactive, timeoutMs: 60000, kernel });
  const total = Date.now() - t0;

  const files = labOutputs(run);
  for (const f of [
    'environment.txt',
    'timings.txt',
    'left-state.txt',
    'right-state.txt',
    'left-monitor.txt',
    'right-monitor.txt',
    'send.txt',
    'listen.txt',
    'checks.txt',
  ]) {
    if (files.includes(f)) console.log(`\n===== ${f} =====\n${labFile(run, f).trimEnd()}`);
  }
  if (!interactive) console.log(`\n===== scenario.log =====\n${run.scenarioLog.trimEnd()}`);

  const t = timingsOf(run);
  console.log(`\n===== summary =====`);
  console.log(`files: ${files.join(' ')}`);
  console.log(`outDir: ${run.outDir}${keep || run.exitCode !== 0 ? '' : ' (removed)'}`);
  console.log(
    `guest uptime: init started ${t.init ?? '?'} s, modules loaded ${t.modules ?? '?'} s, scenario done ${t['scenario-done'] ?? '?'} s`,
  );
  console.log(`linux.uml wall time ${run.durationMs} ms, runInLab total ${total} ms, timedOut=${run.timedOut}`);
  console.log(`scenario exit status ${run.exitCode}`);
  if (run.exitCode !== 0) {
    console.log(`\n===== console (last 60 lines) =====\n${run.console.trimEnd().split('\n').slice(-60).join('\n')}`);
  }
  if (!keep && run.exitCode === 0) cleanupLab(run);
  return run.exitCode === 0 ? 0 : run.exitCode > 0 ? run.exitCode : 1;
}

if (process.env.NODE_TEST_CONTEXT) {
  // Loaded by `node --test` (see the note at the top).
  const st = labStatus();
  const skip = process.env.XAEV_LAB_SMOKE !== '1' ? 'kernel lab smoke: set XAEV_LAB_SMOKE=1 to run' : st.available ? false : st.reason;
  test('kernel lab smoke (test/lab/smoke.sh in UML)', { skip, timeout: 90000 }, async () => {
    const run = await runInLab(SMOKE, { timeoutMs: 60000 });
    assert.equal(run.exitCode, 0, `${run.scenarioLog}\n--- outDir ${run.outDir}`);
    cleanupLab(run);
  });
} else {
  process.exitCode = await main();
}
