// Text output. Monitor lines reproduce `ip xfrm monitor` byte for byte (iproute2
// ip/xfrm_monitor.c: xfrm_ae_print(); test/fixtures/*.expected.txt hold what ip printed),
// including its double spaces and trailing space.
import type { ChalkInstance } from 'chalk';
import type { AeMessage } from '../xfrm/aevent.js';
import { formatAddress } from '../xfrm/address.js';
import { XFRM_AE_CE, XFRM_AE_CR, XFRM_AE_CU } from '../xfrm/constants.js';
import type { LifetimeCurrent, ReplayState, UserMapping } from '../xfrm/structs.js';
import { protocolDatabaseName } from './protocols.js';
import type { GetRecord } from '../xfrm/sa-record.js';
import { hex } from '../netlink/bytes.js';

export { hex };
const hex8 = (value: number): string => value.toString(16).padStart(8, '0');

/** The two lines `ip xfrm monitor` prints for an XFRM_MSG_NEWAE. */
export function ipAeventText(ae: AeMessage): string {
  const { saId, saddr, flags, reqid } = ae.id;
  let head = `Async event  (${hex(flags)}) `;
  if (flags & XFRM_AE_CR) head += ' replay update ';
  if (flags & XFRM_AE_CE) head += ' timer expired ';
  if (flags & XFRM_AE_CU) head += ' policy updated ';
  return (
    `${head}\n\tsrc ${formatAddress(saddr, saId.family)} dst ${formatAddress(saId.daddr, saId.family)} ` +
    ` reqid ${hex(reqid)} protocol ${protocolDatabaseName(saId.proto)}  SPI ${hex(saId.spi)}\n`
  );
}

/** What `ip xfrm monitor` prints for an XFRM_MSG_MAPPING (NAT-T port change). */
export function ipMappingText(mapping: UserMapping): string {
  const family = mapping.saId.family;
  return (
    `Mapping change ${formatAddress(mapping.oldSaddr, family)}:${mapping.oldSport} -> ` +
    `${formatAddress(mapping.newSaddr, family)}:${mapping.newSport}\n` +
    `\tdst ${formatAddress(mapping.saId.daddr, family)}  reqid ${hex(mapping.reqid)} ` +
    `protocol ${protocolDatabaseName(mapping.saId.proto)}  SPI ${hex(mapping.saId.spi)}\n`
  );
}

/** `ip xfrm monitor`'s line for a message type it does not know. */
export function ipUnknownText(length: number, type: number, flags: number): string {
  return `Unknown message: ${String(length).padStart(8, '0')} ${`0x${hex8(type)}`} ${`0x${hex8(flags)}`}\n`;
}

