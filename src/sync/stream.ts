// The sync stream: newline-delimited JSON that `sync send` writes and `sync receive` reads.
// Every SA-carrying record is the `get -j` SA object (src/xfrm/sa-record.ts) plus a few
// fields; with replication, an SA's record also carries its configuration and keys, and
// policies have records of their own (stream-replica.ts). The format is documented in
// docs/sync.md and docs/sync-stream.schema.json; the decoder (stream-decode.ts) checks
// exactly the rules of that schema.
import type { AeMessage } from '../xfrm/aevent.js';
import type { AeventCause } from '../xfrm/events.js';
import { toJson } from '../xfrm/json.js';
import { getRecord, saRecord, type GetRecord } from '../xfrm/sa-record.js';
import type { XfrmPolicy } from '../xfrm/policy-message.js';
import type { XfrmSa } from '../xfrm/sa-message.js';
import type { LifetimeCurrent, Mark, ReplayState } from '../xfrm/structs.js';
import { policyIdentityJson, policyJson, saConfigJson } from './stream-replica.js';

/**
 * Bumped for any change an older receiver would misread; receivers refuse versions they do
 * not know. A sender writes the lowest version that describes its records: 1 for counters
 * alone, 2 when it replicates SAs or policies (docs/sync.md, "Versions").
 */
export const STREAM_VERSION = 2;
/** The versions this xaev reads. */
export const READABLE_STREAM_VERSIONS: readonly number[] = [1, 2];
/** The version of a stream that carries counters only. */
export const COUNTERS_STREAM_VERSION = 1;
/** Longest sync stream line a receiver accepts: an ESN SA with a 4096-bit window is about 1.6 KiB. */
export const MAX_STREAM_LINE_BYTES = 64 * 1024;
/** The sender writes a heartbeat this often, so a receiver can tell a dead stream from a quiet one. */
export const HEARTBEAT_INTERVAL_MS = 1000;

export type Direction = 'in' | 'out';
/** replay/timer/update: the aevent's cause (XFRM_AE_CR/CE/CU); added: an SA that appeared or was rekeyed. */
export type UpdateCause = 'replay' | 'timer' | 'update' | 'added';
export type LostReason = 'overrun' | 'truncated';
/** What a sender replicates besides counters (`sync send --replicate`). */
export type Replicated = 'sas' | 'policies';
export const REPLICATED: readonly Replicated[] = ['sas', 'policies'];

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
  /** What the sender replicates besides counters (version 2; empty for a counters-only stream). */
  replicate: Replicated[];
  time: number;
}

/**
 * What an SA's record carries for replication: its configuration, keys included (an SA the
 * standby lacks can be installed from it), or why the sender could not replicate it.
 */
export type SaReplica = { config: XfrmSa } | { notReplicated: string };

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

/** A replicated policy and its shared name (stream-replica.ts: policyName()). */
export interface StreamPolicy {
  name: string;
  policy: XfrmPolicy;
  /** Sender's clock, ms since the epoch. */
  time: number;
}

export type StreamRecord =
  | HelloRecord
  | { type: 'snapshot-begin'; snapshot: number; time: number }
  | { type: 'sa'; snapshot: number; sa: StreamSa; replica: SaReplica | undefined }
  | { type: 'snapshot-end'; snapshot: number; count: number; policies: number | undefined; time: number }
  | { type: 'update'; cause: UpdateCause; sa: StreamSa; replica: SaReplica | undefined }
  | { type: 'policy'; snapshot: number | undefined; policy: StreamPolicy }
  | { type: 'policy-gone'; policy: StreamPolicy }
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

/** The hello; version 1 (no `replicate`) unless it replicates something. */
export function encodeHello(hello: Omit<HelloRecord, 'type' | 'version' | 'replicate'> & { replicate?: Replicated[] }): string {
  const { replicate = [], ...rest } = hello;
  const fields = replicate.length > 0 ? { version: STREAM_VERSION, ...rest, replicate } : { version: COUNTERS_STREAM_VERSION, ...rest };
  return `${toJson({ type: 'hello', ...fields })}\n`;
}

/** A record's replication part: the SA's configuration, or why it is not replicated. */
export type ReplicaSource = XfrmSa | { notReplicated: string } | undefined;

function replicaFields(replica: ReplicaSource): Record<string, unknown> {
  if (replica === undefined) return {};
  if ('notReplicated' in replica) return { notReplicated: replica.notReplicated };
  return { config: saConfigJson(replica) };
}

export function encodeSnapshotBegin(snapshot: number, time: number): string {
  return `${toJson({ type: 'snapshot-begin', snapshot, time })}\n`;
}

export function encodeSnapshotSa(snapshot: number, ae: AeMessage, time: number, replica?: ReplicaSource): string {
  const record: GetRecord = getRecord(ae);
  return `${toJson({ type: 'sa', snapshot, time, dir: directionName(ae.direction), ...record, ...replicaFields(replica) })}\n`;
}

/** `policies`: how many policy records the snapshot held (replicating streams only). */
export function encodeSnapshotEnd(snapshot: number, count: number, time: number, policies?: number): string {
  return `${toJson({ type: 'snapshot-end', snapshot, count, ...(policies === undefined ? {} : { policies }), time })}\n`;
}

/** A policy as a snapshot holds it (`snapshot` set) or as it changed. */
export function encodePolicy(snapshot: number | undefined, policy: XfrmPolicy, time: number): string {
  return `${toJson({ type: 'policy', ...(snapshot === undefined ? {} : { snapshot }), time, ...policyJson(policy) })}\n`;
}

export function encodePolicyGone(policy: XfrmPolicy, time: number): string {
  return `${toJson({ type: 'policy-gone', time, ...policyIdentityJson(policy) })}\n`;
}

/** `cause` as aeventCause() names it; an event with no cause bit, which the stream cannot name, goes out as update. */
export function encodeUpdate(cause: UpdateCause | AeventCause, ae: AeMessage, time: number, replica?: ReplicaSource): string {
  const named: UpdateCause = cause === 'unknown' ? 'update' : cause;
  return `${toJson({ type: 'update', cause: named, time, dir: directionName(ae.direction), ...saRecord(ae), ...replicaFields(replica) })}\n`;
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
