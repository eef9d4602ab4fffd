// Apply planning and margins: the exact NEWAE a standby writes for legacy and ESN SAs, the
// 2^32 guard, never lowering a local counter, the auto margin's arithmetic, and the inbound
// hole of a silent stream with the advance that closes it (--inbound-advance).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AeMessage } from '../src/xfrm/aevent.js';
import type { ReplayState } from '../src/xfrm/structs.js';
import { autoMargin, ESN_MAX_JUMP, inboundAdvance, MARGIN_FLOOR, RateEstimate, silentInboundHole, SteadyRate } from '../src/sync/margin.js';
import { isMarkedReceived } from '../src/xfrm/replay-window.js';
import { directionOf, planApply, translateEsnBitmap } from '../src/sync/plan.js';
import type { StreamSa } from '../src/sync/stream.js';

const LIFETIME = { bytes: 100n, packets: 10n, addTime: 1700000000n, useTime: 1700000001n };

function local(replay: ReplayState, direction?: number): AeMessage {
  return {
    id: { saId: { daddr: Buffer.alloc(16), spi: 1, family: 2, proto: 50 }, saddr: Buffer.alloc(16), flags: 0, reqid: 1 },
    replay,
    lifetime: { ...LIFETIME },
    replayThreshold: undefined,
    timerThreshold100ms: undefined,
    mark: undefined,
    ifId: undefined,
    direction,
    unknownAttributes: [],
  };
}

function synced(replay: ReplayState, dir: StreamSa['dir'] = null): StreamSa {
  return {
    key: 'k', family: 'inet', src: '192.0.2.1', dst: '192.0.2.2', proto: 'esp', spi: 1, reqid: 1,
    mark: null, ifId: null, dir, replay, lifetime: { ...LIFETIME }, time: 0,
  };
}

const legacy = (oseq: number, seq: number, bitmap: number): ReplayState => ({ kind: 'legacy', oseq, seq, bitmap });
const esn = (oseqHi: number, oseq: number, seqHi: number, seq: number, bitmap: number[], replayWindow = bitmap.length * 32): ReplayState =>
  ({ kind: 'esn', oseq, oseqHi, seq, seqHi, replayWindow, bitmap });

describe('apply planning: outbound', () => {
  it('legacy: oseq becomes synced + margin, seq and bitmap untouched', () => {
    const plan = planApply({ state: local(legacy(5, 0, 0)), esn: false }, synced(legacy(1000, 0, 0)), 128);
    assert.equal(plan.outcome, 'applied');
    assert.equal(plan.direction, 'out');
    assert.deepEqual(plan.update, { replay: legacy(1128, 0, 0) });
  });

  it('ESN: the margin carries into oseq-hi', () => {
    const plan = planApply({ state: local(esn(0, 0, 0, 0, [0, 0]), 2), esn: true }, synced(esn(3, 0xffffff00, 0, 0, [0, 0])), 0x200);
    assert.deepEqual(plan.update?.replay, esn(4, 0x100, 0, 0, [0, 0]));
  });

  it('never lowers: a local oseq already past synced + margin is left alone', () => {
    const plan = planApply({ state: local(legacy(5000, 0, 0)), esn: false }, synced(legacy(1000, 0, 0)), 128);
    assert.equal(plan.outcome, 'current');
    assert.equal(plan.update, undefined);
  });

  it('refuses to push a non-ESN SA to 2^32 and says so', () => {
    const plan = planApply({ state: local(legacy(5, 0, 0)), esn: false }, synced(legacy(0xffffff80, 0, 0)), 128);
    assert.equal(plan.outcome, 'refused');
    assert.equal(plan.update, undefined);
    assert.deepEqual(plan.notes, ['oseq 4294967168 + margin 128 would reach 2^32 on a non-ESN SA: not written, rekey this SA']);
    // oseq 0xffffffff leaves no room for the next packet; 0xfffffffe leaves one.
    assert.equal(planApply({ state: local(legacy(5, 0, 0)), esn: false }, synced(legacy(0xffffff7f, 0, 0)), 128).outcome, 'refused');
    const last = planApply({ state: local(legacy(5, 0, 0)), esn: false }, synced(legacy(0xffffff7e, 0, 0)), 128);
    assert.deepEqual(last.update?.replay, legacy(0xfffffffe, 0, 0));
  });

  it('applies the same guard to a large-window SA without the ESN flag (ESN-style state, 32-bit counters)', () => {
    const plan = planApply({ state: local(esn(0, 5, 0, 0, [0, 0])), esn: false }, synced(esn(0, 0xfffffff0, 0, 0, [0, 0])), 128);
    assert.equal(plan.outcome, 'refused');
  });

  it('caps an ESN jump at 2^30', () => {
    const plan = planApply({ state: local(esn(0, 0, 0, 0, [0]), 2), esn: true }, synced(esn(0, 10, 0, 0, [0])), 2 ** 40);
    assert.equal(plan.margin, ESN_MAX_JUMP);
    assert.deepEqual(plan.update?.replay, esn(0, 10 + ESN_MAX_JUMP, 0, 0, [0]));
  });
});

