// Event records for `monitor -j`: the SA record (src/xfrm/sa-record.ts, shared with `get -j`
// and `sync`) with the event's cause in front.
import type { AeMessage } from '../xfrm/aevent.js';
import { XFRM_AE_CE, XFRM_AE_CR, XFRM_AE_CU } from '../xfrm/constants.js';
import { saRecord, type SaRecord } from '../xfrm/sa-record.js';

export { getRecord, protoName, saRecord, type GetRecord, type ProtoName, type ReplayJson, type SaRecord } from '../xfrm/sa-record.js';

export type EventName = 'replay' | 'timer' | 'update' | 'unknown';

export interface EventRecord extends SaRecord {
  event: EventName;
  flags: number;
  timestamp?: string;
}

export function eventName(flags: number): EventName {
  if (flags & XFRM_AE_CR) return 'replay';
  if (flags & XFRM_AE_CE) return 'timer';
  if (flags & XFRM_AE_CU) return 'update';
  return 'unknown';
}

export function eventRecord(ae: AeMessage, timestamp?: string): EventRecord {
  const record: EventRecord = { event: eventName(ae.id.flags), flags: ae.id.flags, ...saRecord(ae) };
  if (timestamp !== undefined) record.timestamp = timestamp;
  return record;
}
