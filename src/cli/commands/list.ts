import type { Command } from 'commander';
import { NetlinkError } from '../../netlink/errors.js';
import type { AeMessage } from '../../xfrm/aevent.js';
import { keyOf } from '../../xfrm/sa-dump.js';
import type { CliContext } from '../context.js';
import { toJson } from '../json.js';
import { getRecord } from '../record.js';
import { addSelectorOptions, parseSelectors, type SelectorOptions } from '../select.js';
import { saStateText } from '../text.js';

interface ListOptions extends SelectorOptions {
  spi?: string;
  bitmap?: boolean;
}

export function registerList(program: Command, context: CliContext): void {
  const command = program
    .command('list')
    .alias('ls')
    .description('show every SA with its counters and thresholds (one dump, then GETAE per SA)')
    .option('--spi <spi>', 'only SAs with this SPI');
  addSelectorOptions(command)
    .option('--bitmap', 'also print the ESN replay bitmap words')
    .addHelpText(
      'after',
      `
Examples:
  xaev list                                 every SA in the namespace
  xaev -j ls --proto esp                    JSON array, ESP SAs only
  xaev list --dst 192.0.2.2 --spi 0x1000

SAs that disappear between the dump and their GETAE are skipped.`,
    )
    .action((options: ListOptions) => runList(context, options));
}

/** SAs read, formatted and written per round: output starts early and memory stays flat. */
const SAS_PER_ROUND = 256;

export function runList(context: CliContext, options: ListOptions): void {
  const filter = parseSelectors(options.spi, options);
  const client = context.client();
  const keys = client.listSas(filter).map(keyOf);
  const json = context.globals.json;
  let first = true;
  if (json) context.print('[');
  for (let start = 0; start < keys.length; start += SAS_PER_ROUND) {
    // The kernel has no aevent dump and SA dumps carry no thresholds: one GETAE per SA,
    // pipelined on this socket (docs/kernel/sa-lookup.md#reply-stream;
    // net/xfrm/xfrm_user.c: copy_to_user_state_extra(), build_aevent()).
    const states: AeMessage[] = [];
    for (const result of client.getAeMany(keys.slice(start, start + SAS_PER_ROUND))) {
      if (result instanceof NetlinkError) {
        if (result.code === 'ESRCH') continue; // deleted since the dump
        throw result;
      }
      states.push(result);
    }
    if (states.length === 0) continue;
    if (json) {
      const body = toJson(states.map(getRecord)).slice(1, -1);
      context.print(first ? body : `,${body}`);
    } else {
      context.print(states.map((ae) => saStateText(getRecord(ae), ae, context.style, options.bitmap === true)).join(''));
    }
    first = false;
  }
  if (json) context.print(']\n');
}
