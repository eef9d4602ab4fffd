// The `ip`-style text block of an SA written straight from the kernel's bytes (an
// SaStateView) into the output buffer, for `list` without colour: the same text as
// saStateText() in text.ts, byte for byte (test/list-output.test.ts holds the two together).
// With colour, list goes through saStateText itself.
import { formatAddressAt } from '../xfrm/address.js';
import type { SaStateView } from '../xfrm/sa-view.js';
import { timerMsFromThreshold } from '../xfrm/timer-units.js';
import { AsciiOut } from './ascii-out.js';
import { protoName } from './protocols.js';
import { formatUnixTime } from './text.js';

/** Bitmap words per line, as ip prints them. */
const WORDS_PER_LINE = 8;

/** formatUnixTime for the last value asked: neighbouring SAs were mostly added in the same second. */
let lastSeconds = -1;
let lastText = '';
function unixTime(value: number | bigint): string {
  if (typeof value === 'bigint') return formatUnixTime(value);
  if (value !== lastSeconds) {
    lastText = formatUnixTime(BigInt(value));
    lastSeconds = value;
  }
  return lastText;
}

function replayLines(out: AsciiOut, view: SaStateView, showBitmap: boolean): void {
  if (view.replayAt < 0) {
    out.text('\tanti-replay context: (none reported)\n');
    return;
  }
  if (!view.esn) {
    out.text('\tanti-replay context: seq ').hex(view.replay('seq')).text(', oseq ').hex(view.replay('oseq'));
    out.text(', bitmap 0x').hex8(view.legacyBitmap).text('\n');
    return;
  }
  out.text('\tanti-replay esn context:\n\t seq-hi ').hex(view.seqHi).text(', seq ').hex(view.replay('seq'));
  out.text(', oseq-hi ').hex(view.oseqHi).text(', oseq ').hex(view.replay('oseq')).text('\n');
  out.text('\t replay_window ').uint(view.replayWindow).text(', bitmap-length ').uint(view.bmpLen).text('\n');
  if (!showBitmap) return;
  for (let high = view.bmpLen; high > 0; high -= WORDS_PER_LINE) {
    out.text('\t ');
    for (let i = high - 1; i >= Math.max(0, high - WORDS_PER_LINE); i--) out.hex8(view.bitmapWord(i)).text(' ');
    out.text('\n');
  }
}

function lifetimeLines(out: AsciiOut, view: SaStateView): void {
  if (view.lifetimeAt < 0) {
    out.text('\tlifetime current: (none reported)\n');
    return;
  }
  out.text('\tlifetime current:\n\t  ').u64(view.lifetime('bytes')).text('(bytes), ').u64(view.lifetime('packets')).text('(packets)\n');
  out.text('\t  add ').text(unixTime(view.lifetime('addTime'))).text(' use ').text(unixTime(view.lifetime('useTime'))).text('\n');
}

function thresholdsLine(out: AsciiOut, view: SaStateView): void {
  out.text('\taevent thresholds: replay ');
  if (view.replayThresholdAt < 0) out.text('?');
  else out.uint(view.replayThreshold).text(' packets');
  out.text(', timer ');
  if (view.timerThresholdAt < 0) out.text('?');
  else out.uint(timerMsFromThreshold(view.timerThreshold100ms)).text(' ms');
  out.text('\n');
}

/** saStateText() of the SA a view shows, uncoloured; without the thresholds line for counters-only. */
export function writeSaStateText(out: AsciiOut, view: SaStateView, showBitmap: boolean, withThresholds: boolean): void {
  const { buf, family } = view;
  out.text('src ').text(formatAddressAt(buf, view.saddrAt, family)).text(' dst ').text(formatAddressAt(buf, view.daddrAt, family));
  const proto = protoName(view.proto);
  out.text('\n\tproto ').text(typeof proto === 'number' ? String(proto) : proto);
  out.text(' spi 0x').hex8(view.spi).text(' reqid ').uint(view.reqid).text('\n');
  if (view.markAt >= 0 || view.ifIdAt >= 0) {
    out.text('\t');
    if (view.markAt >= 0) out.text('mark ').hex(view.markValue).text('/').hex(view.markMask);
    if (view.markAt >= 0 && view.ifIdAt >= 0) out.text(' ');
    if (view.ifIdAt >= 0) out.text('if_id ').hex(view.ifId);
    out.text('\n');
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
