import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bootOnce, describeOnLabKernels } from './lab/lab.js';
import type { TakeoverAnswer } from '../src/sync/status.js';
import type { SaJson as Sa } from './support/record-json.js';

// `sync receive` writing real, VALID SAs on every lab kernel (docs/lab.md; the SAs here carry
// no XFRMA_SA_DIR, so on both kernels the direction comes from the documented rule):
// test/lab/sync-apply.sh. The active namespace (right) sends 150 packets in and 120 out on a
// legacy and an ESN SA pair; a standby namespace with the same SAs follows it live, and runs
// its own `sync send` to show that the receiver's writes are not sent back. On uml-6.12 (no
// /proc/config.gz) that sender also probes HZ on one SA. (The failover proof with keepalived
// is another suite.)

describeOnLabKernels('sync receive on the lab kernel', { timeout: 240_000 }, (kernel) => {
  const { file } = bootOnce(kernel, 'sync-apply.sh', { timeoutMs: 180_000 });
  const list = (name: string): Sa[] => JSON.parse(file(name)) as Sa[];
  const sa = (sas: Sa[], spi: number): Sa => sas.find((s) => s.spi === spi) ?? assert.fail(`no SA 0x${spi.toString(16)}`);
  let lists: { right: Sa[]; standby: Sa[] } | undefined;
  /** The active's and the standby's SAs after live sync, read once. */
  const read = (): { right: Sa[]; standby: Sa[] } => (lists ??= { right: list('right-list.json'), standby: list('standby-live-list.json') });

  it('writes inbound windows exactly as synced (legacy and ESN)', () => {
    const { right, standby } = read();
    assert.deepEqual(sa(right, 0x1000).replay, { kind: 'legacy', seq: 150, oseq: 0, bitmap: 0xffffffff });
    assert.equal(sa(standby, 0x1000).replay.seq, 150);
    assert.equal(sa(standby, 0x1000).replay.bitmap, 0xffffffff);
    const esnIn = sa(standby, 0x2000).replay;
    assert.deepEqual([esnIn.seqHi, esnIn.seq, esnIn.bitmap], [0, 150, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]]);
  });

  it('puts outbound counters at least the auto margin (floor 128) ahead, in each SA\'s own flavour', () => {
    const { right, standby } = read();
    for (const spi of [0x1001, 0x2001]) {
      assert.equal(sa(right, spi).replay.oseq, 120);
      // 100 packets/s: 2 x (20 per 200 ms etime + 100/s x transport delay). The delay measured
      // in the guest varies with load (12 to 130 ms seen), so the margin is 128 (the floor) to
      // about 160; 400 would mean the formula went wrong.
      const margin = sa(standby, spi).replay.oseq - 120;
      assert.ok(margin >= 128 && margin <= 400, `SPI 0x${spi.toString(16)}: margin ${margin}`);
    }
    assert.equal(sa(standby, 0x2001).replay.oseqHi, 0);
  });

  it('applies an SA that appears on the standby later, from the SA group', () => {
    const { right, standby } = read();
    assert.equal(sa(right, 0x3001).replay.oseq, 120);
    const margin = sa(standby, 0x3001).replay.oseq - 120;
    assert.ok(margin >= 128 && margin <= 400, `margin ${margin}`);
    assert.equal(sa(standby, 0x3001).lifetime.packets, 120);
  });

  it('copies lifetime packet and byte counters', () => {
    const { right, standby } = read();
    for (const spi of [0x1000, 0x1001, 0x2000, 0x2001]) {
      assert.deepEqual(sa(standby, spi).lifetime.packets, sa(right, spi).lifetime.packets);
      assert.deepEqual(sa(standby, spi).lifetime.bytes, sa(right, spi).lifetime.bytes);
    }
  });

  it("does not send the receiver's own writes back (CU events carry its nlmsg_pid marker)", () => {
    const monitor = file('standby-monitor.json').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    const cuEvents = monitor.filter((e) => e.event === 'update').length;
    assert.ok(cuEvents >= 4, `the standby saw ${cuEvents} CU events`);
    const sent = file('standby-send.ndjson').trim().split('\n').map((l) => JSON.parse(l) as { type: string; cause?: string; spi?: number });
    // Only the two SAs added to the standby later are sent ('added'), none of the receiver's
    // writes, nor (on uml-6.12, which has no /proc/config.gz) the two writes of the sender's
    // own HZ probe: before they were stamped they went out as two `update 0x2001` records.
    assert.deepEqual(sent.filter((r) => r.type === 'update').map((r) => `${r.cause} 0x${r.spi!.toString(16)}`).sort(), ['added 0x3000', 'added 0x3001']);
    assert.equal(sent.filter((r) => r.type === 'sa').length, 4);
  });

  it("the standby's sender says the kernel's HZ in its hello (read from /proc/config.gz, or probed)", () => {
    const hello = JSON.parse(file('standby-send.ndjson').split('\n')[0]!) as { type: string; hz: number | null };
    assert.deepEqual([hello.type, hello.hz], ['hello', kernel.hz]);
  });

  it('takes over with status 0, every SA current, and reports it', () => {
    const { standby } = read();
    assert.equal(file('takeover.status').trim(), '0', file('takeover.err'));
    const answer = JSON.parse(file('takeover.json')) as { ok: boolean; sas: { sa: string; state: string; dir: string }[] };
    assert.equal(answer.ok, true);
    // The pair installed late (0x3000/0x3001) is written by the live receiver when it appears,
    // or by the takeover itself when that comes first (a race measured on a loaded uml-6.12):
    // both end the SA in the synced state, which is what takeover's status 0 promises.
    assert.deepEqual(
      answer.sas.map((s) => `${s.sa} ${s.state === 'applied' && s.sa.includes('0x00003') ? 'current' : s.state} ${s.dir}`).sort(),
      [
        'inet 192.0.2.1 0x00001001 esp current out',
        'inet 192.0.2.1 0x00002001 esp current out',
        'inet 192.0.2.1 0x00003001 esp current out',
        'inet 192.0.2.2 0x00001000 esp current in',
        'inet 192.0.2.2 0x00002000 esp current in',
        // No traffic on it: both rules, both already satisfied.
        'inet 192.0.2.2 0x00003000 esp current both',
      ],
    );
    const after = JSON.parse(file('standby-after-list.json')) as Sa[];
    assert.deepEqual(after, standby);
  });

  it('reports status and ends with 0 on SIGTERM', () => {
    assert.equal(file('status.status').trim(), '0');
    const statusJson = JSON.parse(file('status.json')) as { totals: { snapshots: number; writeErrors: number; streamErrors: number } };
    assert.equal(statusJson.totals.writeErrors, 0);
    assert.equal(statusJson.totals.streamErrors, 0);
    assert.ok(statusJson.totals.snapshots >= 1);
    assert.equal(file('receive.status').trim(), '0');
  });
});

