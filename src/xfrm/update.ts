// Turning "set these counters" into a NEWAE. NEWAE replaces whole structs, so each value the
// user gives is merged into the SA's current state, and sent in the SA's own replay flavour:
// the kernel silently ignores the other one (docs/kernel/newae.md; net/xfrm/xfrm_user.c:
// xfrm_new_ae(), xfrm_update_ae_params()).
import { hex } from '../netlink/bytes.js';
import type { AeMessage, AeUpdate } from './aevent.js';
import { bitmapProblem, fullBitmap, inboundSeq, moveInboundTop, outboundSeq, seq64 } from './replay-window.js';
import type { EsnReplayState, LegacyReplayState, LifetimeCurrent } from './structs.js';

/** A bitmap to write as it is: every number in the window received, none, or the words themselves. */
export type BitmapChange = 'all' | 'none' | readonly number[];

export interface CounterChanges {
  seq?: number | undefined;
  oseq?: number | undefined;
  seqHi?: number | undefined;
  oseqHi?: number | undefined;
  bytes?: bigint | undefined;
  packets?: bigint | undefined;
  /** Replaces the inbound bitmap; without it a moved seq moves the bitmap (replay-window.ts). */
  bitmap?: BitmapChange | undefined;
}

/** What the SA is that a NEWAE message alone does not say. */
export interface SaShape {
  /** xfrm_usersa_info.replay_window: the legacy replay struct does not carry its window. */
  legacyWindow: number;
}

export interface MergedCounters {
  update: Pick<AeUpdate, 'replay' | 'lifetime'>;
  /** Counters that would go down, e.g. "oseq 0x10 -> 0x5": a lower oseq reuses sequence numbers, a lower seq reopens the window. */
  lowered: string[];
}

/** The SA's flavour cannot take a change: e.g. --seq-hi on a legacy-replay SA. */
export class IncompatibleChangeError extends Error {
  override readonly name = 'IncompatibleChangeError';
}

/** The words a --bitmap change stands for on this SA, or an error naming the mismatch. */
function resolveBitmap(change: BitmapChange, window: number, wordCount: number): number[] {
  if (change === 'all') return fullBitmap(window, wordCount);
  if (change === 'none') return new Array<number>(wordCount).fill(0);
  const problem = bitmapProblem(change, window, wordCount);
  if (problem) throw new IncompatibleChangeError(`--bitmap: ${problem}`);
  return [...change];
}

function mergeLegacyReplay(current: LegacyReplayState, changes: CounterChanges, shape: SaShape, lowered: string[]): LegacyReplayState {
  if (changes.seqHi !== undefined || changes.oseqHi !== undefined) {
    throw new IncompatibleChangeError('this SA keeps a legacy replay state (32-bit counters): --seq-hi and --oseq-hi need an ESN SA');
  }
  const window = Math.min(32, shape.legacyWindow);
  const moved = moveInboundTop(current, BigInt(changes.seq ?? current.seq), window) as LegacyReplayState;
  const next = { ...moved, oseq: changes.oseq ?? current.oseq };
  if (changes.bitmap !== undefined) next.bitmap = resolveBitmap(changes.bitmap, window, 1)[0]!;
  if (next.seq < current.seq) lowered.push(`seq ${hex(current.seq)} -> ${hex(next.seq)}`);
  if (next.oseq < current.oseq) lowered.push(`oseq ${hex(current.oseq)} -> ${hex(next.oseq)}`);
  return next;
}

function mergeEsnReplay(current: EsnReplayState, changes: CounterChanges, lowered: string[]): EsnReplayState {
  // window and bmp_len go back unchanged: NEWAE cannot resize the bitmap
  // (net/xfrm/xfrm_user.c: xfrm_replay_verify_len()).
  const seqAfter = seq64(changes.seqHi ?? current.seqHi, changes.seq ?? current.seq);
  const next = {
    ...(moveInboundTop(current, seqAfter, 0) as EsnReplayState),
    oseq: changes.oseq ?? current.oseq,
    oseqHi: changes.oseqHi ?? current.oseqHi,
  };
  if (changes.bitmap !== undefined) next.bitmap = resolveBitmap(changes.bitmap, current.replayWindow, current.bitmap.length);
  const seqBefore = inboundSeq(current);
  const oseqBefore = outboundSeq(current);
  const oseqAfter = outboundSeq(next);
  if (seqAfter < seqBefore) lowered.push(`seq ${hex(seqBefore)} -> ${hex(seqAfter)}`);
  if (oseqAfter < oseqBefore) lowered.push(`oseq ${hex(oseqBefore)} -> ${hex(oseqAfter)}`);
  return next;
}

function mergeLifetime(current: LifetimeCurrent, changes: CounterChanges, lowered: string[]): LifetimeCurrent {
  const next = { ...current, bytes: changes.bytes ?? current.bytes, packets: changes.packets ?? current.packets };
  if (next.bytes < current.bytes) lowered.push(`bytes ${current.bytes} -> ${next.bytes}`);
  if (next.packets < current.packets) lowered.push(`packets ${current.packets} -> ${next.packets}`);
  return next;
}

/**
 * The NEWAE that applies `changes` to the SA's `current` state. A moved inbound top moves the
 * bitmap as the kernel would (replay-window.ts) unless `changes.bitmap` gives it exactly.
 */
export function mergeCounters(current: AeMessage, changes: CounterChanges, shape: SaShape): MergedCounters {
  const lowered: string[] = [];
  const update: MergedCounters['update'] = {};
  const touchesReplay = [changes.seq, changes.oseq, changes.seqHi, changes.oseqHi, changes.bitmap].some((v) => v !== undefined);
  const touchesLifetime = changes.bytes !== undefined || changes.packets !== undefined;
  if (touchesReplay) {
    if (!current.replay) throw new IncompatibleChangeError('the kernel reported no replay state for this SA');
    update.replay =
      current.replay.kind === 'legacy'
        ? mergeLegacyReplay(current.replay, changes, shape, lowered)
        : mergeEsnReplay(current.replay, changes, lowered);
  }
  if (touchesLifetime) {
    if (!current.lifetime) throw new IncompatibleChangeError('the kernel reported no lifetime counters for this SA');
    update.lifetime = mergeLifetime(current.lifetime, changes, lowered);
  }
  return { update, lowered };
}
