// xaev demo, for trying xaev without an IPsec gateway: `npm run demo`
// (= build, then node dist/test/lab/demo.js).
//
// Boots the kernel lab (a user-mode-linux kernel with ESP, see test/lab/README.md) and runs
// test/lab/demo.sh inside it, streaming its output live: two network namespaces with an ESP
// SA pair, steady traffic between them, `xaev monitor --details -t` showing the aevents,
// `xaev get` with the counters, `xaev set --rthr 20` and the event rate changing. ~30 s.
//
// Options: --no-install  do not install user-mode-linux with apt-get when it is missing
//          --keep        keep the lab's output directory
// Exit status: 0 when the demo ran to the end, 1 otherwise (e.g. the lab is unavailable).

import { join } from 'node:path';
import { cleanupLab, LAB_DIR, labStatus, runInLab } from './lab.js';
import { provisionLab, ProvisionError } from './provision.js';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let status = labStatus();
  if (!status.available && process.getuid?.() === 0 && !args.includes('--no-install')) {
    console.log(`The kernel lab is not ready (${status.reason}); trying to install it (apt-get, a few minutes) ...`);
    try {
      await provisionLab(['uml-6.1'], (line) => console.log(`provision: ${line}`));
    } catch (error) {
      if (!(error instanceof ProvisionError)) throw error;
      console.error(error.message);
    }
    status = labStatus();
  }
  if (!status.available) {
    console.error(`xaev demo: the kernel lab is unavailable: ${status.reason}`);
    console.error(
      'The demo boots a user-mode-linux kernel with ESP support (the Debian/Ubuntu package `user-mode-linux`, plus `kmod`),\n' +
        'as root. Enable it with the command above, then run `npm run demo` again.',
    );
    return 1;
  }

  console.log('xaev demo: IPsec async events (aevents) on a real ESP SA, without an IPsec gateway.');
  console.log(`Booting the kernel lab (${status.reason.replace(/^ok: /, '')}); its output follows live.`);
  console.log('Inside: netns left and right, an ESP SA pair, 10 UDP packets/s from left to right, and xaev in right.\n');
  const started = Date.now();
  const run = await runInLab(join(LAB_DIR, 'demo.sh'), { interactive: true, timeoutMs: 90000 });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (run.exitCode !== 0) {
    console.error(
      `\nxaev demo: the scenario failed (exit status ${run.exitCode}${run.timedOut ? ', timed out' : ''}) after ${seconds} s; ` +
        `its files are in ${run.outDir}`,
    );
    return 1;
  }
  console.log(`\nxaev demo finished in ${seconds} s. Try it on your own SAs: xaev get SPI, xaev monitor --details, xaev set SPI --rthr N.`);
  if (args.includes('--keep')) console.log(`Lab files: ${run.outDir}`);
  else cleanupLab(run);
  return 0;
}

// `node --test dist/test/` loads every .js file below a `test` directory: do nothing there.
if (!process.env.NODE_TEST_CONTEXT) process.exitCode = await main();
