// `set --seq`, `--seq-hi` and `--bitmap` against the kernel's own replay check, on VALID SAs
// with real ESP traffic, written as batch lines that each name their namespace with -n:
// test/lab/set-counters.sh runs inside User Mode Linux, on every lab kernel (docs/lab.md). Every
// value asserted here was measured on both uml-6.1 and uml-6.12 and is the same on both (the
// SAs have no direction).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ReplayJson } from '../src/xfrm/sa-record.js';
import { bootOnce, describeOnLabKernels } from './lab/lab.js';
import type { SaJson } from './support/record-json.js';

// The records' types come from the CLI's own (test/support/record-json.ts); the expected
// replay states are built as the CLI's ReplayJson, one flavour each.
const legacy = (seq: number, oseq: number, bitmap: number): ReplayJson => ({ kind: 'legacy', seq, oseq, bitmap });
const esn = (seqHi: number, seq: number, oseqHi: number, oseq: number, window: number, bitmap: number[]): ReplayJson => ({
  kind: 'esn',
  seq,
  seqHi,
  oseq,
  oseqHi,
  window,
  bitmap,
});

describeOnLabKernels('kernel lab: set --seq / --bitmap and batch -n against real ESP', { timeout: 240_000 }, (kernel) => {
  const { run, file } = bootOnce(kernel, 'set-counters.sh', { timeoutMs: 200_000 });
  const records = (name: string): SaJson[] =>
    file(`${name}.out`)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as SaJson);
  const replays = (name: string): [number, SaJson['replay']][] => records(name).map((r) => [r.spi, r.replay]);
  /** "replay-window W replay R failed F" of the SA with this SPI in `ip -s xfrm state` of the right namespace. */
  const ipStats = (name: string, spi: number): { window: number; replay: number; failed: number } => {
    const block = file(`${name}-ip-right.txt`)
      .split(/^(?=src )/m)
      .find((b) => b.includes(`spi 0x${spi.toString(16).padStart(8, '0')}(`));
    const match = block && /replay-window (\d+) replay (\d+) failed (\d+)/.exec(block);
    assert.ok(match, `no stats for SPI 0x${spi.toString(16)} in ${name}`);
    return { window: Number(match[1]), replay: Number(match[2]), failed: Number(match[3]) };
  };
  const seqErrors = (name: string): number => Number(/^XfrmInStateSeqError\s+(\d+)$/m.exec(file(`${name}-xfrm-stat-right.txt`))![1]);

  it('a batch run from the root namespace runs each line in the namespace its -n names', () => {
    assert.equal(file('seq100.status').trim(), '0', file('seq100.err'));
    assert.equal(file('seq100.err'), '');
    // The inbound copy (right) took --seq, the outbound copy (left) --oseq: same SPI, two namespaces.
    assert.deepEqual(replays('seq100'), [
      [0x1000, legacy(100, 0, 0)],
      [0x1000, legacy(0, 90, 0)],
      [0x2000, esn(0, 100, 0, 0, 128, [0xffffffff, 0xff, 0, 0])],
      [0x2000, esn(0, 0, 0, 90, 128, [0, 0, 0, 0])],
      [0x1000, legacy(100, 0, 0)],
      [0x1000, legacy(0, 90, 0)],
    ]);
  });

  it('after 40 packets, --seq 100 moves the bitmap: the sender at 90 sends 91..100 with 0 replay drops (legacy and ESN)', () => {
    assert.equal(ipStats('p40', 0x1000).replay, 0);
    // Legacy: bitmap 0xffffffff at seq 0x28 became 0 at 0x64; the 10 packets set bits 0..9.
    // ESN (ring): seqs 1..40 keep positions 0..39; 91..100 are positions 90..99.
    assert.deepEqual(replays('after91'), [
      [0x1000, legacy(100, 0, 0x3ff)],
      [0x2000, esn(0, 100, 0, 0, 128, [0xffffffff, 0xff, 0xfc000000, 0xf])],
    ]);
    assert.deepEqual(ipStats('after91', 0x1000), { window: 0, replay: 0, failed: 0 });
    assert.deepEqual(ipStats('after91', 0x2000), { window: 0, replay: 0, failed: 0 });
    assert.equal(seqErrors('after91'), 0);
  });

  it('ESN: --seq-hi 1 --seq 5 clears the window; the sender at 0x1_00000000 gets 5 packets in', () => {
    assert.deepEqual(replays('seqhi'), [
      [0x2000, esn(1, 5, 0, 0, 128, [0, 0, 0, 0])],
      [0x2000, esn(0, 0, 1, 0, 128, [0, 0, 0, 0])],
    ]);
    assert.deepEqual(replays('afterhi'), [[0x2000, esn(1, 5, 0, 0, 128, [0x1f, 0, 0, 0])]]);
    assert.equal(ipStats('afterhi', 0x2000).replay, 0);
    assert.equal(seqErrors('afterhi'), 0);
  });

  it('the kernel honours a written bitmap: 96..100 are replays against 0x3ff and accepted after --bitmap none', () => {
    assert.equal(file('back95.err'), 'xaev: warning: lowering oseq 0x64 -> 0x5f (--force)\n');
    assert.deepEqual(ipStats('replayed', 0x1000), { window: 0, replay: 5, failed: 0 });
    assert.equal(seqErrors('replayed'), 5);
    assert.deepEqual(replays('cleared'), [
      [0x1000, legacy(100, 0, 0)],
      [0x1000, legacy(0, 95, 0)],
    ]);
    assert.deepEqual(ipStats('reaccepted', 0x1000), { window: 0, replay: 5, failed: 0 });
    assert.deepEqual(replays('reaccepted'), [[0x1000, legacy(100, 0, 0x1f)]]);
  });

  it('--bitmap values read back exactly (ESN window 100 in 4 words, legacy windows 16 and 32)', () => {
    assert.equal(file('bitmaps.status').trim(), '0', file('bitmaps.err'));
    assert.deepEqual(replays('bitmaps'), [
      [0x3000, esn(0, 0, 0, 0, 100, [0x1, 0x80000000, 0xdeadbeef, 0xf])],
      [0x3000, esn(0, 0, 0, 0, 100, [0xffffffff, 0xffffffff, 0xffffffff, 0xf])],
      [0x3000, esn(0, 1000, 0, 0, 100, [0xffffffff, 0, 0, 0x8])],
      [0x3000, esn(0, 1000, 0, 0, 100, [0, 0, 0, 0])],
      [0x4000, legacy(0, 0, 0xbeef)],
      [0x4000, legacy(0, 0, 0xffff)],
      [0x1000, legacy(200, 0, 0x80000001)],
    ]);
  });

  it('--bitmap that does not fit the SA is refused with exit 1 and nothing written', () => {
    const batch = `${run().outDir}/refused.batch`;
    assert.equal(file('refused.status').trim(), '1');
    assert.equal(
      file('refused.err'),
      [
        `xaev: ${batch}:1: --bitmap: the SA's bitmap has 4 words (window 100), not 3`,
        `xaev: ${batch}:2: --bitmap: bit 100 (word 3) lies beyond the SA's 100-packet window, which uses bits 0 to 99`,
        `xaev: ${batch}:3: --bitmap: bit 16 (word 0) lies beyond the SA's 16-packet window, which uses bits 0 to 15`,
        `xaev: ${batch}:4: --bitmap: the SA's bitmap has 1 word (window 32), not 2`,
        '',
      ].join('\n'),
    );
    assert.deepEqual(replays('refused'), [
      [0x3000, esn(0, 1000, 0, 0, 100, [0, 0, 0, 0])],
      [0x4000, legacy(0, 0, 0xffff)],
    ]);
  });
});
