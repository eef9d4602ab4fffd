// Turning "set these counters" into a NEWAE. NEWAE replaces whole structs, so each value the
// user gives is merged into the SA's current state, and sent in the SA's own replay flavour:
// the kernel silently ignores the other one (docs/kernel/newae.md; net/xfrm/xfrm_user.c:
// xfrm_update_ae_params()).
import { hex } from '../netlink/bytes.js';
import type { AeMessage, AeUpdate } from './aevent.js';
import type { LifetimeCurrent, ReplayState } from './structs.js';

export interface CounterChanges {
  seq?: number | undefined;
  oseq?: number | undefined;
  seqHi?: number | undefined;
  oseqHi?: number | undefined;
  bytes?: bigint | undefined;
  packets?: bigint | undefined;
}

export interface MergedCounters {
  update: Pick<AeUpdate, 'replay' | 'lifetime'>;
  /** Counters that would go down, e.g. "oseq 0x10 -> 0x5": nonce reuse outbound, a reopened replay window inbound. */
  lowered: string[];
}

/** The SA's flavour cannot take a change: e.g. --seq-hi on a legacy-replay SA. */
export class IncompatibleChangeError extends Error {
  override readonly name = 'IncompatibleChangeError';
}

function combined(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function mergeReplay(current: ReplayState, changes: CounterChanges, lowered: string[]): ReplayState {
  if (current.kind === 'legacy') {
    if (changes.seqHi !== undefined || changes.oseqHi !== undefined) {
      throw new IncompatibleChangeError(
        'this SA keeps a legacy replay state (32-bit counters): --seq-hi and --oseq-hi need an ESN SA',
      );
    }
    const next = { ...current, seq: changes.seq ?? current.seq, oseq: changes.oseq ?? current.oseq };
    if (next.seq < current.seq) lowered.push(`seq ${hex(current.seq)} -> ${hex(next.seq)}`);
    if (next.oseq < current.oseq) lowered.push(`oseq ${hex(current.oseq)} -> ${hex(next.oseq)}`);
    return next;
  }
  // The bitmap, window and bmp_len go back unchanged: NEWAE cannot resize the bitmap
  // (docs/kernel/newae.md; net/xfrm/xfrm_user.c: xfrm_replay_verify_len()).
  const next = {
    ...current,
    bitmap: [...current.bitmap],
    seq: changes.seq ?? current.seq,
    seqHi: changes.seqHi ?? current.seqHi,
    oseq: changes.oseq ?? current.oseq,
    oseqHi: changes.oseqHi ?? current.oseqHi,
  };
  const seqBefore = combined(current.seqHi, current.seq);
  const seqAfter = combined(next.seqHi, next.seq);
  const oseqBefore = combined(current.oseqHi, current.oseq);
  const oseqAfter = combined(next.oseqHi, next.oseq);
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

export function mergeCounters(current: AeMessage, changes: CounterChanges): MergedCounters {
  const lowered: string[] = [];
  const update: MergedCounters['update'] = {};
  const touchesReplay = [changes.seq, changes.oseq, changes.seqHi, changes.oseqHi].some((v) => v !== undefined);
  const touchesLifetime = changes.bytes !== undefined || changes.packets !== undefined;
  if (touchesReplay) {
    if (!current.replay) throw new IncompatibleChangeError('the kernel reported no replay state for this SA');
    update.replay = mergeReplay(current.replay, changes, lowered);
  }
  if (touchesLifetime) {
    if (!current.lifetime) throw new IncompatibleChangeError('the kernel reported no lifetime counters for this SA');
    update.lifetime = mergeLifetime(current.lifetime, changes, lowered);
  }
  return { update, lowered };
}