describe('apply planning: inbound', () => {
  it('legacy: seq and bitmap exactly as synced', () => {
    const plan = planApply({ state: local(legacy(0, 10, 0x3)), esn: false }, synced(legacy(0, 40, 0xfffffff0)), 128);
    assert.equal(plan.direction, 'in');
    assert.equal(plan.margin, 0);
    assert.deepEqual(plan.update?.replay, legacy(0, 40, 0xfffffff0));
  });

  it('equal seq: the union of both windows, so what either node accepted is refused', () => {
    const plan = planApply({ state: local(legacy(0, 40, 0x0f)), esn: false }, synced(legacy(0, 40, 0xf0)), 128);
    assert.deepEqual(plan.update?.replay, legacy(0, 40, 0xff));
  });

  it('never lowers a local seq that is ahead', () => {
    const plan = planApply({ state: local(legacy(0, 50, 1)), esn: false }, synced(legacy(0, 40, 0xffffffff)), 128);
    assert.equal(plan.outcome, 'current');
    assert.deepEqual(plan.notes, ['local seq is ahead of the synced one: kept']);
  });

  it('ESN: seq-hi, seq and the bitmap words, keeping the local window and bmp_len', () => {
    const plan = planApply({ state: local(esn(0, 0, 0, 3, [1, 0]), 1), esn: true }, synced(esn(0, 0, 2, 7, [0xdeadbeef, 0x12345678])), 128);
    assert.deepEqual(plan.update?.replay, esn(0, 0, 2, 7, [0xdeadbeef, 0x12345678]));
  });

  it('translates the circular ESN bitmap between windows of different sizes', () => {
    // Peer window 64, seq 70: bits for 70, 69 and 40 set, at (s - 1) mod 64.
    const from = esn(0, 0, 0, 70, [0, 0]) as Extract<ReplayState, { kind: 'esn' }>;
    for (const s of [70, 69, 40]) from.bitmap[((s - 1) % 64) >> 5]! |= 1 << ((s - 1) % 64 & 31);
    from.bitmap = from.bitmap.map((w) => w >>> 0);
    const to = esn(0, 0, 0, 0, [0]) as Extract<ReplayState, { kind: 'esn' }>;
    const out = translateEsnBitmap(from, to);
    // Local window 32 holds 39..70: 70 -> bit 5, 69 -> bit 4, 40 -> bit 7.
    assert.deepEqual(out, [(1 << 5) | (1 << 4) | (1 << 7)]);
  });
});

