// `xaev batch`: lines run as they arrive and stop at a line too long for a command file; on
// the host kernel (larval SAs in throwaway namespaces), a line's own -n runs that line in its
// namespace and the next line is back in the batch's.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostKernelSkipReason, ip, makeNetns } from './support/host.js';
import { REPO_ROOT, XAEV_BIN } from './support/paths.js';
import { runXaev } from './support/run.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const skipHost = hostKernelSkipReason();
const scratch = mkdtempSync(join(tmpdir(), 'xaev-batch-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('batch input as a stream', () => {
  it('batch /dev/zero ends at once with FILE:LINE', () => {
    const started = Date.now();
    const result = runXaev(['batch', '/dev/zero']);
    assert.deepEqual([result.status, result.stderr], [1, 'xaev: /dev/zero:1: line longer than 65536 bytes: this is not a command file\n']);
    assert.ok(Date.now() - started < 10_000);
  });

  it('a line over 64 KiB stops the batch at that line, even with --force', () => {
    const file = join(scratch, 'long.batch');
    writeFileSync(file, `--version\n${'x'.repeat(70_000)}\n--version\n`);
    const result = runXaev(['batch', '--force', file]);
    assert.deepEqual([result.status, result.stdout, result.stderr], [1, `${VERSION}\n`, `xaev: ${file}:2: line longer than 65536 bytes: this is not a command file\n`]);
  });

  it('an unreadable file is named once, without the system message echoing the path', () => {
    const result = runXaev(['batch', 'xaev-missing-file\n']);
    assert.deepEqual([result.status, result.stderr], [1, 'xaev: cannot read "xaev-missing-file\\n": no such file or directory (ENOENT)\n']);
  });

  it('batch - runs each line as it arrives and writes its output before the next line comes', async () => {
    const child = spawn(process.execPath, [XAEV_BIN, 'batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const output: string[] = [];
    let wake: (() => void) | undefined;
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output.push(text);
      wake?.();
    });
    const nextOutput = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no output within 10 s while stdin stays open')), 10_000);
        wake = () => {
          clearTimeout(timer);
          resolve(output.join(''));
        };
      });
    try {
      let arrived = nextOutput();
      child.stdin.write('--version\n');
      assert.equal(await arrived, `${VERSION}\n`);
      assert.equal(child.exitCode, null);
      arrived = nextOutput();
      child.stdin.write('-V\n');
      assert.equal(await arrived, `${VERSION}\n${VERSION}\n`);
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.stdin.end();
      assert.equal(await exited, 0);
    } finally {
      child.kill();
    }
  });

  it('batch.ts and program.ts do not import each other', () => {
    assert.doesNotMatch(readFileSync(join(REPO_ROOT, 'src/cli/commands/batch.ts'), 'utf8'), /from '\.\.\/program\.js'/);
  });
});

describe('host kernel: batch lines in their own namespaces', { skip: skipHost }, () => {
  let a: { name: string; remove: () => void };
  let b: { name: string; remove: () => void };

  before(() => {
    a = makeNetns('xaev-cli-a');
    b = makeNetns('xaev-cli-b');
    for (const [ns, spi, dst, rseqth, etime] of [
      [a, '0x5000', '192.0.2.2', '11', '3'],
      [b, '0x6000', '192.0.2.3', '22', '4'],
    ] as const) {
      ip('netns', 'exec', ns.name, 'sysctl', '-q', '-w', 'net.core.xfrm_acq_expires=3600');
      ip('netns', 'exec', ns.name, 'sysctl', '-q', '-w', `net.core.xfrm_aevent_rseqth=${rseqth}`, `net.core.xfrm_aevent_etime=${etime}`);
      ip('-n', ns.name, 'xfrm', 'state', 'allocspi', 'src', '192.0.2.1', 'dst', dst, 'proto', 'esp', 'reqid', '1', 'min', spi, 'max', spi);
    }
  });
  after(() => {
    a?.remove();
    b?.remove();
  });

  it('run inside A, a line with -n B reads, lists and looks up in B; the next line is back in A', () => {
    const file = join(scratch, 'netns.batch');
    writeFileSync(file, ['get 0x5000', `-n ${b.name} get 0x6000`, `-n ${b.name} list`, 'get 0x5000', 'defaults', `-n ${b.name} defaults`, 'list', ''].join('\n'));
    const result = spawnSync('ip', ['netns', 'exec', a.name, process.execPath, XAEV_BIN, '-j', 'batch', file], { encoding: 'utf8' });
    assert.equal(result.stderr, '');
    assert.equal(result.status, 0);
    const out = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { spi?: number; dst?: string } | { spi: number }[] | { replay: number; timerMs: number });
    const spis = (value: unknown): number[] => (Array.isArray(value) ? value.map((r: { spi: number }) => r.spi) : [(value as { spi: number }).spi]);
    assert.deepEqual(out.slice(0, 4).map(spis), [[0x5000], [0x6000], [0x6000], [0x5000]]);
    assert.deepEqual(out.slice(4, 6), [
      { replay: 11, timerMs: 300 },
      { replay: 22, timerMs: 400 },
    ]);
    assert.deepEqual(spis(out[6]), [0x5000]);
  });

  it('a set line with -n B never touches A: the SPI of A is not found in B', () => {
    const result = runXaev(['-n', a.name, 'batch', '-'], { input: `-n ${b.name} set 0x5000 --rthr 1\n` });
    assert.deepEqual([result.status, result.stderr], [1, 'xaev: stdin:1: no SA with SPI 0x5000\n']);
  });
});
