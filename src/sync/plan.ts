// What to write to a local SA so that it is at least as far along as the peer's synced state
// (docs/sync.md "Applying"). Pure: takes the local GETAE state and returns the NEWAE update,
// in the local SA's own replay flavour with its own bitmap length (docs/kernel/newae.md:
// NEWAE cannot resize the bitmap or change the flavour; net/xfrm/xfrm_user.c:
// xfrm_replay_verify_len()). Nothing is ever lowered.
import type { AeMessage, AeUpdate } from '../xfrm/aevent.js';
import { inboundSeq, moveInboundTop, outboundSeq, seqHalves } from '../xfrm/replay-window.js';
import type { EsnReplayState, LifetimeCurrent, ReplayState } from '../xfrm/structs.js';
import { ESN_MAX_JUMP } from './margin.js';
import type { Direction, StreamSa } from './stream.js';

export type Outcome = 'applied' | 'current' | 'refused';

export interface LocalSa {
  state: AeMessage;
  /** XFRM_STATE_ESN in the SA's flags: only then may oseq pass 2^32. */
  esn: boolean;
}

export interface ApplyPlan {
  /** undefined when the local SA is already at least as far along. */
  update: AeUpdate | undefined;
  outcome: Outcome;
  /** Which side of the rule was applied; 'both' when the direction could not be told. */
  direction: Direction | 'both';
  /** Packets added to the synced oseq (0 for inbound). */
  margin: number;
  /** Packets the inbound window's top was put above the synced seq (--inbound-advance; 0: not moved). */
  advance: number;
  notes: string[];
}

const U32 = 0x1_0000_0000n;
/** A legacy state's window lives in one u32 word: bits beyond the SA's window are never read. */
const LEGACY_WINDOW_BITS = 32;

/**
 * The direction rule: the kernel's XFRMA_SA_DIR (6.10+) on either node wins; otherwise an SA
 * whose synced state shows outbound traffic (oseq > 0) is outbound, one that shows inbound
 * traffic (seq > 0 or a bit in the window) is inbound, and one with neither gets both rules,
 * which are then both safe: the inbound rule changes nothing, the outbound one adds the margin.
 */
export function directionOf(local: AeMessage, synced: StreamSa): Direction | 'both' {
  if (local.direction === 1) return 'in';
  if (local.direction === 2) return 'out';
  if (synced.dir) return synced.dir;
  const replay = synced.replay;
  if (!replay) return 'both';
  if (outboundSeq(replay) > 0n) return 'out';
  const anyBit = replay.kind === 'legacy' ? replay.bitmap !== 0 : replay.bitmap.some((word) => word !== 0);
  return inboundSeq(replay) > 0n || anyBit ? 'in' : 'both';
}

function bitIndex(seq: number, window: number): number {
  // net/xfrm/xfrm_replay.c: xfrm_replay_advance_esn(): the bit of sequence number s sits at
  // (s - 1) mod replay_window, in u32 arithmetic, of a circular bitmap.
  return ((seq - 1) >>> 0) % window;
}

function testBit(bitmap: number[], index: number): boolean {
  return ((bitmap[index >>> 5]! >>> (index & 31)) & 1) === 1;
}

/** The synced window's accepted packets, laid out for a local window of another size. */
export function translateEsnBitmap(from: EsnReplayState, to: EsnReplayState): number[] {
  if (from.replayWindow === to.replayWindow && from.bitmap.length === to.bitmap.length) return [...from.bitmap];
  const out = new Array<number>(to.bitmap.length).fill(0);
  const span = Math.min(from.replayWindow, to.replayWindow);
  for (let back = 0; back < span; back++) {
    const seq = (from.seq - back) >>> 0;
    if (!testBit(from.bitmap, bitIndex(seq, from.replayWindow))) continue;
    const index = bitIndex(seq, to.replayWindow);
    out[index >>> 5] = (out[index >>> 5]! | (1 << (index & 31))) >>> 0;
  }
  return out;
}

/** Inbound: seq and window exactly as synced; equal seq: the union of both windows. */
function planInbound(local: ReplayState, synced: ReplayState, notes: string[]): ReplayState {
  const localSeq = inboundSeq(local);
  const syncedSeq = inboundSeq(synced);
  if (syncedSeq < localSeq) {
    notes.push('local seq is ahead of the synced one: kept');
    return local;
  }
  if (local.kind === 'legacy' && synced.kind === 'legacy') {
    const bitmap = syncedSeq === localSeq ? (local.bitmap | synced.bitmap) >>> 0 : synced.bitmap;
    return { ...local, seq: synced.seq, bitmap };
  }
  const l = local as EsnReplayState;
  const bitmap = translateEsnBitmap(synced as EsnReplayState, l);
  const merged = syncedSeq === localSeq ? bitmap.map((word, i) => (word | l.bitmap[i]!) >>> 0) : bitmap;
  return { ...l, seq: synced.seq, seqHi: (synced as EsnReplayState).seqHi, bitmap: merged };
}