describe('direction and flavour', () => {
  it('uses the kernel direction when either side reports it, else the documented rule', () => {
    assert.equal(directionOf(local(legacy(0, 0, 0), 1), synced(legacy(5, 0, 0))), 'in');
    assert.equal(directionOf(local(legacy(0, 0, 0)), synced(legacy(0, 0, 0), 'out')), 'out');
    assert.equal(directionOf(local(legacy(0, 0, 0)), synced(legacy(5, 0, 0))), 'out');
    assert.equal(directionOf(local(legacy(0, 0, 0)), synced(legacy(0, 3, 0))), 'in');
    assert.equal(directionOf(local(legacy(0, 0, 0)), synced(legacy(0, 0, 0))), 'both');
  });

  it('an SA with no traffic either way gets the margin on oseq and keeps its window', () => {
    const plan = planApply({ state: local(legacy(0, 0, 0)), esn: false }, synced(legacy(0, 0, 0)), 128);
    assert.deepEqual(plan.update?.replay, legacy(128, 0, 0));
  });

  it('refuses a replay flavour mismatch instead of writing the wrong attribute', () => {
    const plan = planApply({ state: local(esn(0, 0, 0, 0, [0])), esn: true }, synced(legacy(5, 0, 0)), 128);
    assert.equal(plan.outcome, 'refused');
    assert.equal(plan.update, undefined);
  });

  it('raises lifetime counters to the synced values, never lowers them, keeps add time', () => {
    const sa = synced(legacy(0, 0, 0));
    sa.lifetime = { bytes: 5000n, packets: 1n, addTime: 1n, useTime: 9n };
    const state = local(legacy(10, 0, 0), 2);
    const plan = planApply({ state, esn: false }, sa, 0);
    assert.deepEqual(plan.update?.lifetime, { bytes: 5000n, packets: 10n, addTime: 1700000000n, useTime: 1700000001n });
  });
});

describe('margin', () => {
  it('has a floor', () => {
    assert.equal(autoMargin({ packetsPerSecond: 0, rthr: 256, etimeMs: 200, delayMs: 5, silenceMs: 0, heartbeatIntervalMs: 1000 }), MARGIN_FLOOR);
  });

  it('covers one timer period plus transport delay at the measured rate, doubled', () => {
    // 1000 pps, etime 200 ms -> 200 unreported (below rthr 256), delay 50 ms -> 50: 2 x 250.
    assert.equal(autoMargin({ packetsPerSecond: 1000, rthr: 256, etimeMs: 200, delayMs: 50, silenceMs: 500, heartbeatIntervalMs: 1000 }), 500);
  });

  it('counts at most rthr packets per threshold, but all of a silent stream', () => {
    // 10,000 pps: rthr 256 caps the threshold part; 3 s of silence beyond 1 s heartbeats adds 2 s.
    assert.equal(autoMargin({ packetsPerSecond: 10000, rthr: 256, etimeMs: 200, delayMs: 0, silenceMs: 3000, heartbeatIntervalMs: 1000 }), 2 * (256 + 20000));
  });

  it('estimates a rate from synced counters and the sender clock', () => {
    const rate = new RateEstimate();
    rate.observe(100n, 1000);
    rate.observe(300n, 2000);
    assert.equal(rate.packetsPerSecond, 200);
    rate.observe(400n, 3000);
    // latest 100, average 0.3 * 100 + 0.7 * 200 = 170: the higher one counts.
    assert.equal(rate.packetsPerSecond, 170);
    rate.observe(5n, 4000);
    assert.equal(rate.packetsPerSecond, 0);
  });
});

