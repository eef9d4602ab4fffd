// Selecting SAs from the command line: an SPI plus optional narrowing options, resolved by
// the kernel's own lookup (GETSA) when they name the destination, otherwise through a GETSA
// dump; several SAs can share an SPI, so ambiguity is an error naming the option that tells
// them apart (docs/kernel/sa-lookup.md#matching-by-spi; net/xfrm/xfrm_user.c: xfrm_dump_sa()).
import type { Command } from 'commander';
import { formatAddress } from '../xfrm/address.js';
import type { CliContext } from './context.js';
import type { SaEntry, SaFilter } from '../xfrm/sa-dump.js';
import { CliError } from './errors.js';
import { parseAddressOption, parseMark, parseProto, parseSpi } from './parse.js';
import { protoName, protoNameChoice } from '../xfrm/protocols.js';
import { hex } from '../netlink/bytes.js';

export interface SelectorOptions {
  dst?: string;
  src?: string;
  proto?: string;
  mark?: string;
}

export function addSelectorOptions(command: Command): Command {
  return command
    .option('--dst <addr>', 'only the SA with this destination address')
    .option('--src <addr>', 'only the SA with this source address')
    .option('--proto <proto>', `only this protocol: ${protoNameChoice()}`)
    .option('--mark <value[/mask]>', 'only the SA with this mark (value, and mask when given)');
}

export function parseSelectors(spiText: string | undefined, options: SelectorOptions): SaFilter {
  return {
    spi: spiText === undefined ? undefined : parseSpi(spiText),
    dst: options.dst === undefined ? undefined : parseAddressOption(options.dst, '--dst'),
    src: options.src === undefined ? undefined : parseAddressOption(options.src, '--src'),
    proto: options.proto === undefined ? undefined : parseProto(options.proto),
    mark: options.mark === undefined ? undefined : parseMark(options.mark),
  };
}


function describeFilter(filter: SaFilter, options: SelectorOptions): string {
  const parts: string[] = [];
  if (options.dst !== undefined) parts.push(`dst ${options.dst}`);
  if (options.src !== undefined) parts.push(`src ${options.src}`);
  if (options.proto !== undefined) parts.push(`proto ${options.proto}`);
  if (options.mark !== undefined) parts.push(`mark ${options.mark}`);
  const base = filter.spi === undefined ? 'no SA' : `no SA with SPI ${hex(filter.spi)}`;
  return parts.length ? `${base} and ${parts.join(', ')}` : base;
}

function describeEntry(entry: SaEntry): string {
  const { saId, saddr, reqid } = entry.info;
  const proto = protoName(saId.proto);
  let text = `src ${formatAddress(saddr, saId.family)} dst ${formatAddress(saId.daddr, saId.family)} proto ${proto} spi ${hex(saId.spi)} reqid ${reqid}`;
  if (entry.mark) text += ` mark ${hex(entry.mark.value)}/${hex(entry.mark.mask)}`;
  return text;
}

/** Which selector options tell a set of SAs apart, best first. */
function distinguishingOptions(entries: SaEntry[]): string[] {
  const differs = (key: (entry: SaEntry) => string): boolean => new Set(entries.map(key)).size > 1;
  const options: string[] = [];
  if (differs((e) => formatAddress(e.info.saId.daddr, e.info.saId.family))) options.push('--dst');
  if (differs((e) => String(e.info.saId.proto))) options.push('--proto');
  if (differs((e) => formatAddress(e.info.saddr, e.info.saId.family))) options.push('--src');
  if (differs((e) => `${e.mark?.value ?? 0}/${e.mark?.mask ?? 0}`)) options.push('--mark');
  return options;
}

/** The SAs a command acts on: exactly one unless --all, or a CliError naming the way out. */
export function selectSas(
  context: CliContext,
  filter: SaFilter,
  options: SelectorOptions,
  multiple: { all: boolean; offersAll: boolean },
): SaEntry[] {
  // With --dst the kernel finds the SA itself, at the same cost at any table size; the dump
  // (a scan of every SA) is only for what that lookup cannot settle, and for --all.
  const entries = (multiple.all ? undefined : context.client().getNamedSas(filter)) ?? context.findSas(filter);
  if (entries.length === 0) throw new CliError(describeFilter(filter, options));
  if (entries.length > 1 && !multiple.all) {
    const spi = filter.spi === undefined ? 'the selection' : `SPI ${hex(filter.spi)}`;
    const tellApart = distinguishingOptions(entries);
    const hint = tellApart.length
      ? `choose one with ${tellApart.join(' or ')}${multiple.offersAll ? ', or show them all with --all' : ''}`
      : 'they differ in nothing xaev can select by';
    const listing = entries.map((e) => `  ${describeEntry(e)}`).sort();
    throw new CliError(`${spi} matches ${entries.length} SAs: ${hint}`, listing);
  }
  return entries;
}
