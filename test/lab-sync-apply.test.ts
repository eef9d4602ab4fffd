import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupLab, ensureLab, LAB_DIR, labFile, labStatus, runInLab, type LabRun } from './lab/lab.js';

// `sync receive` writing real, VALID SAs on the lab kernel (Linux 6.1, no XFRMA_SA_DIR, so the
// direction comes from the documented rule): test/lab/sync-apply.sh. The active namespace
// (right) sends 150 packets in and 120 out on a legacy and an ESN SA pair; a standby namespace
// with the same SAs follows it live, and runs its own `sync send` to show that the
// receiver's writes are not sent back. (The failover proof with keepalived is another suite.)
const status = process.getuid?.() === 0 ? ensureLab({ install: true }) : labStatus();
const skip = status.available ? false : `kernel lab unavailable: ${status.reason}`;

interface Replay {
  kind: 'legacy' | 'esn';
  seq: number;
  oseq: number;
  seqHi?: number;
  oseqHi?: number;
  bitmap: number | number[];
}
interface Sa {
  spi: number;
  dst: string;
  replay: Replay;
  lifetime: { packets: number; bytes: number };
}

describe('sync receive on the lab kernel', { skip }, () => {
  let run: LabRun;
  let right: Sa[];
  let standby: Sa[];
  const sa = (list: Sa[], spi: number): Sa => list.find((s) => s.spi === spi) ?? assert.fail(`no SA 0x${spi.toString(16)}`);

  before(async () => {
    run = await runInLab(`${LAB_DIR}/sync-apply.sh`, { timeoutMs: 180_000 });
    assert.equal(run.exitCode, 0, run.scenarioLog);
    right = JSON.parse(labFile(run, 'right-list.json')) as Sa[];
    standby = JSON.parse(labFile(run, 'standby-live-list.json')) as Sa[];
  });
  after(() => cleanupLab(run));

  it('writes inbound windows exactly as synced (legacy and ESN)', () => {
    assert.deepEqual(sa(right, 0x1000).replay, { kind: 'legacy', seq: 150, oseq: 0, bitmap: 0xffffffff });
    assert.equal(sa(standby, 0x1000).replay.seq, 150);
    assert.equal(sa(standby, 0x1000).replay.bitmap, 0xffffffff);
    const esnIn = sa(standby, 0x2000).replay;
    assert.deepEqual([esnIn.seqHi, esnIn.seq, esnIn.bitmap], [0, 150, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]]);
  });

  it('puts outbound counters at least the auto margin (floor 128) ahead, in each SA\'s own flavour', () => {
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
    assert.equal(sa(right, 0x3001).replay.oseq, 120);
    const margin = sa(standby, 0x3001).replay.oseq - 120;
    assert.ok(margin >= 128 && margin <= 400, `margin ${margin}`);
    assert.equal(sa(standby, 0x3001).lifetime.packets, 120);
  });

  it('copies lifetime packet and byte counters', () => {
    for (const spi of [0x1000, 0x1001, 0x2000, 0x2001]) {
      assert.deepEqual(sa(standby, spi).lifetime.packets, sa(right, spi).lifetime.packets);
      assert.deepEqual(sa(standby, spi).lifetime.bytes, sa(right, spi).lifetime.bytes);
    }
  });

  it("does not send the receiver's own writes back (CU events carry its nlmsg_pid marker)", () => {
    const monitor = labFile(run, 'standby-monitor.json').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    const cuEvents = monitor.filter((e) => e.event === 'update').length;
    assert.ok(cuEvents >= 4, `the standby saw ${cuEvents} CU events`);
    const sent = labFile(run, 'standby-send.ndjson').trim().split('\n').map((l) => JSON.parse(l) as { type: string; cause?: string; spi?: number });
    // Only the two SAs added to the standby later are sent ('added'), none of the receiver's writes.
    assert.deepEqual(sent.filter((r) => r.type === 'update').map((r) => `${r.cause} 0x${r.spi!.toString(16)}`).sort(), ['added 0x3000', 'added 0x3001']);
    assert.equal(sent.filter((r) => r.type === 'sa').length, 4);
  });

  it('takes over with status 0, every SA current, and reports it', () => {
    assert.equal(labFile(run, 'takeover.status').trim(), '0', labFile(run, 'takeover.err'));
    const answer = JSON.parse(labFile(run, 'takeover.json')) as { ok: boolean; sas: { sa: string; state: string; dir: string }[] };
    assert.equal(answer.ok, true);
    assert.deepEqual(
      answer.sas.map((s) => `${s.sa} ${s.state} ${s.dir}`).sort(),
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
    const after = JSON.parse(labFile(run, 'standby-after-list.json')) as Sa[];
    assert.deepEqual(after, standby);
  });

  it('reports status and ends with 0 on SIGTERM', () => {
    assert.equal(labFile(run, 'status.status').trim(), '0');
    const statusJson = JSON.parse(labFile(run, 'status.json')) as { totals: { snapshots: number; writeErrors: number; streamErrors: number } };
    assert.equal(statusJson.totals.writeErrors, 0);
    assert.equal(statusJson.totals.streamErrors, 0);
    assert.ok(statusJson.totals.snapshots >= 1);
    assert.equal(labFile(run, 'receive.status').trim(), '0');
  });
});