describe('inbound hole of a silent stream', () => {
  const hole = (packetsPerSecond: number, silenceMs: number) => silentInboundHole({ packetsPerSecond, silenceMs, heartbeatIntervalMs: 1000 });

  it('is 0 while the stream is up (a record within two heartbeat intervals)', () => {
    assert.deepEqual(hole(100, 0), { silenceMs: 0, packets: 0 });
    assert.deepEqual(hole(100, 2000), { silenceMs: 0, packets: 0 });
  });

  it('is the whole silence at the rate measured before it, once two heartbeats are missed', () => {
    assert.deepEqual(hole(100, 2001), { silenceMs: 2001, packets: 201 });
    // The lab run: about 100 packets/s, the stream silent for 20 s before the failure
    // and about 4 s of failover: up to 2,400 packets, of which A accepted about 2,000.
    assert.deepEqual(hole(100, 24_000), { silenceMs: 24_000, packets: 2400 });
    assert.deepEqual(hole(0, 24_000), { silenceMs: 24_000, packets: 0 });
  });

  it('advances by the silence beyond the grace, at the same rate, rounded down', () => {
    assert.equal(inboundAdvance(hole(100, 24_000), 100, 5000), 1900);
    assert.equal(inboundAdvance(hole(100, 24_000), 100, 0), 2400);
    assert.equal(inboundAdvance(hole(33, 10_010), 33, 5000), 165);
    // A silence within the grace (an ordinary failover) moves nothing.
    assert.equal(inboundAdvance(hole(100, 4000), 100, 5000), 0);
    // Nor does a stream that is up, even with no grace at all.
    assert.equal(inboundAdvance(hole(100, 1500), 100, 0), 0);
  });

  it('measures the inbound rate over 10 to 20 s, so that per-record jitter does not raise it', () => {
    // 100 packets/s reported every 200 ms, each record stamped 0 or 40 ms late.
    const steady = new SteadyRate();
    const outbound = new RateEstimate();
    for (let k = 0; k <= 60; k++) {
      const time = 1_000_000 + 200 * k + (k % 2 === 1 ? 40 : 0);
      steady.observe(BigInt(20 * k), time);
      outbound.observe(BigInt(20 * k), time);
    }
    assert.equal(steady.packetsPerSecond(1_012_000), 100);
    // The outbound estimate takes the last interval (20 packets in 160 ms): fine for a margin,
    // 25 % too many for an advance.
    assert.equal(outbound.packetsPerSecond, 125);
  });

  it('shows the rate of an SA that went idle before the sender was last heard falling', () => {
    const steady = new SteadyRate();
    for (let second = 0; second <= 12; second++) steady.observe(BigInt(100 * second), 1000 * second);
    // Spans roll at 10 s: from 0 s to 12 s, 1,200 packets.
    assert.equal(steady.packetsPerSecond(12_000), 100);
    assert.equal(steady.packetsPerSecond(24_000), 50);
    assert.equal(steady.packetsPerSecond(undefined), 100);
  });

  it('starts again when the counter goes down (a new SA behind the same name), and needs two samples', () => {
    const steady = new SteadyRate();
    assert.equal(steady.packetsPerSecond(5000), 0);
    steady.observe(5000n, 0);
    steady.observe(6000n, 10_000);
    steady.observe(7000n, 20_000);
    assert.equal(steady.packetsPerSecond(20_000), 100);
    steady.observe(10n, 21_000);
    assert.equal(steady.packetsPerSecond(21_000), 0);
    steady.observe(60n, 22_000);
    assert.equal(steady.packetsPerSecond(22_000), 50);
  });
});

