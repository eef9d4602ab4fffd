import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LineTooLongError, readLines } from '../src/line-reader.js';
import { oneLine, shown } from '../src/cli/user-text.js';
import { hostKernelSkipReason, ip, makeNetns } from './support/host.js';
import { REPO_ROOT, XAEV_BIN } from './support/paths.js';
import { runXaev } from './support/run.js';

// Issue 8 items 1, 3, 6 (batch), 12 and 13, and the batch.ts <-> program.ts cycle of issue 7.
// Host-kernel parts use larval SAs (ALLOCSPI) in throwaway namespaces; the rest runs anywhere.
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const skipHost = hostKernelSkipReason();
const scratch = mkdtempSync(join(tmpdir(), 'xaev-cli-defects-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

async function collect(source: AsyncIterable<Buffer>, max?: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(source, max)) lines.push(`${line.number}:${line.text}`);
  return lines;
}

describe('line reader: lines as they arrive, bounded', () => {
  it('joins lines split across chunks and keeps a last line without newline', async () => {
    assert.deepEqual(await collect(chunks('get 1\nse', 't 2 --rthr', ' 3\n\n', 'last')), ['1:get 1', '2:set 2 --rthr 3', '3:', '4:last']);
  });

  it('refuses a line above the limit, naming its number, before reading the rest', async () => {
    await assert.rejects(collect(chunks('ok\n', 'x'.repeat(6), 'y'.repeat(6)), 10), (error: unknown) => {
      assert.ok(error instanceof LineTooLongError);
      assert.equal(error.lineNumber, 2);
      return true;
    });
    assert.deepEqual(await collect(chunks('x'.repeat(10), '\n'), 10), [`1:${'x'.repeat(10)}`]);
  });
});

describe('diagnostics never echo raw input', () => {
  it('shown() quotes, escapes control characters and cuts', () => {
    assert.equal(shown('5\n'), '"5\\n"');
    assert.equal(shown('a\u0000b\u001b[31m\t"\\'), '"a\\x00b\\x1b[31m\\t\\"\\\\"');
    assert.equal(shown('7'.repeat(100)), `"${'7'.repeat(64)}"... (100 characters)`);
    assert.equal(shown('0x1ffffffff', { quote: false }), '0x1ffffffff');
    // The first 1024 characters, the newline among them written as two.
    assert.equal(oneLine(`a\nb${'c'.repeat(2000)}`), `a\\nb${'c'.repeat(1021)}... (979 more characters)`);
  });

  it('get $\'5\\n\' gives one line', () => {
    const result = runXaev(['get', '5\n']);
    assert.deepEqual([result.status, result.stdout, result.stderr], [2, '', 'xaev: SPI: "5\\n" is not a number (use decimal, or hex with 0x)\n']);
  });

  it('a NUL in a batch line is escaped', () => {
    const result = runXaev(['batch', '-'], { input: 'get 0x10\u0000\n' });
    assert.deepEqual([result.status, result.stderr], [2, 'xaev: stdin:1: SPI: "0x10\\x00" is not a number (use decimal, or hex with 0x)\n']);
  });

  it('a 100 kB SPI, address or option name gives a short line', () => {
    const long = '7'.repeat(100_000);
    const spi = runXaev(['get', long]);
    assert.deepEqual([spi.status, spi.stderr], [2, `xaev: SPI: ${'7'.repeat(64)}... (100000 characters) is out of range (0 to 4294967295)\n`]);
    const dst = runXaev(['get', '1', '--dst', long]);
    assert.equal(dst.stderr, `xaev: --dst: "${'7'.repeat(64)}"... (100000 characters) is not an IPv4 or IPv6 address\n`);
    const option = runXaev(['get', '1', `--x${long}\u001b[2J`]);
    assert.equal(option.status, 2);
    assert.ok(option.stderr.length < 1100 && !option.stderr.includes('\u001b'), option.stderr.slice(0, 200));
    assert.equal(option.stderr.split('\n').length, 2);
  });

  it('a namespace name that is no file name in /run/netns is a usage error', () => {
    const result = runXaev(['-n', '../x\n', 'get', '1']);
    assert.deepEqual(
      [result.status, result.stderr],
      [2, 'xaev: --netns: "../x\\n" is not a namespace name (a file name in /run/netns, see ip netns list)\n'],
    );
  });
});

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

describe('host kernel: batch lines in their own namespaces, usage checks first', { skip: skipHost }, () => {
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

  it('set --etime out of range exits 2 whether or not the SA exists', () => {
    const expected = 'xaev: --etime: 4294967295 ms is more than the 429496729 ms the kernel can report back at HZ=1000\n';
    for (const spi of ['0x7777', '0x5000']) {
      const result = runXaev(['-n', a.name, 'set', spi, '--etime', '4294967295', '--hz', '1000']);
      assert.deepEqual([result.status, result.stdout, result.stderr], [2, '', expected], spi);
    }
    const [missing, present] = ['0x7777', '0x5000'].map((spi) => runXaev(['-n', a.name, 'set', spi, '--etime', '4294967295']));
    assert.deepEqual([missing!.status, present!.status], [2, 2]);
    assert.equal(missing!.stderr, present!.stderr);
  });

  it('--bitmap syntax is checked before any request; a good one reaches the kernel', () => {
    for (const [bitmap, message] of [
      ['1,,2', 'xaev: --bitmap: word 1 is empty (give words like 0xffffffff,0x0, or all, or none)\n'],
      ['0x1ffffffff', 'xaev: --bitmap word 0: 0x1ffffffff is out of range (0 to 4294967295)\n'],
      ['ones', 'xaev: --bitmap word 0: "ones" is not a number (use decimal, or hex with 0x)\n'],
    ]) {
      const result = runXaev(['-n', a.name, 'set', '0x7777', '--bitmap', bitmap!]);
      assert.deepEqual([result.status, result.stderr], [2, message], bitmap);
    }
    assert.deepEqual(runXaev(['-n', a.name, 'set', '0x7777', '--bitmap', 'all']).stderr, 'xaev: no SA with SPI 0x7777\n');
  });

  it('no --etime 0 / --rthr 0 warning when the kernel refuses the write', () => {
    const result = runXaev(['-n', a.name, 'set', '0x5000', '--etime', '0', '--rthr', '0', '--hz', '100']);
    assert.deepEqual([result.status, result.stderr], [1, 'xaev: the kernel refused the request: SA must be in VALID state (EINVAL)\n']);
  });
});
