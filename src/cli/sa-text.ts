// The `ip`-style text block of an SA written straight from the kernel's bytes (an
// SaStateView) into the output buffer, for `list` without colour: the same text as
// saStateText() in text.ts, byte for byte (test/list-output.test.ts holds the two together).
// With colour, list goes through saStateText itself.
import { formatAddressAt } from '../xfrm/address.js';
import { AF_INET } from '../xfrm/constants.js';
import type { SaStateView } from '../xfrm/sa-view.js';
import { timerMsFromThreshold } from '../xfrm/timer-units.js';
import { AsciiOut, asciiPiece } from './ascii-out.js';
import { protoName } from '../xfrm/protocols.js';
import { formatUnixTime } from './text.js';

/** Bitmap words per line, as ip prints them. */
const WORDS_PER_LINE = 8;

/**
 * formatUnixTime of the value asked last, one per field: neighbouring SAs were mostly added in
 * the same second, and an unused SA's use time is 0 ("-").
 */
class UnixTimeText {
  private seconds = -1;
  private text = '';

  of(value: number | bigint): string {
    if (typeof value === 'bigint') return formatUnixTime(value);
    if (value !== this.seconds) {
      this.text = formatUnixTime(BigInt(value));
      this.seconds = value;
    }
    return this.text;
  }
}
const addTimeText = new UnixTimeText();
const useTimeText = new UnixTimeText();

const NEWLINE = 0x0a;
const TAB = 0x09;
const SPACE = 0x20;
const SLASH = 0x2f;
/** The block's fixed text, encoded once (ascii-out.ts). */
const K = {
  noReplay: asciiPiece('\tanti-replay context: (none reported)\n'),
  legacySeq: asciiPiece('\tanti-replay context: seq '),
  oseq: asciiPiece(', oseq '),
  bitmap: asciiPiece(', bitmap 0x'),
  esnSeqHi: asciiPiece('\tanti-replay esn context:\n\t seq-hi '),
  seq: asciiPiece(', seq '),
  oseqHi: asciiPiece(', oseq-hi '),
  window: asciiPiece('\t replay_window '),
  bitmapLength: asciiPiece(', bitmap-length '),
  bitmapIndent: asciiPiece('\t '),
  noLifetime: asciiPiece('\tlifetime current: (none reported)\n'),
  lifetime: asciiPiece('\tlifetime current:\n\t  '),
  bytes: asciiPiece('(bytes), '),
  packets: asciiPiece('(packets)\n'),
  add: asciiPiece('\t  add '),
  use: asciiPiece(' use '),
  thresholds: asciiPiece('\taevent thresholds: replay '),
  unknown: asciiPiece('?'),
  packetsUnit: asciiPiece(' packets'),
  timer: asciiPiece(', timer '),
  ms: asciiPiece(' ms'),
  src: asciiPiece('src '),
  dst: asciiPiece(' dst '),
  proto: asciiPiece('\n\tproto '),
  spi: asciiPiece(' spi 0x'),
  reqid: asciiPiece(' reqid '),
  mark: asciiPiece('mark '),
  ifId: asciiPiece('if_id '),
};

function replayLines(out: AsciiOut, view: SaStateView, showBitmap: boolean): void {
  if (view.replayAt < 0) {
    out.piece(K.noReplay);
    return;
  }
  if (!view.esn) {
    out.piece(K.legacySeq).hex(view.replay('seq')).piece(K.oseq).hex(view.replay('oseq'));
    out.piece(K.bitmap).hex8(view.legacyBitmap).char(NEWLINE);
    return;
  }
  out.piece(K.esnSeqHi).hex(view.seqHi).piece(K.seq).hex(view.replay('seq'));
  out.piece(K.oseqHi).hex(view.oseqHi).piece(K.oseq).hex(view.replay('oseq')).char(NEWLINE);
  out.piece(K.window).uint(view.replayWindow).piece(K.bitmapLength).uint(view.bmpLen).char(NEWLINE);
  if (!showBitmap) return;
  for (let high = view.bmpLen; high > 0; high -= WORDS_PER_LINE) {
    out.piece(K.bitmapIndent);
    for (let i = high - 1; i >= Math.max(0, high - WORDS_PER_LINE); i--) out.hex8(view.bitmapWord(i)).char(SPACE);
    out.char(NEWLINE);
  }
}

function lifetimeLines(out: AsciiOut, view: SaStateView): void {
  if (view.lifetimeAt < 0) {
    out.piece(K.noLifetime);
    return;
  }
  out.piece(K.lifetime).u64(view.lifetime('bytes')).piece(K.bytes).u64(view.lifetime('packets')).piece(K.packets);
  out.piece(K.add).text(addTimeText.of(view.lifetime('addTime'))).piece(K.use).text(useTimeText.of(view.lifetime('useTime'))).char(NEWLINE);
}

function thresholdsLine(out: AsciiOut, view: SaStateView): void {
  out.piece(K.thresholds);
  if (view.replayThresholdAt < 0) out.piece(K.unknown);
  else out.uint(view.replayThreshold).piece(K.packetsUnit);
  out.piece(K.timer);
  if (view.timerThresholdAt < 0) out.piece(K.unknown);
  else out.uint(timerMsFromThreshold(view.timerThreshold100ms)).piece(K.ms);
  out.char(NEWLINE);
}

/** An address as formatAddressAt() prints it; IPv4 digit by digit, without a string (also for sa-json.ts). */
export function writeAddress(out: AsciiOut, view: SaStateView, at: number): void {
  const { buf } = view;
  if (view.family === AF_INET) out.ipv4(buf, at);
  else out.text(formatAddressAt(buf, at, view.family));
}

/** saStateText() of the SA a view shows, uncoloured; without the thresholds line for counters-only. */
export function writeSaStateText(out: AsciiOut, view: SaStateView, showBitmap: boolean, withThresholds: boolean): void {
  out.piece(K.src);
  writeAddress(out, view, view.saddrAt);
  out.piece(K.dst);
  writeAddress(out, view, view.daddrAt);
  const proto = protoName(view.proto);
  out.piece(K.proto).text(typeof proto === 'number' ? String(proto) : proto);
  out.piece(K.spi).hex8(view.spi).piece(K.reqid).uint(view.reqid).char(NEWLINE);
  if (view.markAt >= 0 || view.ifIdAt >= 0) {
    out.char(TAB);
    if (view.markAt >= 0) out.piece(K.mark).hex(view.markValue).char(SLASH).hex(view.markMask);
    if (view.markAt >= 0 && view.ifIdAt >= 0) out.char(SPACE);
    if (view.ifIdAt >= 0) out.piece(K.ifId).hex(view.ifId);
    out.char(NEWLINE);
  }
  replayLines(out, view, showBitmap);
  lifetimeLines(out, view);
  if (withThresholds) thresholdsLine(out, view);
}

/** The same as a string (tests). */
export function saStateTextOf(view: SaStateView, showBitmap: boolean, withThresholds: boolean): string {
  let text = '';
  const out = new AsciiOut((bytes) => (text += bytes.toString('latin1')));
  out.startRecord();
  writeSaStateText(out, view, showBitmap, withThresholds);
  out.flushNow();
  return text;
}