// Takeover at scale: 1,000 SA pairs, cache mode, `sync takeover` timed against `xaev --version`
// in the same guest (test/lab/sync-scale.sh). Target: within a second of xaev's own start-up.
describe('sync takeover with 1,000 SA pairs on the lab kernel', { skip }, () => {
  let run: LabRun;

  before(async () => {
    run = await runInLab(`${LAB_DIR}/sync-scale.sh`, { timeoutMs: 300_000 });
    assert.equal(run.exitCode, 0, run.scenarioLog);
  });
  after(() => cleanupLab(run));

  it('applies every one of the 2,000 SAs and exits 0', () => {
    assert.equal(labFile(run, 'takeover.status').trim(), '0', labFile(run, 'takeover.err'));
    const answer = JSON.parse(labFile(run, 'takeover.json')) as { ok: boolean; elapsedMs: number; phases: object; sas: { state: string; margin: number }[] };
    assert.equal(answer.ok, true);
    assert.equal(answer.sas.length, 2000);
    assert.deepEqual([...new Set(answer.sas.map((s) => `${s.state} ${s.margin}`))], ['applied 128']);
    // No traffic: the direction rule gives both rules, so every oseq went from 0 to the floor.
    const standby = JSON.parse(labFile(run, 'standby-list.json')) as { replay: { oseq: number } }[];
    assert.equal(standby.length, 2000);
    assert.ok(standby.every((sa) => sa.replay.oseq === 128));
    console.log(`# takeover of 2,000 SAs: ${answer.elapsedMs} ms in the receiver ${JSON.stringify(answer.phases)}; ${labFile(run, 'timing.txt').trim()}`);
  });

  it('finishes within a second of xaev --version', (t) => {
    const timing = /version_ms=(\d+) (\d+) (\d+) takeover_ms=(\d+)/.exec(labFile(run, 'timing.txt'));
    assert.ok(timing, labFile(run, 'timing.txt'));
    const versions = [timing[1], timing[2], timing[3]].map(Number).sort((a, b) => a - b);
    const startUp = versions[1]!;
    const takeover = Number(timing[4]);
    // Node's start-up in the guest is 0.6 to 1.2 s on this 2-core host; far slower means the
    // host is overloaded (other UML guests), and a difference of wall times says nothing then.
    if (startUp > 1500) return t.skip(`host overloaded: xaev --version took ${versions.join('/')} ms; takeover ${takeover} ms`);
    assert.ok(takeover - startUp < 1000, `takeover ${takeover} ms vs xaev --version ${versions.join('/')} ms`);
  });
});
