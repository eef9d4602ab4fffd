// Text output of `sync status` and `sync takeover`, from the receiver's JSON answer
// (src/sync/status.ts). With -j the answer is printed as it came.
import type { InboundReport } from '../sync/apply.js';
import type { InstallStatus, ReadU64, StatusAnswer, TakeoverAnswer } from '../sync/status.js';
import { oneLine } from './user-text.js';

const show = (value: ReadU64 | null | undefined): string => (value === null || value === undefined ? '-' : String(value));

/** ", installed" or ", conflict (why)": what became of a replicated SA here. */
function installText(install: InstallStatus | null): string {
  if (!install) return '';
  return install.note ? `, ${install.state} (${oneLine(install.note)})` : `, ${install.state}`;
}

/** Notes carry text from the peer (why it did not replicate an SA) and the kernel's: escaped, one line. */
function notesText(notes: string[]): string {
  return notes.map((note) => oneLine(note)).join('; ');
}

function countStates(items: { state: string }[], none: string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item.state, (counts.get(item.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(', ') || none;
}

/**
 * The inbound hole of a silent stream, for SAs that may be inbound; nothing while the stream
 * is up (the hole is then the thresholds' own, docs/sync.md "Inbound hole").
 */
function holeText(dir: string | null, inbound: InboundReport | undefined, advance: string): string {
  if (dir === 'out' || !inbound || inbound.silenceMs === 0) return '';
  const moved = inbound.advance > 0 ? `, ${advance} ${inbound.advance}` : '';
  return ` inbound hole up to ${inbound.holePackets} (${inbound.ratePps}/s, ${(inbound.silenceMs / 1000).toFixed(1)} s silent${moved})`;
}

export function takeoverText(answer: TakeoverAnswer): string {
  const lines = answer.sas.map((sa) => {
    const margin = sa.dir === 'in' ? '' : ` margin ${sa.margin}`;
    const hole = holeText(sa.dir, sa.inbound as InboundReport | undefined, 'window advanced');
    const notes = sa.notes.length > 0 ? `: ${notesText(sa.notes)}` : '';
    const install = sa.install && sa.install.state !== 'installed' ? ` [${sa.install.state}]` : '';
    return `${sa.state.padEnd(8)} ${sa.sa} ${sa.dir ?? '?'}${margin}${hole}${install}${notes}`;
  });
  for (const policy of answer.policies) {
    lines.push(`${policy.state.padEnd(8)} policy ${policy.policy}${policy.notes.length > 0 ? `: ${notesText(policy.notes)}` : ''}`);
  }
  const policies = answer.policies.length > 0 ? `; policies: ${countStates(answer.policies, 'none')}` : '';
  lines.push(`takeover ${answer.ok ? 'complete' : 'INCOMPLETE'}: ${countStates(answer.sas, 'no SAs')}${policies} in ${answer.elapsedMs} ms`);
  if (!answer.ok && answer.reason) lines.push(`reason: ${answer.reason}`);
  return `${lines.join('\n')}\n`;
}

function ageText(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

export function syncStatusText(answer: StatusAnswer<ReadU64>): string {
  // The peer's node name and software came off the network in its hello: escaped, so a hostile
  // peer cannot move the cursor, clear the screen or forge lines of this output.
  const peer = answer.peer ? `${oneLine(answer.peer.node)} (${oneLine(answer.peer.software)}, rthr ${answer.peer.rthr}, etime ${answer.peer.etimeMs} ms)` : 'none yet';
  const link = answer.link.connected ? 'connected' : `disconnected${answer.link.lastDisconnect ? ` (${answer.link.lastDisconnect})` : ''}`;
  const lines = [`mode ${answer.mode}, role ${answer.role}, peer ${peer}, stream ${link}`];
  for (const sa of answer.sas) {
    const local = sa.local;
    lines.push(
      `${sa.state.padEnd(8)} ${sa.sa} ${sa.dir ?? '?'} age ${ageText(sa.ageMs)} rate ${sa.ratePps}/s margin ${sa.margin}` +
        holeText(sa.dir, sa.inbound as InboundReport | undefined, 'a takeover now advances') +
        `\n\tsynced oseq ${show(sa.synced.oseq)} seq ${show(sa.synced.seq)} packets ${show(sa.synced.packets)}` +
        `\n\tlocal  oseq ${show(local?.oseq)} seq ${show(local?.seq)} packets ${show(local?.packets)}` +
        (sa.install ? `\n\treplica${installText(sa.install).slice(1)}${sa.offloaded ? '; offloaded on the peer: installed here without hardware offload' : ''}` : '') +
        (sa.notes.length > 0 ? `\n\t${notesText(sa.notes)}` : ''),
    );
  }
  for (const policy of answer.policies) {
    lines.push(`${policy.state.padEnd(8)} policy ${policy.policy}${policy.notes.length > 0 ? `\n\t${notesText(policy.notes)}` : ''}`);
  }
  const t = answer.totals;
  lines.push(
    `totals: records ${t.records}, updates ${t.updates}, applied ${t.applied}, write errors ${t.writeErrors}, stream errors ${t.streamErrors}, ` +
      `SAs over --max-sas ${t.sasRefused}, reconnects ${t.reconnects}, lost events ${t.lostEvents}, snapshots ${t.snapshots}, last snapshot ${t.lastSnapshotAt === null || t.lastSnapshotAt === undefined ? 'never' : new Date(Number(t.lastSnapshotAt)).toISOString()}`,
  );
  if (answer.replication.install) {
    lines.push(
      `replication: installed ${t.installedSas} SAs and ${t.installedPolicies} policies, removed ${t.removedSas} SAs and ${t.removedPolicies} policies, ` +
        `retired ${t.retiredSas} SAs, refused ${t.replicasRefused}, install errors ${t.installErrors}`,
    );
  } else if (answer.replication.peerReplicates.length > 0) {
    lines.push(`replication: the peer replicates ${answer.replication.peerReplicates.join(' and ')}; this receiver runs without --install and installs nothing`);
  }
  return `${lines.join('\n')}\n`;
}
