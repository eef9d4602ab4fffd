// The JSON record of an SA written straight from the kernel's bytes (an SaStateView) into the
// output buffer, for `list`: the same text toJson(getRecord(ae)) gives, field for field and
// byte for byte (the record's shape is defined in record.ts; test/list-output.test.ts holds
// the two together), without building the record, the AeMessage, or a string per value.
import { familyName } from '../xfrm/address.js';
import type { SaStateView } from '../xfrm/sa-view.js';
import { timerMsFromThreshold } from '../xfrm/timer-units.js';
import { AsciiOut, asciiPiece } from './ascii-out.js';
import { protoName } from './protocols.js';
import { writeAddress } from './sa-text.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
/** The record's fixed text, encoded once (ascii-out.ts). */
const K = {
  null: asciiPiece('null'),
  closeBrace: asciiPiece('}'),
  legacySeq: asciiPiece('{"kind":"legacy","seq":'),
  esnSeq: asciiPiece('{"kind":"esn","seq":'),
  seqHi: asciiPiece(',"seqHi":'),
  oseq: asciiPiece(',"oseq":'),
  oseqHi: asciiPiece(',"oseqHi":'),
  window: asciiPiece(',"window":'),
  bitmap: asciiPiece(',"bitmap":'),
  bitmapOpen: asciiPiece(',"bitmap":['),
  bitmapClose: asciiPiece(']}'),
  bytes: asciiPiece('{"bytes":'),
  packets: asciiPiece(',"packets":'),
  addTime: asciiPiece(',"addTime":'),
  useTime: asciiPiece(',"useTime":'),
  thresholdReplay: asciiPiece(',"thresholds":{"replay":'),
  timerMs: asciiPiece(',"timerMs":'),
  src: asciiPiece('{"src":'),
  dst: asciiPiece(',"dst":'),
  family: asciiPiece(',"family":'),
  proto: asciiPiece(',"proto":'),
  spi: asciiPiece(',"spi":'),
  reqid: asciiPiece(',"reqid":'),
  mark: asciiPiece(',"mark":'),
  markValue: asciiPiece('{"value":'),
  markMask: asciiPiece(',"mask":'),
  ifId: asciiPiece(',"ifId":'),
  replay: asciiPiece(',"replay":'),
  lifetime: asciiPiece(',"lifetime":'),
};

function address(out: AsciiOut, view: SaStateView, at: number): void {
  out.char(QUOTE);
  writeAddress(out, view, at);
  out.char(QUOTE);
}

function nameOrNumber(out: AsciiOut, name: string | number | undefined, number: number): void {
  if (name === undefined || typeof name === 'number') out.uint(number);
  else out.char(QUOTE).text(name).char(QUOTE);
}

function replay(out: AsciiOut, view: SaStateView): void {
  if (view.replayAt < 0) {
    out.piece(K.null);
  } else if (!view.esn) {
    out.piece(K.legacySeq).uint(view.replay('seq')).piece(K.oseq).uint(view.replay('oseq'));
    out.piece(K.bitmap).uint(view.legacyBitmap).piece(K.closeBrace);
  } else {
    out.piece(K.esnSeq).uint(view.replay('seq')).piece(K.seqHi).uint(view.seqHi);
    out.piece(K.oseq).uint(view.replay('oseq')).piece(K.oseqHi).uint(view.oseqHi);
    out.piece(K.window).uint(view.replayWindow).piece(K.bitmapOpen);
    for (let i = 0; i < view.bmpLen; i++) (i === 0 ? out : out.char(COMMA)).uint(view.bitmapWord(i));
    out.piece(K.bitmapClose);
  }
}

function lifetime(out: AsciiOut, view: SaStateView): void {
  if (view.lifetimeAt < 0) {
    out.piece(K.null);
    return;
  }
  out.piece(K.bytes).u64(view.lifetime('bytes')).piece(K.packets).u64(view.lifetime('packets'));
  out.piece(K.addTime).u64(view.lifetime('addTime')).piece(K.useTime).u64(view.lifetime('useTime')).piece(K.closeBrace);
}

function thresholds(out: AsciiOut, view: SaStateView): void {
  out.piece(K.thresholdReplay);
  if (view.replayThresholdAt < 0) out.piece(K.null);
  else out.uint(view.replayThreshold);
  out.piece(K.timerMs);
  if (view.timerThresholdAt < 0) out.piece(K.null);
  else out.uint(timerMsFromThreshold(view.timerThreshold100ms));
  out.piece(K.closeBrace);
}

/** toJson(getRecord(...)) of the SA a view shows, or toJson(saRecord(...)) without thresholds. */
export function writeSaRecordJson(out: AsciiOut, view: SaStateView, withThresholds: boolean): void {
  out.piece(K.src);
  address(out, view, view.saddrAt);
  out.piece(K.dst);
  address(out, view, view.daddrAt);
  out.piece(K.family);
  nameOrNumber(out, familyName(view.family), view.family);
  out.piece(K.proto);
  nameOrNumber(out, protoName(view.proto), view.proto);
  out.piece(K.spi).uint(view.spi).piece(K.reqid).uint(view.reqid).piece(K.mark);
  if (view.markAt < 0) out.piece(K.null);
  else out.piece(K.markValue).uint(view.markValue).piece(K.markMask).uint(view.markMask).piece(K.closeBrace);
  out.piece(K.ifId);
  if (view.ifIdAt < 0) out.piece(K.null);
  else out.uint(view.ifId);
  out.piece(K.replay);
  replay(out, view);
  out.piece(K.lifetime);
  lifetime(out, view);
  if (withThresholds) thresholds(out, view);
  out.piece(K.closeBrace);
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
