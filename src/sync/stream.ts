// The sync stream: newline-delimited JSON that `sync send` writes and `sync receive` reads.
// Every SA-carrying record is the `get -j` SA object (src/xfrm/sa-record.ts) plus a few
// fields. The format is documented in docs/sync.md and docs/sync-stream.schema.json; the
// decoder (stream-decode.ts) checks exactly the rules of that schema.
import type { AeMessage } from '../xfrm/aevent.js';
import type { AeventCause } from '../xfrm/events.js';
import { toJson } from '../xfrm/json.js';
import { getRecord, saRecord, type GetRecord } from '../xfrm/sa-record.js';
import type { LifetimeCurrent, Mark, ReplayState } from '../xfrm/structs.js';

/** Bumped for any change an older receiver would misread; receivers refuse other versions. */
export const STREAM_VERSION = 1;
/** Longest sync stream line a receiver accepts: an ESN SA with a 4096-bit window is about 1.6 KiB. */
export const MAX_STREAM_LINE_BYTES = 64 * 1024;
/** The sender writes a heartbeat this often, so a receiver can tell a dead stream from a quiet one. */
export const HEARTBEAT_INTERVAL_MS = 1000;

export type Direction = 'in' | 'out';
/** replay/timer/update: the aevent's cause (XFRM_AE_CR/CE/CU); added: an SA that appeared or was rekeyed. */
export type UpdateCause = 'replay' | 'timer' | 'update' | 'added';
export type LostReason = 'overrun' | 'truncated';

export interface HelloRecord {
  type: 'hello';
  version: number;
  node: string;
  software: string;
  /** The sender kernel's HZ, when known (for reading its timer thresholds). */
  hz: number | null;
  /** The thresholds the sender sets on every SA it replicates. */
  rthr: number;
  etimeMs: number;
  time: number;
}

/** The decoded form: counters in xaev's own types, u64 as bigint, address text canonical. */
export interface StreamSa {
  key: string;
  family: 'inet' | 'inet6';
  src: string;
  dst: string;
  proto: 'esp' | 'ah';
  spi: number;
  reqid: number;
  mark: Mark | null;
  ifId: number | null;
  dir: Direction | null;
  replay: ReplayState | null;
  lifetime: LifetimeCurrent | null;
  /** Sender's clock, ms since the epoch. */
  time: number;
}

export type StreamRecord =
  | HelloRecord
  | { type: 'snapshot-begin'; snapshot: number; time: number }
  | { type: 'sa'; snapshot: number; sa: StreamSa }
  | { type: 'snapshot-end'; snapshot: number; count: number; time: number }
  | { type: 'update'; cause: UpdateCause; sa: StreamSa }
  | { type: 'gone'; sa: Pick<StreamSa, 'key' | 'family' | 'dst' | 'spi' | 'proto' | 'mark'>; time: number }
  | { type: 'lost'; count: number | null; reason: LostReason; time: number }
  | { type: 'heartbeat'; time: number };

/** The per-SA identity both nodes share: family, destination, SPI, protocol and mark. */
export function saKey(family: string, dst: string, spi: number, proto: string, mark: Mark | null): string {
  const spiHex = `0x${spi.toString(16).padStart(8, '0')}`;
  return `${family} ${dst} ${spiHex} ${proto}${mark ? ` mark 0x${mark.value.toString(16)}/0x${mark.mask.toString(16)}` : ''}`;
}

function directionName(direction: number | undefined): Direction | null {
  // XFRMA_SA_DIR (6.10+): 1 in, 2 out; docs/kernel/versions.md.
  if (direction === 1) return 'in';
  if (direction === 2) return 'out';
  return null;
}

export function encodeHello(hello: Omit<HelloRecord, 'type' | 'version'>): string {
  return `${toJson({ type: 'hello', version: STREAM_VERSION, ...hello })}\n`;
}

export function encodeSnapshotBegin(snapshot: number, time: number): string {
  return `${toJson({ type: 'snapshot-begin', snapshot, time })}\n`;
}

export function encodeSnapshotSa(snapshot: number, ae: AeMessage, time: number): string {
  const record: GetRecord = getRecord(ae);
  return `${toJson({ type: 'sa', snapshot, time, dir: directionName(ae.direction), ...record })}\n`;
}

export function encodeSnapshotEnd(snapshot: number, count: number, time: number): string {
  return `${toJson({ type: 'snapshot-end', snapshot, count, time })}\n`;
}

/** `cause` as aeventCause() names it; an event with no cause bit, which the stream cannot name, goes out as update. */
export function encodeUpdate(cause: UpdateCause | AeventCause, ae: AeMessage, time: number): string {
  const named: UpdateCause = cause === 'unknown' ? 'update' : cause;
  return `${toJson({ type: 'update', cause: named, time, dir: directionName(ae.direction), ...saRecord(ae) })}\n`;
}

export function encodeGone(sa: { family: string; dst: string; spi: number; proto: string; mark: Mark | null }, time: number): string {
  return `${toJson({ type: 'gone', time, family: sa.family, dst: sa.dst, spi: sa.spi, proto: sa.proto, mark: sa.mark })}\n`;
}

export function encodeLost(count: number | null, reason: LostReason, time: number): string {
  return `${toJson({ type: 'lost', count, reason, time })}\n`;
}

export function encodeHeartbeat(time: number): string {
  return `${toJson({ type: 'heartbeat', time })}\n`;
}
