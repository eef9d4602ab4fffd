// Event records for `monitor -j`: the SA record (src/xfrm/sa-record.ts, shared with `get -j`
// and `sync`) with the event's cause in front, and the shapes JSON consumers read back.
import type { AeMessage } from '../xfrm/aevent.js';
import { aeventCause, type AeventCause } from '../xfrm/events.js';
import type { JsonU64 } from '../xfrm/json.js';
import { saRecord, type GetRecord, type SaRecord } from '../xfrm/sa-record.js';

export type EventName = AeventCause;

export interface EventRecord extends SaRecord {
  event: EventName;
  flags: number;
  timestamp?: string;
}

/** What a JSON consumer reads back: every u64 a plain number (exact up to 2^53). */
export type Parsed<T> = T extends JsonU64 ? number : T extends object ? { [K in keyof T]: Parsed<T[K]> } : T;

/** One element of `xaev -j list`, or the object of `xaev -j get`/`set`, as JSON.parse returns it. */
export type GetRecordJson = Parsed<GetRecord>;

/** One line of `xaev -j monitor`, as JSON.parse returns it. */
export type EventRecordJson = Parsed<EventRecord>;

export function eventRecord(ae: AeMessage, timestamp?: string): EventRecord {
  const record: EventRecord = { event: aeventCause(ae.id.flags), flags: ae.id.flags, ...saRecord(ae) };
  if (timestamp !== undefined) record.timestamp = timestamp;
  return record;
}
