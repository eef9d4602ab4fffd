// The JSON record of an SA written straight from the kernel's bytes (an SaStateView), for
// `list`: the same text toJson(getRecord(ae)) gives, field for field and byte for byte (the
// record's shape is defined in record.ts; test/list-output.test.ts holds the two together),
// without building the record, the AeMessage or any bigint below 2^53.
import { familyName, formatAddressAt } from '../xfrm/address.js';
import type { SaStateView } from '../xfrm/sa-view.js';
import { timerMsFromThreshold } from '../xfrm/timer-units.js';
import { protoName } from './protocols.js';

function nameOrNumber(name: string | number | undefined, number: number): string {
  return name === undefined || typeof name === 'number' ? String(number) : `"${name}"`;
}

function markJson(view: SaStateView): string {
  return view.markAt < 0 ? 'null' : `{"value":${view.markValue},"mask":${view.markMask}}`;
}

function replayJson(view: SaStateView): string {
  if (view.replayAt < 0) return 'null';
  if (!view.esn) {
    return `{"kind":"legacy","seq":${view.replay('seq')},"oseq":${view.replay('oseq')},"bitmap":${view.legacyBitmap}}`;
  }
  let bitmap = '';
  for (let i = 0; i < view.bmpLen; i++) bitmap += i === 0 ? `${view.bitmapWord(i)}` : `,${view.bitmapWord(i)}`;
  return (
    `{"kind":"esn","seq":${view.replay('seq')},"seqHi":${view.seqHi},"oseq":${view.replay('oseq')},` +
    `"oseqHi":${view.oseqHi},"window":${view.replayWindow},"bitmap":[${bitmap}]}`
  );
}

function lifetimeJson(view: SaStateView): string {
  if (view.lifetimeAt < 0) return 'null';
  return (
    `{"bytes":${view.lifetime('bytes')},"packets":${view.lifetime('packets')},` +
    `"addTime":${view.lifetime('addTime')},"useTime":${view.lifetime('useTime')}}`
  );
}

function thresholdsJson(view: SaStateView): string {
  const replay = view.replayThresholdAt < 0 ? 'null' : String(view.replayThreshold);
  const timerMs = view.timerThresholdAt < 0 ? 'null' : String(timerMsFromThreshold(view.timerThreshold100ms));
  return `{"replay":${replay},"timerMs":${timerMs}}`;
}

/** toJson(saRecord(...)) of the SA a view shows, plus its thresholds unless counters-only. */
export function saRecordJson(view: SaStateView, withThresholds: boolean): string {
  const { buf, family } = view;
  const head =
    `{"src":"${formatAddressAt(buf, view.saddrAt, family)}","dst":"${formatAddressAt(buf, view.daddrAt, family)}",` +
    `"family":${nameOrNumber(familyName(family), family)},"proto":${nameOrNumber(protoName(view.proto), view.proto)},` +
    `"spi":${view.spi},"reqid":${view.reqid},"mark":${markJson(view)},"ifId":${view.ifIdAt < 0 ? 'null' : view.ifId},` +
    `"replay":${replayJson(view)},"lifetime":${lifetimeJson(view)}`;
  return withThresholds ? `${head},"thresholds":${thresholdsJson(view)}}` : `${head}}`;
}