describe('apply planning: inbound advance at a takeover after silence', () => {
  const full = (words: number) => new Array<number>(words).fill(0xffffffff);

  it('legacy: the top moves up by the advance, the numbers that enter the window are not received', () => {
    const near = planApply({ state: local(legacy(0, 789, 0xffffffff)), esn: false }, synced(legacy(0, 789, 0xffffffff)), 128, 10);
    assert.equal(near.direction, 'in');
    assert.equal(near.advance, 10);
    assert.deepEqual(near.update, { replay: legacy(0, 799, 0xfffffc00) });
    // The case: A accepted about 2,000 more; a move of a whole window or more leaves no bit.
    const far = planApply({ state: local(legacy(0, 789, 0xffffffff)), esn: false }, synced(legacy(0, 789, 0xffffffff)), 128, 1900);
    assert.deepEqual(far.update, { replay: legacy(0, 2689, 0) });
    assert.equal(far.outcome, 'applied');
  });

  it('legacy: applies the synced window first, then advances from it', () => {
    const plan = planApply({ state: local(legacy(0, 100, 1)), esn: false }, synced(legacy(0, 789, 0x0000000f)), 128, 4);
    assert.deepEqual(plan.update, { replay: legacy(0, 793, 0xf0) });
  });

  it('ESN: the positions of the numbers that enter the window are cleared in the ring, the rest kept', () => {
    const plan = planApply({ state: local(esn(0, 0, 0, 1000, full(4))), esn: true }, synced(esn(0, 0, 0, 1000, full(4))), 128, 100);
    assert.equal(plan.advance, 100);
    const replay = plan.update!.replay!;
    assert.equal(replay.kind === 'esn' && replay.seq, 1100);
    // 1001..1100 sit at bits 1000..1099 mod 128 = 104..127 and 0..75: not received.
    assert.deepEqual(replay.kind === 'esn' && replay.bitmap, [0, 0, 0xfffff000, 0x000000ff]);
    assert.equal(isMarkedReceived(replay, 1000n, 128), true);
    assert.equal(isMarkedReceived(replay, 1001n, 128), false);
    assert.equal(isMarkedReceived(replay, 1100n, 128), false);
    assert.equal(isMarkedReceived(replay, 972n, 128), undefined);
  });

  it('ESN: the advance carries into seq-hi', () => {
    const plan = planApply({ state: local(esn(0, 0, 0, 0xffffff00, full(1))), esn: true }, synced(esn(0, 0, 0, 0xffffff00, full(1))), 128, 0x200);
    assert.deepEqual(plan.update?.replay, esn(0, 0, 1, 0x100, [0]));
  });

  it('never lowers: a local top at or past synced + advance is kept, and then nothing is advanced', () => {
    const ahead = planApply({ state: local(legacy(0, 5000, 1)), esn: false }, synced(legacy(0, 789, 0xffffffff)), 128, 1900);
    assert.equal(ahead.outcome, 'current');
    assert.equal(ahead.advance, 0);
    assert.equal(ahead.update, undefined);
    // A local top between the synced one and the target moves from the local state.
    const between = planApply({ state: local(legacy(0, 795, 0x3)), esn: false }, synced(legacy(0, 789, 0xffffffff)), 128, 10);
    assert.deepEqual(between.update, { replay: legacy(0, 799, 0x30) });
    assert.equal(between.advance, 10);
  });

  it('keeps a non-ESN top below 2^32 and an ESN jump within 2^30', () => {
    const legacyTop = planApply({ state: local(legacy(0, 0xffffff00, 1)), esn: false }, synced(legacy(0, 0xffffff00, 1)), 128, 0x200);
    assert.deepEqual(legacyTop.update, { replay: legacy(0, 0xffffffff, 0) });
    assert.equal(legacyTop.advance, 0xff);
    // A large window without the ESN flag: an ESN-style state with 32-bit counters.
    const wide = planApply({ state: local(esn(0, 0, 0, 0xffffff00, full(1))), esn: false }, synced(esn(0, 0, 0, 0xffffff00, full(1))), 128, 0x200);
    assert.deepEqual(wide.update?.replay, esn(0, 0, 0, 0xffffffff, [0]));
    const capped = planApply({ state: local(esn(0, 0, 0, 10, full(1))), esn: true }, synced(esn(0, 0, 0, 10, full(1))), 128, 2 ** 40);
    assert.equal(capped.advance, ESN_MAX_JUMP);
    assert.deepEqual(capped.update?.replay, esn(0, 0, 0, 10 + ESN_MAX_JUMP, [0]));
  });

  it('leaves outbound SAs alone', () => {
    const plan = planApply({ state: local(legacy(0, 0, 0), 2), esn: false }, synced(legacy(1000, 0, 0)), 128, 500);
    assert.equal(plan.advance, 0);
    assert.deepEqual(plan.update, { replay: legacy(1128, 0, 0) });
  });
});
