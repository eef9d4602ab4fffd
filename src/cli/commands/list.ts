import type { Command } from 'commander';
import { decodeAePayload, type AeMessage } from '../../xfrm/aevent.js';
import { stateOfDumpEntry } from '../../xfrm/sa-dump.js';
import type { SaStateView } from '../../xfrm/sa-view.js';
import type { CliContext } from '../context.js';
import { getRecord } from '../../xfrm/sa-record.js';
import { AsciiOut } from '../ascii-out.js';
import { writeOut } from '../output.js';
import { writeSaRecordJson } from '../sa-json.js';
import { writeSaStateText } from '../sa-text.js';
import { addSelectorOptions, parseSelectors, type SelectorOptions } from '../select.js';
import { saStateText } from '../text.js';
import { tuneV8ForBulkWork } from '../v8-tuning.js';

interface ListOptions extends SelectorOptions {
  spi?: string;
  bitmap?: boolean;
  countersOnly?: boolean;
}

export function registerList(program: Command, context: CliContext): void {
  const command = program
    .command('list')
    .alias('ls')
    .description('show every SA with its counters and thresholds (one dump, then GETAE per SA)')
    .option('--spi <spi>', 'only SAs with this SPI');
  addSelectorOptions(command)
    .option('--bitmap', 'also print the ESN replay bitmap words')
    .option('--counters-only', 'counters from the SA dump alone: no GETAE, no thresholds (fastest)')
    .addHelpText(
      'after',
      `
Examples:
  xaev list                                 every SA in the namespace
  xaev -j ls --proto esp                    JSON array, ESP SAs only
  xaev list --dst 192.0.2.2 --spi 0x1000
  xaev -j list --counters-only              counters of every SA, thresholds left out

SAs that disappear between the dump and their GETAE are skipped.`,
    )
    .action((options: ListOptions) => runList(context, options));
}

/** Output is written in pieces of about this many characters: it starts early, memory stays flat. */
const FLUSH_CHARS = 64 * 1024;

/** `ip`-style text of one SA. Counters-only states have no thresholds: their line, always the last, goes. */
function stateText(context: CliContext, ae: AeMessage, showBitmap: boolean, countersOnly: boolean): string {
  const text = saStateText(getRecord(ae), ae, context.style, showBitmap);
  return countersOnly ? text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1) : text;
}

export async function runList(context: CliContext, options: ListOptions): Promise<void> {
  const filter = parseSelectors(options.spi, options);
  const client = context.client();
  const countersOnly = options.countersOnly === true;
  const visit = context.globals.json ? jsonWriter(countersOnly) : textWriter(context, options.bitmap === true, countersOnly);
  tuneV8ForBulkWork();
  if (countersOnly) await client.forEachDumpedSaInBackground(filter, visit.write);
  else await client.forEachAeState(filter, visit.write);
  visit.end();
}

interface Writer {
  write: (view: SaStateView) => void;
  end: () => void;
}

/** A JSON array, written straight from the kernel's bytes into the output buffer. */
function jsonWriter(countersOnly: boolean): Writer {
  const out = new AsciiOut(writeOut);
  let first = true;
  out.text('[');
  return {
    write: (view) => {
      out.startRecord();
      if (!first) out.text(',');
      writeSaRecordJson(out, view, !countersOnly);
      first = false;
    },
    end: () => {
      out.text(']\n');
      out.flushNow();
    },
  };
}

/** `ip`-style text blocks: written straight from the bytes, or through get's formatter when coloured. */
function textWriter(context: CliContext, showBitmap: boolean, countersOnly: boolean): Writer {
  if (context.style.level === 0) {
    const out = new AsciiOut(writeOut);
    return {
      write: (view) => {
        out.startRecord();
        writeSaStateText(out, view, showBitmap, !countersOnly);
      },
      end: () => out.flushNow(),
    };
  }
  let out = '';
  return {
    write: (view) => {
      const ae = countersOnly ? stateOfDumpEntry(view) : decodeAePayload(view.buf.subarray(view.start, view.end));
      out += stateText(context, ae, showBitmap, countersOnly);
      if (out.length >= FLUSH_CHARS) {
        context.print(out);
        out = '';
      }
    },
    end: () => context.print(out),
  };
}
