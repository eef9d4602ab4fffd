import type { Command } from 'commander';
import { keyOf } from '../../xfrm/sa-dump.js';
import type { CliContext } from '../context.js';
import { toJson } from '../../xfrm/json.js';
import { getRecord } from '../../xfrm/sa-record.js';
import { addSelectorOptions, parseSelectors, selectSas, type SelectorOptions } from '../select.js';
import { saStateText } from '../text.js';

interface GetOptions extends SelectorOptions {
  bitmap?: boolean;
  all?: boolean;
}

export function registerGet(program: Command, context: CliContext): void {
  const command = program
    .command('get')
    .description("show an SA's anti-replay counters, lifetime counters and aevent thresholds")
    .argument('<spi>', 'SPI, hex (0x1000) or decimal');
  addSelectorOptions(command)
    .option('--all', 'show every SA that matches instead of insisting on one')
    .option('--bitmap', 'also print the ESN replay bitmap words')
    .addHelpText(
      'after',
      `
Examples:
  xaev get 0x1000                        the SA with SPI 0x1000
  xaev get 0x1000 --dst 192.0.2.2        when several SAs share the SPI
  xaev -j get 4096                       JSON (SPI in decimal)
  xaev -n blue get 0x1000 --bitmap       in network namespace blue, with the ESN bitmap`,
    )
    .action((spi: string, options: GetOptions) => runGet(context, spi, options));
}

export function runGet(context: CliContext, spiText: string, options: GetOptions): void {
  const filter = parseSelectors(spiText, options);
  const client = context.client();
  const entries = selectSas(context, filter, options, { all: options.all === true, offersAll: true });
  const states = entries.map((entry) => client.getAe(keyOf(entry)));
  if (context.globals.json) {
    const records = states.map(getRecord);
    context.print(`${toJson(options.all ? records : records[0])}\n`);
    return;
  }
  context.print(states.map((ae) => saStateText(getRecord(ae), ae, context.style, options.bitmap === true)).join(''));
}
