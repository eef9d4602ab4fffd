// Event records for `monitor -j`: the SA record (src/xfrm/sa-record.ts, shared with `get -j`
// and `sync`) with the event's cause in front.
import type { AeMessage } from '../xfrm/aevent.js';
import { aeventCause, type AeventCause } from '../xfrm/events.js';
import { saRecord, type SaRecord } from '../xfrm/sa-record.js';

export { getRecord, protoName, saRecord, type GetRecord, type ProtoName, type ReplayJson, type SaRecord } from '../xfrm/sa-record.js';

export type EventName = AeventCause;

export interface EventRecord extends SaRecord {
  event: EventName;
  flags: number;
  timestamp?: string;
}

export function eventRecord(ae: AeMessage, timestamp?: string): EventRecord {
  const record: EventRecord = { event: aeventCause(ae.id.flags), flags: ae.id.flags, ...saRecord(ae) };
  if (timestamp !== undefined) record.timestamp = timestamp;
  return record;
}
