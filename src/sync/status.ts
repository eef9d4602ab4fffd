// What the receiver answers on its control socket (`sync status`, `sync takeover`, `sync
// release`), as typed objects the CLI reads back (src/cli/sync-text.ts), so the compiler
// links both ends. Built from the receiver's state; counters that can pass 2^53 are U64:
// JsonU64 on the receiver's side (written exactly by toJson), number or bigint once read back
// with parseJsonExact.
import type { AeMessage } from '../xfrm/aevent.js';
import { jsonU64, type JsonU64 } from '../xfrm/json.js';
import { inboundSeq, outboundSeq } from '../xfrm/replay-window.js';
import type { ReplayState } from '../xfrm/structs.js';
import type { ApplyTimings, InboundReport, SaReport } from './apply.js';
import type { MetricsSnapshot } from './metrics.js';
import type { SyncReceiver } from './receiver.js';
import type { Role, TakeoverResult } from './role.js';
import type { LinkState, StreamSession } from './session.js';
import type { Direction } from './stream.js';
import type { Mode } from './strategy.js';

/** A u64 as the CLI reads it back: exact, a bigint above 2^53. */
export type ReadU64 = number | bigint;

export interface SaCounters<U64> {
  oseq: U64 | null;
  seq: U64 | null;
  packets: U64 | null;
  bytes: U64 | null;
}

/** What became of a replicated SA's configuration here (installer.ts), with why. */
export interface InstallStatus {
  state: string;
  note: string | null;
}

export interface SaStatus<U64> {
  sa: string;
  state: string;
  dir: Direction | 'both' | null;
  ageMs: number;
  ratePps: number;
  margin: number;
  /** The inbound hole of a silent stream, and what a takeover now would advance. */
  inbound: InboundReport;
  synced: SaCounters<U64>;
  local: SaCounters<U64> | null;
  notes: string[];
  /** With replication: null for an SA the peer sent no configuration for. */
  install: InstallStatus | null;
  /** The peer's SA is offloaded to a NIC: installed here without the offload. */
  offloaded: boolean;
}

/** A replicated policy (with --install). */
export interface PolicyStatus {
  policy: string;
  state: string;
  notes: string[];
}

export type StatusTotals = Omit<MetricsSnapshot, 'lastSnapshotAt' | 'lastHeardAt'> & {
  lastSnapshotAt: number | null;
  lastHeardAt: number | null;
};

/** `sync status`. */
export interface StatusAnswer<U64 = JsonU64> {
  mode: Mode;
  role: Role;
  link: Omit<LinkState, 'lastDisconnect'> & { lastDisconnect: string | null };
  peer: { node: string; software: string; hz: number | null; rthr: number; etimeMs: number } | null;
  /** --inbound-advance: the silence a takeover does not count, in ms; null: off. */
  inboundAdvanceGraceMs: number | null;
  totals: StatusTotals;
  /** Whether this receiver installs the peer's SAs and policies (--install), and what the peer replicates. */
  replication: { install: boolean; peerReplicates: string[] };
  sas: SaStatus<U64>[];
  policies: PolicyStatus[];
}

/** `sync takeover`: `ok` only when every synced SA is applied or current and every replicated policy is here. */
export interface TakeoverAnswer {
  ok: boolean;
  reason: string | null;
  elapsedMs: number;
  phases: ApplyTimings;
  sas: { sa: string; state: string; dir: SaReport['direction']; margin: number; inbound: InboundReport; notes: string[]; install: InstallStatus | null }[];
  policies: PolicyStatus[];
}

/** `sync release`. */
export interface ReleaseAnswer {
  ok: true;
  role: Role;
}

/** A request the receiver could not serve (an unknown command). */
export interface RefusedAnswer {
  error: string;
}

function counters(replay: ReplayState | null | undefined, lifetime: { packets: bigint; bytes: bigint } | null | undefined): SaCounters<JsonU64> {
  return {
    oseq: replay ? jsonU64(outboundSeq(replay)) : null,
    seq: replay ? jsonU64(inboundSeq(replay)) : null,
    packets: lifetime ? jsonU64(lifetime.packets) : null,
    bytes: lifetime ? jsonU64(lifetime.bytes) : null,
  };
}

