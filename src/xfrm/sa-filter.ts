// Which SAs a user asked for by SPI, protocol and destination: the one test used by SA
// lookups (sa-dump.ts) and by event streams (events.ts) alike.
import { addressesEqual, type ParsedAddress } from './address.js';
import type { SaId } from './structs.js';

export interface SaIdFilter {
  spi?: number | undefined;
  proto?: number | undefined;
  dst?: ParsedAddress | undefined;
}

/** True when the SA id passes every criterion given; an empty filter passes everything. */
export function matchesSaId(saId: SaId, filter: SaIdFilter): boolean {
  return matchesSaIdAt(filter, saId, saId.daddr, 0);
}

/** matchesSaId for an id whose daddr is read in place at daddr[daddrAt] (SA dumps read byte by byte). */
export function matchesSaIdAt(filter: SaIdFilter, id: Omit<SaId, 'daddr'>, daddr: Buffer, daddrAt: number): boolean {
  if (filter.spi !== undefined && id.spi !== filter.spi) return false;
  if (filter.proto !== undefined && id.proto !== filter.proto) return false;
  if (filter.dst && (filter.dst.family !== id.family || !addressesEqual(filter.dst.bytes, daddr, id.family, daddrAt))) return false;
  return true;
}

/** True when the filter asks for anything at all. */
export function isSaIdFilterEmpty(filter: SaIdFilter): boolean {
  return filter.spi === undefined && filter.proto === undefined && filter.dst === undefined;
}