// Takeover at scale: 1,000 SA pairs, cache mode, `sync takeover` timed against `xaev --version`
// in the same guest (test/lab/sync-scale.sh). The target (within a second of xaev's own start-up)
// is the benchmark's to measure (bench/sync.ts); this suite proves every SA is applied.
describeOnLabKernels('sync takeover with 1,000 SA pairs on the lab kernel', { timeout: 360_000 }, (kernel) => {
  const { file } = bootOnce(kernel, 'sync-scale.sh', { timeoutMs: 300_000 });
  // What `sync takeover -j` prints: the receiver's answer (src/sync/status.ts).
  const answer = (): TakeoverAnswer => JSON.parse(file('takeover.json')) as TakeoverAnswer;

  it('applies every one of the 2,000 SAs and exits 0', () => {
    assert.equal(file('takeover.status').trim(), '0', file('takeover.err'));
    const { ok, elapsedMs, phases, sas } = answer();
    assert.equal(ok, true);
    assert.equal(sas.length, 2000);
    assert.deepEqual([...new Set(sas.map((s) => `${s.state} ${s.margin}`))], ['applied 128']);
    // No traffic: the direction rule gives both rules, so every oseq went from 0 to the floor.
    const standby = JSON.parse(file('standby-list.json')) as { replay: { oseq: number } }[];
    assert.equal(standby.length, 2000);
    assert.ok(standby.every((sa) => sa.replay.oseq === 128));
    console.log(`# ${kernel.id}: takeover of 2,000 SAs: ${elapsedMs} ms in the receiver ${JSON.stringify(phases)}; ${file('timing.txt').trim()}`);
  });

  it("reports the takeover's phases for every SA and its time beside xaev --version's", (t) => {
    // Speed is measured by the benchmark (bench/sync.ts, bench/SYNC-RESULTS.md: takeover within a
    // second of xaev --version on both kernels), not asserted here: a guest sharing two cores with
    // other work measured --version anywhere from 0.4 to 2.7 s, so a wall-time bound in a test
    // would fail for reasons that have nothing to do with xaev. What must hold on any machine:
    // the receiver read, planned and wrote every SA once, and the guest's timing was recorded.
    const { elapsedMs, phases } = answer();
    assert.equal(phases.writes, 2000);
    assert.ok(elapsedMs > 0);
    const timing = /version_ms=(\d+) (\d+) takeover_ms=(\d+) version_ms=(\d+) (\d+)/.exec(file('timing.txt'));
    assert.ok(timing, file('timing.txt'));
    const [before1, before2, takeover, after1, after2] = timing.slice(1).map(Number) as [number, number, number, number, number];
    const startUp = (before2 + after1) / 2;
    t.diagnostic(
      `${kernel.id}: receiver ${elapsedMs} ms, whole takeover ${takeover} ms, ${Math.round(takeover - startUp)} ms over xaev --version (${[before1, before2, after1, after2].join('/')} ms)`,
    );
  });
});
