// The JSON record of an SA written straight from the kernel's bytes (an SaStateView) into the
// output buffer, for `list`: the same text toJson(getRecord(ae)) gives, field for field and
// byte for byte (the record's shape is defined in record.ts; test/list-output.test.ts holds
// the two together), without building the record, the AeMessage, or a string per value.
import { familyName, formatAddressAt } from '../xfrm/address.js';
import { AF_INET } from '../xfrm/constants.js';
import type { SaStateView } from '../xfrm/sa-view.js';
import { timerMsFromThreshold } from '../xfrm/timer-units.js';
import { AsciiOut } from './ascii-out.js';
import { protoName } from './protocols.js';

function address(out: AsciiOut, view: SaStateView, at: number): void {
  const { buf } = view;
  out.text('"');
  if (view.family === AF_INET) out.uint(buf[at]!).text('.').uint(buf[at + 1]!).text('.').uint(buf[at + 2]!).text('.').uint(buf[at + 3]!);
  else out.text(formatAddressAt(buf, at, view.family));
  out.text('"');
}

function nameOrNumber(out: AsciiOut, name: string | number | undefined, number: number): void {
  if (name === undefined || typeof name === 'number') out.uint(number);
  else out.text('"').text(name).text('"');
}

function replay(out: AsciiOut, view: SaStateView): void {
  if (view.replayAt < 0) {
    out.text('null');
  } else if (!view.esn) {
    out.text('{"kind":"legacy","seq":').uint(view.replay('seq')).text(',"oseq":').uint(view.replay('oseq'));
    out.text(',"bitmap":').uint(view.legacyBitmap).text('}');
  } else {
    out.text('{"kind":"esn","seq":').uint(view.replay('seq')).text(',"seqHi":').uint(view.seqHi);
    out.text(',"oseq":').uint(view.replay('oseq')).text(',"oseqHi":').uint(view.oseqHi);
    out.text(',"window":').uint(view.replayWindow).text(',"bitmap":[');
    for (let i = 0; i < view.bmpLen; i++) (i === 0 ? out : out.text(',')).uint(view.bitmapWord(i));
    out.text(']}');
  }
}

function lifetime(out: AsciiOut, view: SaStateView): void {
  if (view.lifetimeAt < 0) {
    out.text('null');
    return;
  }
  out.text('{"bytes":').u64(view.lifetime('bytes')).text(',"packets":').u64(view.lifetime('packets'));
  out.text(',"addTime":').u64(view.lifetime('addTime')).text(',"useTime":').u64(view.lifetime('useTime')).text('}');
}

function thresholds(out: AsciiOut, view: SaStateView): void {
  out.text(',"thresholds":{"replay":');
  if (view.replayThresholdAt < 0) out.text('null');
  else out.uint(view.replayThreshold);
  out.text(',"timerMs":');
  if (view.timerThresholdAt < 0) out.text('null');
  else out.uint(timerMsFromThreshold(view.timerThreshold100ms));
  out.text('}');
}

/** toJson(getRecord(...)) of the SA a view shows, or toJson(saRecord(...)) without thresholds. */
export function writeSaRecordJson(out: AsciiOut, view: SaStateView, withThresholds: boolean): void {
  out.text('{"src":');
  address(out, view, view.saddrAt);
  out.text(',"dst":');
  address(out, view, view.daddrAt);
  out.text(',"family":');
  nameOrNumber(out, familyName(view.family), view.family);
  out.text(',"proto":');
  nameOrNumber(out, protoName(view.proto), view.proto);
  out.text(',"spi":').uint(view.spi).text(',"reqid":').uint(view.reqid).text(',"mark":');
  if (view.markAt < 0) out.text('null');
  else out.text('{"value":').uint(view.markValue).text(',"mask":').uint(view.markMask).text('}');
  out.text(',"ifId":');
  if (view.ifIdAt < 0) out.text('null');
  else out.uint(view.ifId);
  out.text(',"replay":');
  replay(out, view);
  out.text(',"lifetime":');
  lifetime(out, view);
  if (withThresholds) thresholds(out, view);
  out.text('}');
}

/** The same as a string (tests, and anything that wants one record). */
export function saRecordJson(view: SaStateView, withThresholds: boolean): string {
  let text = '';
  const out = new AsciiOut((bytes) => (text += bytes.toString('latin1')));
  out.startRecord();
  writeSaRecordJson(out, view, withThresholds);
  out.flushNow();
  return text;
}
