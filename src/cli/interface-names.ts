// Interface names by index, as iproute2 prints them (lib/ll_map.c: ll_index_to_name()): `*`
// for 0, the name of the interface with that index in the current network namespace
// (asked with RTM_GETLINK, as ip does), or `if<N>` when there is none. Only selectors with a
// device and offloaded SAs name one, so the route socket is opened on the first call only.
import { attributeString, parseAttributes } from '../netlink/attributes.js';
import { writeU32 } from '../netlink/bytes.js';
import { NetlinkError } from '../netlink/errors.js';
import { NetlinkSocket } from '../netlink/socket.js';

// uapi linux/netlink.h, linux/rtnetlink.h, linux/if_link.h: only this module speaks rtnetlink.
const NETLINK_ROUTE = 0;
const RTM_GETLINK = 18;
/** struct ifinfomsg: family, pad, type, index (int) @4, flags, change. */
const IFINFOMSG_BYTES = 16;
const IFINFOMSG_INDEX_AT = 4;
const IFLA_IFNAME = 3;

const names = new Map<number, string>();
let socket: NetlinkSocket | undefined;

function lookUp(index: number): string | undefined {
  socket ??= NetlinkSocket.open(NETLINK_ROUTE);
  const request = Buffer.alloc(IFINFOMSG_BYTES);
  writeU32(request, index, IFINFOMSG_INDEX_AT);
  try {
    const [reply] = socket.request({ type: RTM_GETLINK, parts: [request], completion: 'reply' });
    const name = reply && parseAttributes(reply.payload, IFINFOMSG_BYTES).find((attribute) => attribute.type === IFLA_IFNAME);
    return name ? attributeString(name) : undefined;
  } catch (error) {
    // No such interface (ENODEV), or no route socket: ip then prints if<N> too.
    if (error instanceof NetlinkError || (error as NodeJS.ErrnoException).code !== undefined) return undefined;
    throw error;
  }
}

/** The name iproute2 prints for an interface index (an unsigned int there). */
export function interfaceName(index: number): string {
  const unsigned = index >>> 0;
  if (unsigned === 0) return '*';
  let name = names.get(unsigned);
  if (name === undefined) {
    name = lookUp(unsigned) ?? `if${unsigned}`;
    names.set(unsigned, name);
  }
  return name;
}
