import type { Command } from 'commander';
import type { AeUpdate } from '../../xfrm/aevent.js';
import { HIGHEST_KERNEL_HZ, knownHz, MAX_TIMER_JIFFIES, readBackProblem, resolveHz, timerJiffiesFor } from '../../xfrm/timer-units.js';
import { keyOf } from '../../xfrm/sa-dump.js';
import type { SaFilter } from '../../xfrm/sa-dump.js';
import { mergeCounters, type CounterChanges } from '../../xfrm/update.js';
import type { CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { toJson } from '../../xfrm/json.js';
import { parseBitmap, parsePositiveInt, parseU32, parseU64 } from '../parse.js';
import { getRecord } from '../../xfrm/sa-record.js';
import { addSelectorOptions, parseSelectors, selectSas, type SelectorOptions } from '../select.js';
import { saStateText } from '../text.js';

interface SetOptions extends SelectorOptions {
  rthr?: string;
  etime?: string;
  seq?: string;
  oseq?: string;
  seqHi?: string;
  oseqHi?: string;
  bytes?: string;
  packets?: string;
  hz?: string;
  force?: boolean;
  bitmap?: string;
}

export function registerSet(program: Command, context: CliContext): void {
  const command = program
    .command('set')
    .description("write an SA's aevent thresholds and counters (NEWAE), then read them back")
    .argument('<spi>', 'SPI, hex (0x1000) or decimal');
  addSelectorOptions(command)
    .option('--rthr <packets>', 'replay threshold: an event every N packets (0: no count events)')
    .option('--etime <ms>', 'timer threshold in milliseconds (kernel resolution: 100 ms as read back)')
    .option('--seq <n>', 'inbound: highest sequence number seen (low 32 bits); moves the replay window')
    .option('--oseq <n>', 'outbound: last sequence number sent (low 32 bits)')
    .option('--seq-hi <n>', 'ESN SAs: high 32 bits of seq')
    .option('--oseq-hi <n>', 'ESN SAs: high 32 bits of oseq')
    .option('--bitmap <words>', 'inbound: the replay bitmap exactly: all, none, or u32 words W0,W1,... as get -j prints them')
    .option('--bytes <n>', 'lifetime byte counter')
    .option('--packets <n>', 'lifetime packet counter')
    .option('--hz <hz>', "the kernel's HZ, if xaev cannot read CONFIG_HZ (otherwise it probes the SA)")
    .option('--force', 'allow lowering a counter (reuses sequence numbers or reopens the replay window)')
    .addHelpText(
      'after',
      `
Examples:
  xaev set 0x1000 --rthr 32 --etime 500          an event every 32 packets or 500 ms
  xaev set 0x1000 --oseq 200000                  standby takes over: jump the outbound counter
  xaev set 0x2000 --dst 192.0.2.1 --seq 199000   inbound SA: move the replay window
  xaev set 0x2000 --seq 100 --bitmap all         window at 100, 100 and the numbers below it seen
  xaev set 0x1000 --oseq 5 --force               lower a counter (dangerous, see README)

Counters are merged into the SA's current state: --oseq keeps seq and the bitmap.
Lowering any counter needs --force. The SA's replay flavour (legacy or ESN) is kept.

The replay window: --seq (and --seq-hi) move its top and the bitmap with it, as the kernel
does when packets arrive: numbers that enter the window, the new top included, are marked
not received; numbers still inside keep their bits; a move by a whole window or more
clears the bitmap. --bitmap sets the bitmap exactly instead (at the new top, if --seq is
given too):
  all    every number in the window received (bits 0 to window-1)
  none   no number received
  W0,W1  u32 words, decimal or 0x hex. A legacy SA (window up to 32) has one word: bit d
         is the number seq-d. An ESN or large-window SA has exactly as many words as
         get -j prints (bmp_len) and uses them as a ring: number s is bit (s-1) mod window.
Refused (exit 1, nothing written): a different number of words than the SA has, or a bit
set beyond the SA's window. Clearing bits lets those numbers be accepted again.`,
    )
    .action((spi: string, options: SetOptions) => runSet(context, spi, options));
}

function optional<T>(text: string | undefined, parse: (text: string) => T): T | undefined {
  return text === undefined ? undefined : parse(text);
}

interface SetRequest {
  filter: SaFilter;
  changes: CounterChanges;
  replayThreshold: number | undefined;
  timerMs: number | undefined;
  /** HZ from --hz or the kernel's configuration; undefined when it must be probed on the SA. */
  knownHz: number | undefined;
}

/** Jiffies for a timer period, or a UsageError when the kernel could not report it back. */
function timerJiffies(timerMs: number, hz: number, hzKnown: boolean): number {
  const jiffies = timerJiffiesFor(timerMs, hz);
  if (jiffies > MAX_TIMER_JIFFIES) {
    const limit = Math.floor((MAX_TIMER_JIFFIES * 1000) / hz);
    const why = hzKnown ? `at HZ=${hz}` : `at HZ=${hz}, the highest HZ a kernel has (give the kernel's HZ with --hz to allow more)`;
    throw new UsageError(`--etime: ${timerMs} ms is more than the ${limit} ms the kernel can report back ${why}`);
  }
  return jiffies;
}

/** Every check that needs no kernel request: a bad command line exits 2 whether or not the SA exists. */
function parseSetRequest(spiText: string, options: SetOptions): SetRequest {
  const filter = parseSelectors(spiText, options);
  const changes: CounterChanges = {
    seq: optional(options.seq, (t) => parseU32(t, '--seq')),
    oseq: optional(options.oseq, (t) => parseU32(t, '--oseq')),
    seqHi: optional(options.seqHi, (t) => parseU32(t, '--seq-hi')),
    oseqHi: optional(options.oseqHi, (t) => parseU32(t, '--oseq-hi')),
    bytes: optional(options.bytes, (t) => parseU64(t, '--bytes')),
    packets: optional(options.packets, (t) => parseU64(t, '--packets')),
    bitmap: optional(options.bitmap, parseBitmap),
  };
  const replayThreshold = optional(options.rthr, (t) => parseU32(t, '--rthr'));
  const timerMs = optional(options.etime, (t) => parseU32(t, '--etime'));
  const hzOverride = optional(options.hz, (t) => parsePositiveInt(t, '--hz', 10000));
  if (Object.values(changes).every((v) => v === undefined) && replayThreshold === undefined && timerMs === undefined) {
    throw new UsageError(
      'set: nothing to set: give at least one of --rthr, --etime, --seq, --oseq, --seq-hi, --oseq-hi, --bitmap, --bytes, --packets',
    );
  }
  const hz = timerMs === undefined ? undefined : knownHz(hzOverride);
  if (timerMs !== undefined) timerJiffies(timerMs, hz ?? HIGHEST_KERNEL_HZ, hz !== undefined);
  return { filter, changes, replayThreshold, timerMs, knownHz: hz };
}

export function runSet(context: CliContext, spiText: string, options: SetOptions): void {
  const request = parseSetRequest(spiText, options);
  const client = context.client();
  const [entry] = selectSas(context, request.filter, options, { all: false, offersAll: false });
  const key = keyOf(entry!);
  const current = client.getAe(key);
  const { update: counters, lowered } = mergeCounters(current, request.changes, { legacyWindow: entry!.info.replayWindow });
  if (lowered.length > 0 && !options.force) {
    throw new CliError(
      `refusing to lower ${lowered.join(', ')}: that reuses sequence numbers (nonce reuse with GCM) or reopens the replay window; add --force if you mean it`,
    );
  }
  for (const change of lowered) context.warn(`lowering ${change} (--force)`);

  const update: AeUpdate = { ...counters };
  if (request.replayThreshold !== undefined) update.replayThreshold = request.replayThreshold;
  let hz: number | undefined;
  if (request.timerMs !== undefined) {
    hz = resolveHz(request.knownHz, { client, sas: [key], pid: 0, required: true });
    update.timerJiffies = timerJiffies(request.timerMs, hz, true);
  }

  client.newAe(key, update);
  const after = client.getAe(key);
  const record = getRecord(after);
  const showBitmap = request.changes.bitmap !== undefined;
  context.print(context.globals.json ? `${toJson(record)}\n` : saStateText(record, after, context.style, showBitmap));
  warnAfterWrite(context, request);

  if (request.timerMs !== undefined && hz !== undefined) {
    const problem = readBackProblem(request.timerMs, after.timerThreshold100ms ?? 0, hz);
    if (problem) throw new CliError(`${problem} (give the right one with --hz)`);
  }
}

/**
 * Thresholds of 0 are legal but rarely what one wants; said only once the kernel took them.
 * docs/kernel/events.md (timer 0 pitfalls); net/xfrm/xfrm_replay.c: xfrm_replay_notify().
 */
function warnAfterWrite(context: CliContext, request: SetRequest): void {
  if (request.replayThreshold === 0) {
    context.warn('--rthr 0: this SA now sends no count-based (replay) events, only timer events; give --rthr N to get an event every N packets again');
  }
  if (request.timerMs === 0) {
    context.warn(
      '--etime 0 stopped the timer of this SA: once it has been idle for a timer period, every packet it handles sends an event. To quieten an SA, use --rthr 0 with a large --etime instead',
    );
  }
}