export function totalsOf(receiver: SyncReceiver, session: StreamSession): MetricsSnapshot {
  const sasByState: Record<string, number> = {};
  for (const tracked of receiver.store.sas.values()) sasByState[tracked.state] = (sasByState[tracked.state] ?? 0) + 1;
  const policiesByState: Record<string, number> = {};
  for (const tracked of receiver.store.policies.values()) policiesByState[tracked.state] = (policiesByState[tracked.state] ?? 0) + 1;
  const { store, totals } = receiver;
  return {
    connected: session.link.connected,
    role: receiver.role,
    sasByState,
    records: store.totals.records,
    updates: store.totals.updates,
    applied: totals.applied,
    writeErrors: totals.writeErrors,
    streamErrors: session.streamErrors,
    sasRefused: store.totals.refusedSas,
    reconnects: session.reconnects,
    lostEvents: store.totals.lostEvents,
    snapshots: store.totals.snapshots,
    takeovers: totals.takeovers,
    policiesByState,
    installedSas: totals.installedSas,
    installedPolicies: totals.installedPolicies,
    removedSas: totals.removedSas,
    removedPolicies: totals.removedPolicies,
    retiredSas: totals.retiredSas,
    replicasRefused: totals.replicasRefused,
    installErrors: totals.installErrors,
    lastSnapshotAt: store.totals.lastSnapshotAt,
    lastHeardAt: store.totals.lastHeardAt,
    delayMs: Math.round(store.delayMs),
  };
}

export function statusOf(receiver: SyncReceiver, session: StreamSession, now: number): StatusAnswer {
  const locals: Map<string, AeMessage> = receiver.localStates();
  const sas = [...receiver.store.sas.entries()].map(([name, tracked]): SaStatus<JsonU64> => {
    const local = locals.get(name);
    return {
      sa: name,
      state: tracked.state,
      dir: tracked.direction ?? tracked.synced.dir,
      ageMs: now - tracked.receivedAt,
      ratePps: Math.round(tracked.rate.packetsPerSecond),
      margin: receiver.marginFor(tracked, false, now),
      inbound: receiver.inboundFor(tracked, now),
      synced: counters(tracked.synced.replay, tracked.synced.lifetime),
      local: local ? counters(local.replay, local.lifetime) : null,
      notes: tracked.notes,
      install: tracked.install ? { state: tracked.install.state, note: tracked.install.note ?? null } : null,
      offloaded: tracked.replica !== undefined && 'config' in tracked.replica && tracked.replica.config.offload !== undefined,
    };
  });
  const policies = [...receiver.store.policies.values()].map((p): PolicyStatus => ({ policy: p.synced.name, state: p.state, notes: p.notes }));
  const peer = receiver.store.peer;
  const totals = totalsOf(receiver, session);
  return {
    mode: receiver.mode,
    role: receiver.role,
    link: { ...session.link, lastDisconnect: session.link.lastDisconnect ?? null },
    peer: peer ? { node: peer.node, software: peer.software, hz: peer.hz, rthr: peer.rthr, etimeMs: peer.etimeMs } : null,
    inboundAdvanceGraceMs: receiver.inboundAdvanceGraceMs ?? null,
    totals: { ...totals, lastSnapshotAt: totals.lastSnapshotAt ?? null, lastHeardAt: totals.lastHeardAt ?? null },
    replication: { install: receiver.installs, peerReplicates: peer?.replicate ?? [] },
    sas,
    policies,
  };
}

export function takeoverAnswer(result: TakeoverResult, elapsedMs: number, phases: ApplyTimings): TakeoverAnswer {
  return {
    ok: result.ok,
    reason: result.reason ?? null,
    elapsedMs,
    phases,
    sas: result.reports.map((r) => ({
      sa: r.name,
      state: r.state,
      dir: r.direction,
      margin: r.margin,
      inbound: r.inbound,
      notes: r.notes,
      install: r.install ? { state: r.install.state, note: r.install.note ?? null } : null,
    })),
    policies: result.policies.map((p) => ({ policy: p.name, state: p.state, notes: p.notes })),
  };
}

export function releaseAnswer(role: Role): ReleaseAnswer {
  return { ok: true, role };
}
