import { attributeString, parseAttributes, payloadU32 } from './attributes.js';
import { align4, readS32, readU32 } from './bytes.js';
import { NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_HDRLEN, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS } from './constants.js';
import { DecodeError } from './errors.js';
import type { NetlinkMessage } from './message.js';

export interface AckInfo {
  /** 0 for a positive ack, otherwise a positive errno. */
  errno: number;
  /** Extended-ack text (NLMSGERR_ATTR_MSG). */
  kernelMessage?: string;
  /** Extended-ack offset into the request (NLMSGERR_ATTR_OFFS). */
  attributeOffset?: number;
}

/** Decode an NLMSG_ERROR payload: `int error; struct nlmsghdr msg; [request payload]; [TLVs]`. */
export function parseAck(message: NetlinkMessage): AckInfo {
  const payload = message.payload;
  if (payload.length < 4 + NLMSG_HDRLEN) {
    throw new DecodeError(`NLMSG_ERROR payload of ${payload.length} bytes, expected at least ${4 + NLMSG_HDRLEN}`);
  }
  const error = readS32(payload, 0);
  if (error > 0) throw new DecodeError(`NLMSG_ERROR carries a positive error code ${error}`);
  const ack: AckInfo = { errno: error === 0 ? 0 : -error };
  if ((message.flags & NLM_F_ACK_TLVS) === 0) return ack;

  // The echoed request is cut to its header when the socket set NETLINK_CAP_ACK (or on
  // success); otherwise the whole request sits between the header and the TLVs.
  let tlvStart = 4 + NLMSG_HDRLEN;
  if ((message.flags & NLM_F_CAPPED) === 0) {
    const echoedLength = readU32(payload, 4);
    if (echoedLength < NLMSG_HDRLEN || echoedLength > payload.length - 4) {
      throw new DecodeError(`echoed request length ${echoedLength} does not fit the ${payload.length}-byte NLMSG_ERROR payload`);
    }
    tlvStart = Math.min(4 + align4(echoedLength), payload.length);
  }
  for (const attribute of parseAttributes(payload, tlvStart)) {
    if (attribute.type === NLMSGERR_ATTR_MSG) {
      const text = attributeString(attribute);
      if (text.length > 0) ack.kernelMessage = text;
    } else if (attribute.type === NLMSGERR_ATTR_OFFS) {
      ack.attributeOffset = payloadU32(attribute.payload, 'NLMSGERR_ATTR_OFFS');
    }
  }
  return ack;
}