/**
 * Inbound advance: the window's top moved to the synced seq + `packets` as the kernel moves it
 * (replay-window.ts: the numbers that enter the window are not received), so the numbers the
 * peer accepted below the new top, other than the window's last `window` ones, are refused as
 * too old. Never lowers; a non-ESN SA stays below 2^32 (its seq is 32 bits), an ESN jump stays
 * within ESN_MAX_JUMP (the remote's seq-hi inference). Returns the state and the packets the
 * top now stands above the synced seq by the advance (0 when it did not move).
 */
function advanceInbound(state: ReplayState, synced: ReplayState, packets: number, esn: boolean): { state: ReplayState; advance: number } {
  const syncedSeq = inboundSeq(synced);
  let target = syncedSeq + BigInt(Math.min(packets, ESN_MAX_JUMP));
  if (!esn && target >= U32) target = U32 - 1n;
  if (target <= inboundSeq(state)) return { state, advance: 0 };
  return { state: moveInboundTop(state, target, LEGACY_WINDOW_BITS), advance: Number(target - syncedSeq) };
}

/** Outbound: oseq at least synced + margin; undefined when that is refused (2^32 guard). */
function planOutbound(local: ReplayState, synced: ReplayState, margin: number, esn: boolean, notes: string[]): ReplayState | undefined {
  const target = outboundSeq(synced) + BigInt(margin);
  if (target <= outboundSeq(local)) return local;
  // The next packet would carry target + 1: at 2^32 a non-ESN SA stops sending
  // (net/xfrm/xfrm_replay.c: __xfrm_replay_overflow()).
  if (!esn && target + 1n >= U32) {
    notes.push(`oseq ${outboundSeq(synced)} + margin ${margin} would reach 2^32 on a non-ESN SA: not written, rekey this SA`);
    return undefined;
  }
  if (local.kind === 'legacy') return { ...local, oseq: Number(target) };
  const { hi, lo } = seqHalves(target);
  return { ...local, oseq: lo, oseqHi: hi };
}

function planLifetime(local: LifetimeCurrent, synced: LifetimeCurrent): LifetimeCurrent | undefined {
  const next = {
    ...local,
    bytes: synced.bytes > local.bytes ? synced.bytes : local.bytes,
    packets: synced.packets > local.packets ? synced.packets : local.packets,
    useTime: local.useTime === 0n ? synced.useTime : local.useTime,
  };
  const changed = next.bytes !== local.bytes || next.packets !== local.packets || next.useTime !== local.useTime;
  return changed ? next : undefined;
}

function sameReplay(a: ReplayState, b: ReplayState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The NEWAE that brings `local` up to `synced` with `margin` on the outbound counter and, on
 * the inbound window, `inboundAdvance` packets above the synced seq (0 at all but a takeover
 * after silence with --inbound-advance).
 */
export function planApply(local: LocalSa, synced: StreamSa, margin: number, inboundAdvance = 0): ApplyPlan {
  const direction = directionOf(local.state, synced);
  const notes: string[] = [];
  const plan: ApplyPlan = { update: undefined, outcome: 'current', direction, margin: direction === 'in' ? 0 : Math.min(margin, ESN_MAX_JUMP), advance: 0, notes };
  const localReplay = local.state.replay;
  let refused = false;
  if (localReplay && synced.replay) {
    if (localReplay.kind !== synced.replay.kind) {
      notes.push(`replay flavours differ (peer ${synced.replay.kind}, local ${localReplay.kind}): counters not written`);
      refused = true;
    } else {
      let next: ReplayState | undefined = localReplay;
      if (direction !== 'out') next = planInbound(next, synced.replay, notes);
      if (direction !== 'out' && inboundAdvance > 0) {
        const advanced = advanceInbound(next, synced.replay, inboundAdvance, local.esn);
        next = advanced.state;
        plan.advance = advanced.advance;
      }
      if (direction !== 'in') next = planOutbound(next, synced.replay, Math.min(margin, ESN_MAX_JUMP), local.esn, notes);
      if (next === undefined) refused = true;
      else if (!sameReplay(next, localReplay)) plan.update = { replay: next };
    }
  }
  const lifetime = local.state.lifetime && synced.lifetime ? planLifetime(local.state.lifetime, synced.lifetime) : undefined;
  if (lifetime) plan.update = { ...plan.update, lifetime };
  plan.outcome = refused ? 'refused' : plan.update ? 'applied' : 'current';
  return plan;
}
