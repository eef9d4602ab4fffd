// The JSON object xaev prints for an SA's aevent state (`get -j`, `list -j`, `monitor -j`)
// and that `sync` streams between nodes. Its shape is the stable contract documented in the
// README and in docs/sync-stream.schema.json: change it only together with both.
import type { AeMessage } from './aevent.js';
import { familyName, formatAddress } from './address.js';
import { jsonU64, type JsonU64 } from './json.js';
import { protoName, type ProtoName } from './protocols.js';
import { timerMsFromThreshold } from './timer-units.js';
import type { LifetimeCurrent, ReplayState } from './structs.js';

export { protoName, type ProtoName };

export type ReplayJson =
  | { kind: 'legacy'; seq: number; oseq: number; bitmap: number }
  | { kind: 'esn'; seq: number; seqHi: number; oseq: number; oseqHi: number; window: number; bitmap: number[] };

export interface SaRecord {
  src: string;
  dst: string;
  family: 'inet' | 'inet6' | number;
  proto: ProtoName | number;
  spi: number;
  reqid: number;
  mark: { value: number; mask: number } | null;
  ifId: number | null;
  replay: ReplayJson | null;
  lifetime: { bytes: JsonU64; packets: JsonU64; addTime: JsonU64; useTime: JsonU64 } | null;
}

export interface GetRecord extends SaRecord {
  thresholds: { replay: number | null; timerMs: number | null };
}

function replayJson(replay: ReplayState | undefined): ReplayJson | null {
  if (!replay) return null;
  if (replay.kind === 'legacy') return { kind: 'legacy', seq: replay.seq, oseq: replay.oseq, bitmap: replay.bitmap };
  return {
    kind: 'esn',
    seq: replay.seq,
    seqHi: replay.seqHi,
    oseq: replay.oseq,
    oseqHi: replay.oseqHi,
    window: replay.replayWindow,
    bitmap: replay.bitmap,
  };
}

function lifetimeJson(lifetime: LifetimeCurrent | undefined): SaRecord['lifetime'] {
  if (!lifetime) return null;
  return {
    bytes: jsonU64(lifetime.bytes),
    packets: jsonU64(lifetime.packets),
    addTime: jsonU64(lifetime.addTime),
    useTime: jsonU64(lifetime.useTime),
  };
}

export function saRecord(ae: AeMessage): SaRecord {
  const { saId, saddr, reqid } = ae.id;
  return {
    src: formatAddress(saddr, saId.family),
    dst: formatAddress(saId.daddr, saId.family),
    family: familyName(saId.family) ?? saId.family,
    proto: protoName(saId.proto),
    spi: saId.spi,
    reqid,
    mark: ae.mark ? { value: ae.mark.value, mask: ae.mark.mask } : null,
    ifId: ae.ifId ?? null,
    replay: replayJson(ae.replay),
    lifetime: lifetimeJson(ae.lifetime),
  };
}

export function getRecord(ae: AeMessage): GetRecord {
  // Added to the SA record in place rather than spread into a copy: `list` builds one per SA.
  const record = saRecord(ae) as GetRecord;
  record.thresholds = {
    replay: ae.replayThreshold ?? null,
    timerMs: ae.timerThreshold100ms === undefined ? null : timerMsFromThreshold(ae.timerThreshold100ms),
  };
  return record;
}
