// Which SAs sync replicates and how both nodes name them: ESP and AH SAs (the protocols with
// anti-replay counters) that GETAE and NEWAE can reach (isReachableSpi: the SPI-0 rule),
// keyed by family, destination, SPI, protocol and mark.
import type { AeMessage, SaKey } from '../xfrm/aevent.js';
import { familyName, formatAddress } from '../xfrm/address.js';
import { IPPROTO_AH, IPPROTO_ESP, XFRM_STATE_ESN } from '../xfrm/constants.js';
import { isReachableSpi, type SaEntry } from '../xfrm/sa-dump.js';
import type { Mark, SaId } from '../xfrm/structs.js';
import { saKey } from './stream.js';

/** A local SA sync can write: its kernel lookup key, its shared name, and whether it is ESN. */
export interface LocalSaInfo {
  key: SaKey;
  name: string;
  esn: boolean;
  family: 'inet' | 'inet6';
  /** The source address, when known (dumps and notifications carry it): what tells a peer's SAs apart. */
  src: string | undefined;
  dst: string;
  proto: 'esp' | 'ah';
}

function protoText(proto: number): 'esp' | 'ah' | undefined {
  if (proto === IPPROTO_ESP) return 'esp';
  if (proto === IPPROTO_AH) return 'ah';
  return undefined;
}

/** The shared name of an SA, or undefined when sync does not replicate it. */
function nameOf(saId: SaId, mark: Mark | undefined): string | undefined {
  const family = familyName(saId.family);
  const proto = protoText(saId.proto);
  if (!family || !proto || !isReachableSpi(saId.spi)) return undefined;
  return saKey(family, formatAddress(saId.daddr, saId.family), saId.spi, proto, mark ?? null);
}

export function nameOfAe(ae: AeMessage): string | undefined {
  return nameOf(ae.id.saId, ae.mark);
}

/** `esn`: XFRM_STATE_ESN in the SA's flags (false when unknown, the safer guard). */
export function localSaInfo(saId: SaId, mark: Mark | undefined, esn: boolean, saddr?: Buffer): LocalSaInfo | undefined {
  const family = familyName(saId.family);
  const proto = protoText(saId.proto);
  if (!family || !proto || !isReachableSpi(saId.spi)) return undefined;
  const dst = formatAddress(saId.daddr, saId.family);
  // A copy: the decoded address is a view into a datagram that will be reused.
  const key = { saId: { ...saId, daddr: Buffer.from(saId.daddr) }, mark };
  const src = saddr ? formatAddress(saddr, saId.family) : undefined;
  return { key, name: saKey(family, dst, saId.spi, proto, mark ?? null), esn, family, src, dst, proto };
}

export function localSaFromEntry(entry: SaEntry): LocalSaInfo | undefined {
  return localSaInfo(entry.info.saId, entry.mark, (entry.info.flags & XFRM_STATE_ESN) !== 0, entry.info.saddr);
}

/**
 * What tells one peer's SAs in one direction apart, whatever their SPI: family, addresses,
 * protocol and mark. An IKE daemon's new SA for the same pair shares it with the SA it
 * replaces (installer.ts retires a replicated SA once the daemon's own carries its traffic).
 */
export function pathOf(sa: Pick<LocalSaInfo, 'family' | 'src' | 'dst' | 'proto' | 'key'>): string {
  const mark = sa.key.mark;
  return `${sa.family} ${sa.src ?? '?'} > ${sa.dst} ${sa.proto}${mark ? ` mark 0x${mark.value.toString(16)}/0x${mark.mask.toString(16)}` : ''}`;
}
