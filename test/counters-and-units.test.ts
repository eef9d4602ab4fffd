import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AeMessage } from '../src/xfrm/aevent.js';
import {
  hzFromProbe,
  jiffiesFromMs,
  MAX_TIMER_JIFFIES,
  PROBE_JIFFIES,
  readBackMatches,
  sysctlEtimeFromMs,
  thresholdReadBack,
  timerJiffiesFor,
  timerMsFromThreshold,
} from '../src/xfrm/timer-units.js';
import { IncompatibleChangeError, mergeCounters } from '../src/xfrm/update.js';
import { jsonU64, toJson } from '../src/xfrm/json.js';

function state(replay: AeMessage['replay']): AeMessage {
  return {
    id: { saId: { daddr: Buffer.alloc(16), spi: 1, family: 2, proto: 50 }, saddr: Buffer.alloc(16), flags: 9, reqid: 1 },
    replay,
    lifetime: { bytes: 1000n, packets: 10n, addTime: 1700000000n, useTime: 1700000100n },
    replayThreshold: 2,
    timerThreshold100ms: 10,
    mark: undefined,
    ifId: undefined,
    direction: undefined,
    unknownAttributes: [],
  };
}

describe('timer units (docs/kernel/timer-units.md)', () => {
  it('reads 100 ms units and writes jiffies', () => {
    assert.equal(timerMsFromThreshold(10), 1000);
    assert.equal(jiffiesFromMs(300, 100), 30);
    assert.equal(jiffiesFromMs(300, 250), 75);
    assert.equal(jiffiesFromMs(1000, 1000), 1000);
  });

  it('never turns a short period into 0 (no timer), and keeps 0 as 0', () => {
    assert.equal(timerJiffiesFor(1, 100), 1);
    assert.equal(timerJiffiesFor(0, 1000), 0);
    assert.equal(timerJiffiesFor(500, 250), 125);
  });

  it('stops where the u32 read-back maxage * 10 would wrap', () => {
    assert.equal(MAX_TIMER_JIFFIES, 429_496_729);
    assert.equal(thresholdReadBack(MAX_TIMER_JIFFIES, 100), 42_949_672);
    assert.equal(thresholdReadBack(MAX_TIMER_JIFFIES + 1, 100), 0);
  });

  it('accepts a read-back within one 100 ms unit of the period asked for', () => {
    assert.equal(readBackMatches(1250, 12), true);
    assert.equal(readBackMatches(1250, 13), true);
    assert.equal(readBackMatches(1300, 12), false);
    assert.equal(readBackMatches(500, 50), false);
  });

  it('counts the xfrm_aevent_etime sysctl in 100 ms units', () => {
    assert.equal(sysctlEtimeFromMs(3500), 35);
    assert.equal(sysctlEtimeFromMs(150), undefined);
  });

  it('predicts the read-back the UML kernel showed at HZ=100', () => {
    // Measured: NEWAE 10 -> GETAE 1; NEWAE 100 -> 10; NEWAE 30 -> 3 (300 ms).
    assert.equal(thresholdReadBack(10, 100), 1);
    assert.equal(thresholdReadBack(100, 100), 10);
    assert.equal(thresholdReadBack(30, 100), 3);
  });

  it('recovers HZ from the probe read-back the UML kernel gave at HZ=100', () => {
    // Measured: NEWAE ETIMER_THRESH 3000 jiffies -> GETAE 300 (docs/kernel/timer-units.md).
    assert.equal(PROBE_JIFFIES, 3000);
    assert.equal(thresholdReadBack(PROBE_JIFFIES, 100), 300);
    assert.equal(hzFromProbe(300), 100);
  });

  it('recovers the other usual HZ values from floor(30000 / HZ)', () => {
    assert.deepEqual([120, 100, 30].map(hzFromProbe), [250, 300, 1000]);
    assert.equal(hzFromProbe(60), 500);
    assert.equal(hzFromProbe(0), undefined);
  });
});

describe('merging counters into the current state', () => {
  const SHAPE = { legacyWindow: 32 };
  const legacy = state({ kind: 'legacy', oseq: 0x10, seq: 0x20, bitmap: 0xff });

  it('--oseq keeps seq and the bitmap of a legacy SA', () => {
    const { update, lowered } = mergeCounters(legacy, { oseq: 0x100 }, SHAPE);
    assert.deepEqual(update.replay, { kind: 'legacy', oseq: 0x100, seq: 0x20, bitmap: 0xff });
    assert.equal(update.lifetime, undefined);
    assert.deepEqual(lowered, []);
  });

  it('reports every lowered counter', () => {
    const { lowered } = mergeCounters(legacy, { oseq: 5, seq: 0x30, packets: 3n }, SHAPE);
    assert.deepEqual(lowered, ['oseq 0x10 -> 0x5', 'packets 10 -> 3']);
  });

  it('refuses --seq-hi on a legacy SA', () => {
    assert.throws(() => mergeCounters(legacy, { seqHi: 1 }, SHAPE), IncompatibleChangeError);
  });

  it('moves the ESN bitmap with --seq and keeps window and bmp_len', () => {
    const esn = state({ kind: 'esn', oseq: 0, seq: 100, oseqHi: 0, seqHi: 1, replayWindow: 128, bitmap: [1, 2, 3, 0x80000000] });
    // 101..130 enter the window: ring positions 100..127 and 0..1 are cleared.
    const { update, lowered } = mergeCounters(esn, { seq: 130 }, SHAPE);
    assert.deepEqual(update.replay, { kind: 'esn', oseq: 0, seq: 130, oseqHi: 0, seqHi: 1, replayWindow: 128, bitmap: [0, 2, 3, 0] });
    assert.deepEqual(lowered, []);
  });

  it('compares ESN counters as 64-bit values', () => {
    const esn = state({ kind: 'esn', oseq: 5, seq: 0, oseqHi: 2, seqHi: 0, replayWindow: 64, bitmap: [0, 0] });
    assert.deepEqual(mergeCounters(esn, { oseq: 0xffffffff, oseqHi: 1 }, SHAPE).lowered, ['oseq 0x200000005 -> 0x1ffffffff']);
    assert.deepEqual(mergeCounters(esn, { oseq: 1 }, SHAPE).lowered, ['oseq 0x200000005 -> 0x200000001']);
    assert.deepEqual(mergeCounters(esn, { oseq: 1, oseqHi: 3 }, SHAPE).lowered, []);
  });

  it('merges lifetime counters and keeps the times', () => {
    const { update } = mergeCounters(legacy, { bytes: 0xffffffffffffffffn }, SHAPE);
    assert.deepEqual(update.lifetime, { bytes: 0xffffffffffffffffn, packets: 10n, addTime: 1700000000n, useTime: 1700000100n });
  });
});

describe('JSON keeps u64 counters exact', () => {
  it('prints values above 2^53 as exact integer literals, and small ones as numbers', () => {
    const text = toJson({ bytes: jsonU64(0xffffffffffffffffn), packets: jsonU64(9007199254740993n), seq: jsonU64(5n), name: 'x\u0000' });
    assert.equal(text, '{"bytes":18446744073709551615,"packets":9007199254740993,"seq":5,"name":"x\\u0000"}');
  });
});
