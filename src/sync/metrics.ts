// Receiver totals in Prometheus text format for node_exporter's textfile collector. Written
// to a temporary file in the same directory and renamed over the target, so the collector
// never reads half a file.
import { renameSync, writeFileSync } from 'node:fs';
import type { ReceiverTotals } from './receiver.js';

/** The receiver's totals (applied, takeovers, the installer's counts) and the stream's. */
export interface MetricsSnapshot extends ReceiverTotals {
  connected: boolean;
  role: 'standby' | 'active';
  sasByState: Record<string, number>;
  records: number;
  updates: number;
  streamErrors: number;
  /** SAs not tracked because --max-sas was reached. */
  sasRefused: number;
  reconnects: number;
  lostEvents: number;
  snapshots: number;
  /** With --install (installer.ts). */
  policiesByState: Record<string, number>;
  lastSnapshotAt: number | undefined;
  lastHeardAt: number | undefined;
  delayMs: number;
}

const seconds = (ms: number | undefined): string => (ms === undefined ? 'NaN' : (ms / 1000).toFixed(3));

function metric(name: string, type: 'gauge' | 'counter', help: string, samples: [string, string | number][]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  return `${lines.join('\n')}\n`;
}

export function renderMetrics(m: MetricsSnapshot): string {
  const states = Object.entries(m.sasByState).map(([state, count]): [string, number] => [`{state="${state}"}`, count]);
  const policyStates = Object.entries(m.policiesByState).map(([state, count]): [string, number] => [`{state="${state}"}`, count]);
  return [
    metric('xaev_sync_connected', 'gauge', 'Whether the stream from the peer is connected.', [['', m.connected ? 1 : 0]]),
    metric('xaev_sync_active', 'gauge', 'Whether this node took over (sync takeover) and stopped following the peer.', [['', m.role === 'active' ? 1 : 0]]),
    metric('xaev_sync_sas', 'gauge', 'Synced SAs by state.', states),
    metric('xaev_sync_records_total', 'counter', 'Stream records received.', [['', m.records]]),
    metric('xaev_sync_updates_total', 'counter', 'SA update records received.', [['', m.updates]]),
    metric('xaev_sync_applied_total', 'counter', 'NEWAE writes the kernel accepted.', [['', m.applied]]),
    metric('xaev_sync_write_errors_total', 'counter', 'NEWAE writes the kernel refused.', [['', m.writeErrors]]),
    metric('xaev_sync_stream_errors_total', 'counter', 'Stream lines refused as invalid.', [['', m.streamErrors]]),
    metric('xaev_sync_sas_refused_total', 'counter', 'SA records ignored because --max-sas SAs were tracked.', [['', m.sasRefused]]),
    metric('xaev_sync_reconnects_total', 'counter', 'Times the stream was reconnected.', [['', m.reconnects]]),
    metric('xaev_sync_lost_events_total', 'counter', 'Events the sender reported lost.', [['', m.lostEvents]]),
    metric('xaev_sync_snapshots_total', 'counter', 'Complete snapshots received.', [['', m.snapshots]]),
    metric('xaev_sync_takeovers_total', 'counter', 'Takeovers performed.', [['', m.takeovers]]),
    metric('xaev_sync_policies', 'gauge', 'Replicated policies by state (--install).', policyStates),
    metric('xaev_sync_installed_total', 'counter', 'SAs and policies this receiver installed (--install).', [['{kind="sa"}', m.installedSas], ['{kind="policy"}', m.installedPolicies]]),
    metric('xaev_sync_removed_total', 'counter', 'Installed SAs and policies deleted because the peer no longer has them, and SAs retired after a takeover.', [['{kind="sa"}', m.removedSas], ['{kind="policy"}', m.removedPolicies], ['{kind="retired-sa"}', m.retiredSas]]),
    metric('xaev_sync_replicas_refused_total', 'counter', 'Replicated SAs and policies refused as not installable (wrong key length, unknown algorithm ...).', [['', m.replicasRefused]]),
    metric('xaev_sync_install_errors_total', 'counter', 'Installs and deletes the kernel refused.', [['', m.installErrors]]),
    metric('xaev_sync_last_snapshot_timestamp_seconds', 'gauge', 'When the last complete snapshot arrived.', [['', seconds(m.lastSnapshotAt)]]),
    metric('xaev_sync_last_heard_timestamp_seconds', 'gauge', 'When the last record (heartbeats included) arrived.', [['', seconds(m.lastHeardAt)]]),
    metric('xaev_sync_delay_seconds', 'gauge', 'Observed transport delay (needs synchronised clocks).', [['', seconds(m.delayMs)]]),
  ].join('');
}

export function writeMetricsFile(path: string, m: MetricsSnapshot): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, renderMetrics(m));
  renameSync(temporary, path);
}
