import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bitmapProblem,
  fullBitmap,
  isMarkedReceived,
  moveEsnBitmap,
  moveInboundTop,
  moveLegacyBitmap,
  ringBitIndex,
  windowWordMask,
} from '../src/xfrm/replay-window.js';
import type { EsnReplayState, LegacyReplayState } from '../src/xfrm/structs.js';

const esn = (seq: number, seqHi: number, replayWindow: number, bitmap: number[]): EsnReplayState => ({
  kind: 'esn',
  oseq: 0,
  oseqHi: 0,
  seq,
  seqHi,
  replayWindow,
  bitmap,
});

/** The kernel's receive path, literally: xfrm_replay_advance_esn() for one packet (no wrap). */
function kernelAdvanceEsn(state: EsnReplayState, seq: number): EsnReplayState {
  const w = state.replayWindow;
  const bmp = [...state.bitmap];
  const pos = ((state.seq - 1) >>> 0) % w;
  let bitnr: number;
  let top = state.seq;
  if (seq > state.seq) {
    const diff = seq - state.seq;
    if (diff < w) {
      for (let i = 1; i < diff; i++) {
        const b = (pos + i) % w;
        bmp[b >> 5] = (bmp[b >> 5]! & ~(1 << (b & 31))) >>> 0;
      }
    } else {
      for (let i = 0; i <= (w - 1) >> 5; i++) bmp[i] = 0;
    }
    bitnr = (pos + diff) % w;
    top = seq;
  } else {
    const diff = state.seq - seq;
    bitnr = pos >= diff ? (pos - diff) % w : w - (diff - pos);
  }
  bmp[bitnr >> 5] = (bmp[bitnr >> 5]! | (1 << (bitnr & 31))) >>> 0;
  return { ...state, seq: top, bitmap: bmp };
}

describe('replay window: legacy word', () => {
  it('shifts left by the distance, without marking the new top', () => {
    // After 40 packets: seq 0x28, bitmap 0xffffffff. --seq 0x32 moves by 10.
    assert.equal(moveLegacyBitmap(0xffffffff, 0x28, 0x32, 32), 0xfffffc00);
    assert.equal(moveLegacyBitmap(0x3ff, 10, 11, 32), 0x7fe);
  });

  it('clears the word on a move of a whole window or more (the issue: 40 packets, --seq 100)', () => {
    assert.equal(moveLegacyBitmap(0xffffffff, 40, 100, 32), 0);
    assert.equal(moveLegacyBitmap(0xffff, 40, 56, 16), 0);
    assert.equal(moveLegacyBitmap(0xffff, 40, 55, 16), 0x7fff8000);
  });

  it('shifts right when lowered: numbers re-entering at the bottom read as not received', () => {
    assert.equal(moveLegacyBitmap(0xffffffff, 100, 90, 32), 0x003fffff);
    assert.equal(moveLegacyBitmap(0x80000001, 100, 100, 32), 0x80000001);
  });

  it('after --seq 100, 91..100 are open and the next 10 packets fill bits 0..9', () => {
    let state: LegacyReplayState = { kind: 'legacy', seq: 40, oseq: 0, bitmap: 0xffffffff };
    state = moveInboundTop(state, 100n, 32) as LegacyReplayState;
    assert.deepEqual(state, { kind: 'legacy', seq: 100, oseq: 0, bitmap: 0 });
    for (let s = 91n; s <= 100n; s++) assert.equal(isMarkedReceived(state, s, 32), false, `seq ${s}`);
    assert.equal(isMarkedReceived(state, 69n, 32), false);
    assert.equal(isMarkedReceived(state, 68n, 32), undefined);
    assert.equal(isMarkedReceived(state, 101n, 32), undefined);
    // What the kernel then does for packets 91..100 (xfrm_replay_advance: bitmap |= 1 << diff).
    for (let s = 91; s <= 100; s++) state = { ...state, bitmap: (state.bitmap | (1 << (100 - s))) >>> 0 };
    assert.equal(state.bitmap, 0x3ff);
  });
});

