// The inbound anti-replay window as the kernel keeps it, so that a NEWAE which moves the
// window's top (seq, seq-hi) also moves the bitmap the way the kernel would, and a bitmap
// written by hand is checked against the SA's window. Pure arithmetic, no I/O.
// docs/kernel/newae.md (replay flavour); net/xfrm/xfrm_replay.c: xfrm_replay_advance(),
// xfrm_replay_advance_bmp(), xfrm_replay_advance_esn(), xfrm_replay_check_legacy(),
// xfrm_replay_check_bmp(), xfrm_replay_check_esn().
//
// Two layouts:
// - legacy (struct xfrm_replay_state, window <= 32): bit d of the one u32 word stands for the
//   sequence number seq - d. Moving the top by n shifts the word left by n.
// - ESN and large-window SAs (struct xfrm_replay_state_esn): the words form a ring indexed by
//   absolute sequence number, bit (s - 1) mod window for s (low 32 bits). Moving the top clears
//   the positions of the numbers that enter the window; nothing shifts.
// The kernel moves the top only when a packet arrives, and then marks that packet. A NEWAE
// moves it with no packet: every number that enters the window, the new top included, is
// unmarked (not yet received), so the sender can still use it.
import type { ReplayState } from './structs.js';

const U32_MASK = 0xffffffffn;

/** The bits of bitmap word `index` that lie inside a window of `window` packets. */
export function windowWordMask(window: number, index: number): number {
  const bits = Math.min(32, Math.max(0, window - 32 * index));
  return bits === 32 ? 0xffffffff : ((1 << bits) - 1) >>> 0;
}

/** Every number in the window marked as received: `words` u32 words, bits beyond the window clear. */
export function fullBitmap(window: number, words: number): number[] {
  return Array.from({ length: words }, (_, index) => windowWordMask(window, index));
}

/**
 * Why `words` cannot be the bitmap of a window of `window` packets kept in `wordCount` words,
 * or undefined when it can. The kernel never reads bits beyond the window, and NEWAE cannot
 * change the number of words (net/xfrm/xfrm_user.c: xfrm_replay_verify_len()).
 */
export function bitmapProblem(words: readonly number[], window: number, wordCount: number): string | undefined {
  if (words.length !== wordCount) {
    return `the SA's bitmap has ${wordCount} word${wordCount === 1 ? '' : 's'} (window ${window}), not ${words.length}`;
  }
  for (let index = 0; index < words.length; index++) {
    const outside = (words[index]! & ~windowWordMask(window, index)) >>> 0;
    if (outside !== 0) {
      const bit = 32 * index + (31 - Math.clz32(outside));
      return `bit ${bit} (word ${index}) lies beyond the SA's ${window}-packet window, which uses bits 0 to ${window - 1}`;
    }
  }
  return undefined;
}

/**
 * Position in the ESN ring of the number `diff` below the top whose low 32 bits are `topLow`,
 * exactly as xfrm_replay_check_esn() and xfrm_replay_check_bmp() compute it.
 */
export function ringBitIndex(topLow: number, diff: number, window: number): number {
  const pos = ((topLow - 1) >>> 0) % window;
  return pos >= diff ? pos - diff : window - (diff - pos);
}

/**
 * The legacy word after the top moves from `from` to `to` (u32) with no packet received.
 * Forward: shifted left as xfrm_replay_advance() does, without the new packet's bit; a move
 * of a whole window or more leaves nothing. Backward (a lowered seq): shifted right; numbers
 * that come back in at the bottom were never tracked and read as not received.
 */
export function moveLegacyBitmap(bitmap: number, from: number, to: number, window: number): number {
  const distance = Math.abs(to - from);
  if (distance === 0) return bitmap >>> 0;
  if (distance >= window || distance >= 32) return 0;
  return (to > from ? bitmap << distance : bitmap >>> distance) >>> 0;
}

/**
 * The ESN ring after the 64-bit top (seq_hi << 32 | seq) moves from `from` to `to` with no
 * packet received. Forward, the positions of the numbers that enter the window (up to and
 * including the new top) are cleared, as xfrm_replay_advance_esn() clears the gap; backward,
 * the positions of the numbers that come back in at the bottom. A move of a whole window or
 * more clears every word that holds the window, as the kernel does.
 */
export function moveEsnBitmap(bitmap: readonly number[], window: number, from: bigint, to: bigint): number[] {
  const next = [...bitmap];
  if (window === 0 || from === to) return next;
  const distance = to > from ? to - from : from - to;
  if (distance >= BigInt(window)) {
    for (let index = 0; index <= (window - 1) >> 5 && index < next.length; index++) next[index] = 0;
    return next;
  }
  const topLow = Number(to & U32_MASK);
  const count = Number(distance);
  // Forward: diffs 0 .. count-1 below the new top. Backward: the bottom count numbers.
  const first = to > from ? 0 : window - count;
  for (let diff = first; diff < first + count; diff++) {
    const bit = ringBitIndex(topLow, diff, window);
    const index = bit >> 5;
    if (index < next.length) next[index] = (next[index]! & ~(1 << (bit & 31))) >>> 0;
  }
  return next;
}

/** A 64-bit sequence number from its u32 halves: the ESN state keeps seq_hi and seq (oseq_hi and oseq) apart. */
export function seq64(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** The u32 halves of a 64-bit sequence number, for writing it back into an ESN state. */
export function seqHalves(value: bigint): { hi: number; lo: number } {
  return { hi: Number((value >> 32n) & U32_MASK), lo: Number(value & U32_MASK) };
}

/** The inbound top (seq) as 64 bits; a legacy state has only the low half. */
export function inboundSeq(state: ReplayState): bigint {
  return state.kind === 'esn' ? seq64(state.seqHi, state.seq) : BigInt(state.seq);
}

/** The outbound counter (oseq) as 64 bits; a legacy state has only the low half. */
export function outboundSeq(state: ReplayState): bigint {
  return state.kind === 'esn' ? seq64(state.oseqHi, state.oseq) : BigInt(state.oseq);
}

/**
 * The replay state with its inbound top moved to `to` and the bitmap moved with it. For a
 * legacy state only the low 32 bits of `to` count, and `legacyWindow` is the SA's window
 * (xfrm_usersa_info.replay_window: the legacy struct does not carry it).
 */
export function moveInboundTop(state: ReplayState, to: bigint, legacyWindow: number): ReplayState {
  if (state.kind === 'legacy') {
    const seq = Number(to & U32_MASK);
    return { ...state, seq, bitmap: moveLegacyBitmap(state.bitmap, state.seq, seq, legacyWindow) };
  }
  const { hi, lo } = seqHalves(to);
  return { ...state, seq: lo, seqHi: hi, bitmap: moveEsnBitmap(state.bitmap, state.replayWindow, inboundSeq(state), to) };
}

/**
 * Whether the state marks `seq` as received: true or false inside the window, undefined for
 * a number above the top (new) or below the window (too old). For tests and for callers that
 * need to know what a written state will accept.
 */
export function isMarkedReceived(state: ReplayState, seq: bigint, legacyWindow: number): boolean | undefined {
  const top = inboundSeq(state);
  const window = state.kind === 'legacy' ? Math.min(32, legacyWindow) : state.replayWindow;
  if (seq > top || top - seq >= BigInt(window)) return undefined;
  const diff = Number(top - seq);
  if (state.kind === 'legacy') return ((state.bitmap >>> diff) & 1) === 1;
  const bit = ringBitIndex(state.seq, diff, window);
  return (((state.bitmap[bit >> 5] ?? 0) >>> (bit & 31)) & 1) === 1;
}
