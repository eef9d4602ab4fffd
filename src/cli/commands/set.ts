import type { Command } from 'commander';
import type { AeUpdate } from '../../xfrm/aevent.js';
import { MAX_TIMER_JIFFIES, probeHzOnSa, readBackMatches, readConfiguredHz, timerJiffiesFor, timerMsFromThreshold } from '../../xfrm/timer-units.js';
import { keyOf } from '../../xfrm/sa-dump.js';
import { mergeCounters, type CounterChanges } from '../../xfrm/update.js';
import type { CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { toJson } from '../json.js';
import { parsePositiveInt, parseU32, parseU64 } from '../parse.js';
import { getRecord } from '../record.js';
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
  bitmap?: boolean;
}

export function registerSet(program: Command, context: CliContext): void {
  const command = program
    .command('set')
    .description("write an SA's aevent thresholds and counters (NEWAE), then read them back")
    .argument('<spi>', 'SPI, hex (0x1000) or decimal');
  addSelectorOptions(command)
    .option('--rthr <packets>', 'replay threshold: an event every N packets (0: no count events)')
    .option('--etime <ms>', 'timer threshold in milliseconds (kernel resolution: 100 ms as read back)')
    .option('--seq <n>', 'inbound: highest sequence number seen (low 32 bits)')
    .option('--oseq <n>', 'outbound: last sequence number sent (low 32 bits)')
    .option('--seq-hi <n>', 'ESN SAs: high 32 bits of seq')
    .option('--oseq-hi <n>', 'ESN SAs: high 32 bits of oseq')
    .option('--bytes <n>', 'lifetime byte counter')
    .option('--packets <n>', 'lifetime packet counter')
    .option('--hz <hz>', "the kernel's HZ, if xaev cannot read CONFIG_HZ (otherwise it probes the SA)")
    .option('--force', 'allow lowering a counter (reuses sequence numbers or reopens the replay window)')
    .option('--bitmap', 'also print the ESN replay bitmap words')
    .addHelpText(
      'after',
      `
Examples:
  xaev set 0x1000 --rthr 32 --etime 500          an event every 32 packets or 500 ms
  xaev set 0x1000 --oseq 200000                  standby takes over: jump the outbound counter
  xaev set 0x2000 --dst 192.0.2.1 --seq 199000   inbound SA: move the replay window
  xaev set 0x1000 --oseq 5 --force               lower a counter (dangerous, see README)

Counters are merged into the SA's current state: --oseq keeps seq and the bitmap.
Lowering any counter needs --force. The SA's replay flavour (legacy or ESN) is kept.`,
    )
    .action((spi: string, options: SetOptions) => runSet(context, spi, options));
}

function optional<T>(text: string | undefined, parse: (text: string) => T): T | undefined {
  return text === undefined ? undefined : parse(text);
}

export function runSet(context: CliContext, spiText: string, options: SetOptions): void {
  const filter = parseSelectors(spiText, options);
  const changes: CounterChanges = {
    seq: optional(options.seq, (t) => parseU32(t, '--seq')),
    oseq: optional(options.oseq, (t) => parseU32(t, '--oseq')),
    seqHi: optional(options.seqHi, (t) => parseU32(t, '--seq-hi')),
    oseqHi: optional(options.oseqHi, (t) => parseU32(t, '--oseq-hi')),
    bytes: optional(options.bytes, (t) => parseU64(t, '--bytes')),
    packets: optional(options.packets, (t) => parseU64(t, '--packets')),
  };
  const replayThreshold = optional(options.rthr, (t) => parseU32(t, '--rthr'));
  const timerMs = optional(options.etime, (t) => parseU32(t, '--etime'));
  const hzOverride = optional(options.hz, (t) => parsePositiveInt(t, '--hz', 10000));
  if (Object.values(changes).every((v) => v === undefined) && replayThreshold === undefined && timerMs === undefined) {
    throw new UsageError('set: nothing to set: give at least one of --rthr, --etime, --seq, --oseq, --seq-hi, --oseq-hi, --bytes, --packets');
  }

  const client = context.client();
  const [entry] = selectSas(context, filter, options, { all: false, offersAll: false });
  const key = keyOf(entry!);
  const current = client.getAe(key);
  const { update: counters, lowered } = mergeCounters(current, changes);
  if (lowered.length > 0 && !options.force) {
    throw new CliError(
      `refusing to lower ${lowered.join(', ')}: that reuses sequence numbers (nonce reuse with GCM) or reopens the replay window; add --force if you mean it`,
    );
  }
  for (const change of lowered) context.warn(`lowering ${change} (--force)`);

  const update: AeUpdate = { ...counters };
  if (replayThreshold !== undefined) {
    update.replayThreshold = replayThreshold;
    if (replayThreshold === 0) context.warn('--rthr 0 turns off count-based (replay) events for this SA');
  }
  let hz: number | undefined;
  if (timerMs !== undefined) {
    hz = hzOverride ?? readConfiguredHz()?.hz ?? probeHzOnSa(client, key, current.timerThreshold100ms ?? 0);
    const jiffies = timerJiffiesFor(timerMs, hz);
    if (jiffies > MAX_TIMER_JIFFIES) {
      throw new UsageError(`--etime: ${timerMs} ms is ${jiffies} jiffies at HZ=${hz}, above the ${MAX_TIMER_JIFFIES} the kernel can report back`);
    }
    if (timerMs === 0) {
      context.warn(
        '--etime 0 stops the timer; on an SA that was idle for a period it makes every later packet send an event (docs/kernel/events.md). To quieten an SA, use --rthr 0 with a large --etime instead',
      );
    }
    update.timerJiffies = jiffies;
  }

  client.newAe(key, update);
  const after = client.getAe(key);
  const record = getRecord(after);
  context.print(context.globals.json ? `${toJson(record)}\n` : saStateText(record, after, context.style, options.bitmap === true));

  if (timerMs !== undefined && hz !== undefined) {
    const readMs = timerMsFromThreshold(after.timerThreshold100ms ?? 0);
    if (!readBackMatches(timerMs, after.timerThreshold100ms ?? 0)) {
      throw new CliError(
        `the timer reads back ${readMs} ms, not the ${timerMs} ms asked for: the kernel's HZ is not ${hz} (give the right one with --hz)`,
      );
    }
  }
}