describe('replay window: ESN ring', () => {
  it('indexes the ring exactly as xfrm_replay_check_esn', () => {
    assert.equal(ringBitIndex(100, 0, 128), 99);
    assert.equal(ringBitIndex(100, 99, 128), 0);
    assert.equal(ringBitIndex(100, 100, 128), 127);
    assert.equal(ringBitIndex(0, 0, 128), 127); // seq 0: (0 - 1) mod 2^32 = 0xffffffff, mod 128 = 127
    assert.equal(ringBitIndex(5, 10, 100), 94);
  });

  it('clears exactly the positions of the numbers entering the window, the new top included', () => {
    // 40 packets into a 128 window: positions 0..39 set.
    const after40 = [0xffffffff, 0xff, 0, 0];
    assert.deepEqual(moveEsnBitmap(after40, 128, 40n, 100n), [0xffffffff, 0xff, 0, 0]);
    // 100 -> 130: 101..130 are positions 100..127 and 0..1.
    assert.deepEqual(moveEsnBitmap([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 128, 100n, 130n), [0xfffffffc, 0xffffffff, 0xffffffff, 0x0000000f]);
    // A move of a window or more clears the words of the window.
    assert.deepEqual(moveEsnBitmap([1, 2, 3, 4], 128, 100n, 228n), [0, 0, 0, 0]);
    // 101..227 enter: every position but 99 (seq 100, word 3 bit 3).
    assert.deepEqual(moveEsnBitmap([1, 2, 3, 0xc], 128, 100n, 227n), [0, 0, 0, 8]);
  });

  it('matches the kernel receive path followed by clearing the received bit', () => {
    // Kernel: packets 1..40, then packet 100. Ours: same 40, then move to 100 (no packet).
    let kernel = esn(0, 0, 64, [0, 0]);
    for (let s = 1; s <= 40; s++) kernel = kernelAdvanceEsn(kernel, s);
    assert.deepEqual(kernel.bitmap, [0xffffffff, 0xff]);
    const moved = moveInboundTop(kernel, 60n, 0) as EsnReplayState;
    const received = kernelAdvanceEsn(kernel, 60);
    const bit = ringBitIndex(60, 0, 64);
    const expected = received.bitmap.map((w, i) => (i === bit >> 5 ? (w & ~(1 << (bit & 31))) >>> 0 : w));
    assert.deepEqual(moved.bitmap, expected);
    assert.deepEqual(moved.bitmap, [0xffffffff, 0xff]);
  });

  it('moves across a seq-hi boundary as one 64-bit distance', () => {
    // Top 0x0_fffffff0, window 64, all received. To 0x1_00000010: 32 numbers enter.
    const state = esn(0xfffffff0, 0, 64, [0xffffffff, 0xffffffff]);
    const moved = moveInboundTop(state, 0x1_00000010n, 0) as EsnReplayState;
    assert.deepEqual([moved.seqHi, moved.seq], [1, 0x10]);
    // Entering: 0xfffffff1..0xffffffff (positions 48..62) and 0..0x10 (positions 63, 0..15).
    assert.deepEqual(moved.bitmap, [0xffff0000, 0x0000ffff]);
    for (let s = 0x1_00000010n; s > 0x0_fffffff0n; s--) assert.equal(isMarkedReceived(moved, s, 0), false, s.toString(16));
    assert.equal(isMarkedReceived(moved, 0x0_fffffff0n, 0), true);
    assert.equal(isMarkedReceived(moved, 0x0_ffffffd1n, 0), true);
    assert.equal(isMarkedReceived(moved, 0x0_ffffffd0n, 0), undefined);
    // --seq-hi alone jumps 2^32: the window is cleared.
    assert.deepEqual((moveInboundTop(state, 0x1_fffffff0n, 0) as EsnReplayState).bitmap, [0, 0]);
  });

  it('lowering clears the positions that come back in at the bottom', () => {
    // Window 64: 37..100 becomes 27..90; 27..36 come back in at positions 26..35.
    assert.deepEqual(moveEsnBitmap([0xffffffff, 0xffffffff], 64, 100n, 90n), [0x03ffffff, 0xfffffff0]);
    assert.deepEqual(moveEsnBitmap([0xffffffff, 0xffffffff], 64, 100n, 36n), [0, 0]);
  });

  it('leaves words beyond the window alone and handles window 0', () => {
    assert.deepEqual(moveEsnBitmap([5, 6], 0, 1n, 1000n), [5, 6]);
    assert.deepEqual(moveEsnBitmap([0xffffffff, 0xffffffff], 32, 10n, 100n), [0, 0xffffffff]);
  });
});

describe('replay window: bitmaps written by hand', () => {
  it('masks exactly the bits of the window', () => {
    assert.deepEqual([windowWordMask(16, 0), windowWordMask(32, 0), windowWordMask(100, 3), windowWordMask(100, 4), windowWordMask(0, 0)], [0xffff, 0xffffffff, 0xf, 0, 0]);
    assert.deepEqual(fullBitmap(100, 4), [0xffffffff, 0xffffffff, 0xffffffff, 0xf]);
    assert.deepEqual(fullBitmap(4096, 128).every((w) => w === 0xffffffff), true);
  });

  it('says what does not fit', () => {
    assert.equal(bitmapProblem([1, 2, 3, 0xf], 100, 4), undefined);
    assert.equal(bitmapProblem([1, 2, 3], 100, 4), "the SA's bitmap has 4 words (window 100), not 3");
    assert.equal(bitmapProblem([1, 2], 32, 1), "the SA's bitmap has 1 word (window 32), not 2");
    assert.equal(bitmapProblem([0, 0, 0, 0x10], 100, 4), "bit 100 (word 3) lies beyond the SA's 100-packet window, which uses bits 0 to 99");
    assert.equal(bitmapProblem([0x80010000], 16, 1), "bit 31 (word 0) lies beyond the SA's 16-packet window, which uses bits 0 to 15");
  });
});
