// The JSON record of an SA written straight from the kernel's bytes (an SaStateView) into the
// output buffer, for `list`: the same text toJson(getRecord(ae)) gives, field for field and
// byte for byte (the record's shape is defined in record.ts; test/list-output.test.ts holds
// the two together), without building the record, the AeMessage, or a string per value.
import { familyName } from '../xfrm/address.js';
import { AF_INET, AF_INET6 } from '../xfrm/constants.js';
import type { SaStateView } from '../xfrm/sa-view.js';
import { timerMsFromThreshold } from '../xfrm/timer-units.js';
import { AsciiOut, asciiPiece, type AsciiPiece } from './ascii-out.js';
import { PROTO_NAMES, protoName, protoNumber } from '../xfrm/protocols.js';
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
  // The usual runs of fixed text, one piece each: fewer calls per SA before V8 optimises them.
  noMarkNoIfIdReplay: asciiPiece(',"mark":null,"ifId":null,"replay":'),
  lifetimeBytes: asciiPiece(',"lifetime":{"bytes":'),
  lifetimeNull: asciiPiece(',"lifetime":null'),
};

/** The quoted JSON name of each family and protocol that has one, encoded once. */
function quotedNames(numbers: number[], name: (n: number) => string | number | undefined): Map<number, AsciiPiece> {
  const quoted = new Map<number, AsciiPiece>();
  for (const n of numbers) {
    const text = name(n);
    if (typeof text === 'string') quoted.set(n, asciiPiece(JSON.stringify(text)));
  }
  return quoted;
}
const FAMILY_NAMES = quotedNames([AF_INET, AF_INET6], familyName);
const PROTO_NAME_PIECES = quotedNames(
  PROTO_NAMES.map((name) => protoNumber(name)!),
  protoName,
);

function address(out: AsciiOut, view: SaStateView, at: number): void {
  out.char(QUOTE);
  writeAddress(out, view, at);
  out.char(QUOTE);
}

function nameOrNumber(out: AsciiOut, names: Map<number, AsciiPiece>, number: number): void {
  const name = names.get(number);
  if (name === undefined) out.uint(number);
  else out.piece(name);
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

/** The lifetime key and value. */
function lifetime(out: AsciiOut, view: SaStateView): void {
  if (view.lifetimeAt < 0) {
    out.piece(K.lifetimeNull);
    return;
  }
  out.piece(K.lifetimeBytes).u64(view.lifetime('bytes')).piece(K.packets).u64(view.lifetime('packets'));
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
  nameOrNumber(out, FAMILY_NAMES, view.family);
  out.piece(K.proto);
  nameOrNumber(out, PROTO_NAME_PIECES, view.proto);
  out.piece(K.spi).uint(view.spi).piece(K.reqid).uint(view.reqid);
  if (view.markAt < 0 && view.ifIdAt < 0) {
    out.piece(K.noMarkNoIfIdReplay);
  } else {
    out.piece(K.mark);
    if (view.markAt < 0) out.piece(K.null);
    else out.piece(K.markValue).uint(view.markValue).piece(K.markMask).uint(view.markMask).piece(K.closeBrace);
    out.piece(K.ifId);
    if (view.ifIdAt < 0) out.piece(K.null);
    else out.uint(view.ifId);
    out.piece(K.replay);
  }
  replay(out, view);
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