/** Replay state in `ip xfrm state` wording; the ESN bitmap only when asked (16 lines at 4096). */
export function replayLines(replay: ReplayState | undefined, showBitmap: boolean): string[] {
  if (!replay) return ['\tanti-replay context: (none reported)'];
  if (replay.kind === 'legacy') {
    return [`\tanti-replay context: seq ${hex(replay.seq)}, oseq ${hex(replay.oseq)}, bitmap 0x${hex8(replay.bitmap)}`];
  }
  const lines = [
    '\tanti-replay esn context:',
    `\t seq-hi ${hex(replay.seqHi)}, seq ${hex(replay.seq)}, oseq-hi ${hex(replay.oseqHi)}, oseq ${hex(replay.oseq)}`,
    `\t replay_window ${replay.replayWindow}, bitmap-length ${replay.bitmap.length}`,
  ];
  if (showBitmap) {
    for (let high = replay.bitmap.length; high > 0; high -= 8) {
      const words = [];
      for (let i = high - 1; i >= Math.max(0, high - 8); i--) words.push(`${hex8(replay.bitmap[i]!)} `);
      lines.push(`\t ${words.join('')}`);
    }
  }
  return lines;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Local date and time, `YYYY-MM-DD<separator>HH:MM:SS`. */
function localDateTime(date: Date, separator: string, year: number = date.getFullYear()): string {
  return (
    `${year}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}${separator}` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** 400 Gregorian years: the calendar, weekdays included, repeats after exactly this. */
const GREGORIAN_CYCLE_SECONDS = 146097n * 86400n;
/** JavaScript dates end at 8.64e15 ms; times beyond are shifted by whole cycles first. */
const DATE_LIMIT_SECONDS = 8_000_000_000_000n;
/** glibc keeps the year as tm_year = year - 1900 in an int; localtime() fails beyond it. */
const TM_YEAR_MIN = -2147483648;
const TM_YEAR_MAX = 2147483647;

/**
 * Unix seconds as local `YYYY-MM-DD HH:MM:SS`, or `-` for 0, exactly as `ip -s xfrm state`
 * prints them (ip/ipxfrm.c: strxf_time(): the u64 cast to long, localtime(), strftime "%Y"
 * unpadded, so years may be negative or longer than four digits). Where glibc's localtime()
 * fails (the year overflows tm_year) ip prints garbage or crashes: xaev prints the raw seconds.
 */
export function formatUnixTime(seconds: bigint): string {
  if (seconds === 0n) return '-';
  const time = BigInt.asIntN(64, seconds);
  const cycles = time > DATE_LIMIT_SECONDS || time < -DATE_LIMIT_SECONDS ? time / GREGORIAN_CYCLE_SECONDS : 0n;
  const date = new Date(Number(time - cycles * GREGORIAN_CYCLE_SECONDS) * 1000);
  const year = date.getFullYear() + 400 * Number(cycles);
  if (year - 1900 < TM_YEAR_MIN || year - 1900 > TM_YEAR_MAX) return String(seconds);
  // strftime computes %Y as tm_year + 1900 in an int, which wraps past 2147483647.
  const printedYear = year > TM_YEAR_MAX ? year - 2 ** 32 : year;
  return localDateTime(date, ' ', printedYear);
}

/** `ip -ts` style local time with microseconds: 2026-11-22T20:41:03.123456. */
export function localTimestamp(epochMs: number): string {
  return `${localDateTime(new Date(Math.floor(epochMs)), 'T')}.${pad(Math.floor((epochMs % 1000) * 1000), 6)}`;
}

export function lifetimeLines(lifetime: LifetimeCurrent | undefined): string[] {
  if (!lifetime) return ['\tlifetime current: (none reported)'];
  return [
    '\tlifetime current:',
    `\t  ${lifetime.bytes}(bytes), ${lifetime.packets}(packets)`,
    `\t  add ${formatUnixTime(lifetime.addTime)} use ${formatUnixTime(lifetime.useTime)}`,
  ];
}

/** The text block of `xaev get`/`set`: one SA, its counters and its thresholds. */
export function saStateText(record: GetRecord, ae: AeMessage, style: ChalkInstance, showBitmap: boolean): string {
  const protoText = typeof record.proto === 'number' ? String(record.proto) : record.proto;
  const lines = [
    `${style.bold(`src ${record.src} dst ${record.dst}`)}`,
    `\tproto ${protoText} spi ${style.cyan(`0x${hex8(record.spi)}`)} reqid ${record.reqid}`,
  ];
  const extras: string[] = [];
  if (record.mark) extras.push(`mark ${hex(record.mark.value)}/${hex(record.mark.mask)}`);
  if (record.ifId !== null) extras.push(`if_id ${hex(record.ifId)}`);
  if (extras.length) lines.push(`\t${extras.join(' ')}`);
  lines.push(...replayLines(ae.replay, showBitmap), ...lifetimeLines(ae.lifetime));
  const replayThreshold = record.thresholds.replay === null ? '?' : `${record.thresholds.replay} packets`;
  const timer = record.thresholds.timerMs === null ? '?' : `${record.thresholds.timerMs} ms`;
  lines.push(`\taevent thresholds: replay ${style.yellow(replayThreshold)}, timer ${style.yellow(timer)}`);
  return `${lines.join('\n')}\n`;
}
