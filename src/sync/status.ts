// What `sync status` and `sync takeover` answer: plain JSON-ready objects built from the
// receiver's state. Counters that can pass 2^53 go through jsonU64.
import type { AeMessage } from '../xfrm/aevent.js';
import { jsonU64, type JsonU64 } from '../xfrm/json.js';
import { inboundSeq, outboundSeq } from '../xfrm/replay-window.js';
import type { ReplayState } from '../xfrm/structs.js';
import type { SyncReceiver, SaReport } from './receiver.js';
import type { MetricsSnapshot } from './metrics.js';

export interface LinkState {
  connected: boolean;
  /** Why the last connection ended, if it did. */
  lastDisconnect: string | undefined;
  command: string;
}

interface Counters {
  oseq: JsonU64 | null;
  seq: JsonU64 | null;
  packets: JsonU64 | null;
  bytes: JsonU64 | null;
}

function counters(replay: ReplayState | null | undefined, lifetime: { packets: bigint; bytes: bigint } | null | undefined): Counters {
  return {
    oseq: replay ? jsonU64(outboundSeq(replay)) : null,
    seq: replay ? jsonU64(inboundSeq(replay)) : null,
    packets: lifetime ? jsonU64(lifetime.packets) : null,
    bytes: lifetime ? jsonU64(lifetime.bytes) : null,
  };
}

export function totalsOf(receiver: SyncReceiver, link: LinkState): MetricsSnapshot {
  const sasByState: Record<string, number> = {};
  for (const tracked of receiver.store.sas.values()) sasByState[tracked.state] = (sasByState[tracked.state] ?? 0) + 1;
  const { store, totals } = receiver;
  return {
    connected: link.connected,
    role: receiver.role,
    sasByState,
    records: store.totals.records,
    updates: store.totals.updates,
    applied: totals.applied,
    writeErrors: totals.writeErrors,
    streamErrors: store.totals.streamErrors,
    sasRefused: store.totals.refusedSas,
    reconnects: totals.reconnects,
    lostEvents: store.totals.lostEvents,
    snapshots: store.totals.snapshots,
    takeovers: totals.takeovers,
    lastSnapshotAt: store.totals.lastSnapshotAt,
    lastHeardAt: store.totals.lastHeardAt,
    delayMs: Math.round(store.delayMs),
  };
}

export function statusOf(receiver: SyncReceiver, link: LinkState, now: number): object {
  const locals: Map<string, AeMessage> = receiver.localStates();
  const sas = [...receiver.store.sas.entries()].map(([name, tracked]) => {
    const local = locals.get(name);
    return {
      sa: name,
      state: tracked.state,
      dir: tracked.direction ?? tracked.synced.dir,
      ageMs: now - tracked.receivedAt,
      ratePps: Math.round(tracked.rate.packetsPerSecond),
      margin: receiver.marginFor(tracked, false, now),
      synced: counters(tracked.synced.replay, tracked.synced.lifetime),
      local: local ? counters(local.replay, local.lifetime) : null,
      notes: tracked.notes,
    };
  });
  const peer = receiver.store.peer;
  const totals = totalsOf(receiver, link);
  return {
    mode: receiver.mode,
    role: receiver.role,
    link: { ...link, lastDisconnect: link.lastDisconnect ?? null },
    peer: peer ? { node: peer.node, software: peer.software, hz: peer.hz, rthr: peer.rthr, etimeMs: peer.etimeMs } : null,
    totals: { ...totals, lastSnapshotAt: totals.lastSnapshotAt ?? null, lastHeardAt: totals.lastHeardAt ?? null },
    sas,
  };
}

export function takeoverAnswer(
  result: { reports: SaReport[]; ok: boolean; reason: string | undefined },
  elapsedMs: number,
  phases: SyncReceiver['lastApply'],
): object {
  return {
    ok: result.ok,
    reason: result.reason ?? null,
    elapsedMs,
    phases,
    sas: result.reports.map((r) => ({ sa: r.name, state: r.state, dir: r.direction, margin: r.margin, notes: r.notes })),
  };
}
