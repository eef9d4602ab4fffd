// Stand-in for the xfrm layer's event subscription (src/xfrm/events.ts, being written in
// parallel): joins the aevent and SA groups on one socket and hands over decoded aevents
// (with the nlmsg pid that tells our own writes apart), SA additions, updates and deletions,
// and lost-event counts. Kept behind this narrow interface so the swap is one file.
import { parseAttributes, payloadU8 } from '../netlink/attributes.js';
import { readSocketDrops } from '../netlink/drops.js';
import { DecodeError } from '../netlink/errors.js';
import type { NetlinkMessage } from '../netlink/message.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { decodeAePayload, type AeMessage } from '../xfrm/aevent.js';
import {
  NETLINK_XFRM,
  SIZEOF_USERSA_ID,
  SIZEOF_USERSA_INFO,
  XFRM_MSG_DELSA,
  XFRM_MSG_NEWAE,
  XFRM_MSG_NEWSA,
  XFRM_MSG_UPDSA,
  XFRMA_MARK,
  XFRMA_SA,
  XFRMA_SA_DIR,
  XFRMNLGRP_AEVENTS,
  XFRMNLGRP_SA,
} from '../xfrm/constants.js';
import { decodeMark, decodeSaId, decodeUsersaInfo, type Mark, type UsersaInfo } from '../xfrm/structs.js';

export type SaChange = 'new' | 'update' | 'delete';

/** An SA as the SA group reports it. */
export interface SaNotice {
  change: SaChange;
  info: UsersaInfo;
  mark: Mark | undefined;
  /** XFRMA_SA_DIR (6.10+). */
  direction: number | undefined;
}

export interface IntakeHandlers {
  /** `pid` is the event's nlmsg_pid: for CU events, the writer's (docs/kernel/events.md). */
  onAevent(ae: AeMessage, pid: number): void;
  onSa(notice: SaNotice): void;
  /** Events the kernel dropped (receive buffer overrun); undefined when it cannot be counted. */
  onLost(count: number | undefined): void;
  onDecodeError(error: DecodeError): void;
}

export interface EventIntake {
  start(handlers: IntakeHandlers): void;
  stop(): void;
}

/**
 * DELSA carries an xfrm_usersa_id with the full usersa_info in XFRMA_SA; NEWSA and UPDSA carry
 * the usersa_info itself (net/xfrm/xfrm_user.c: xfrm_notify_sa()).
 */
export function decodeSaNotice(message: NetlinkMessage): SaNotice {
  const deleted = message.type === XFRM_MSG_DELSA;
  const start = deleted ? SIZEOF_USERSA_ID : SIZEOF_USERSA_INFO;
  if (deleted) decodeSaId(message.payload, 0);
  let info = deleted ? undefined : decodeUsersaInfo(message.payload);
  const notice: Omit<SaNotice, 'info'> = { change: deleted ? 'delete' : message.type === XFRM_MSG_NEWSA ? 'new' : 'update', mark: undefined, direction: undefined };
  for (const attribute of parseAttributes(message.payload, start)) {
    if (attribute.type === XFRMA_SA && deleted) info = decodeUsersaInfo(attribute.payload);
    else if (attribute.type === XFRMA_MARK) notice.mark = decodeMark(attribute.payload);
    else if (attribute.type === XFRMA_SA_DIR) notice.direction = payloadU8(attribute.payload, 'XFRMA_SA_DIR');
  }
  if (!info) throw new DecodeError('XFRM_MSG_DELSA without XFRMA_SA');
  return { ...notice, info };
}

class SocketIntake implements EventIntake {
  private readonly socket: NetlinkSocket;
  private dropsSeen = 0;

  constructor(
    receiveBufferBytes: number,
    private readonly aevents: boolean,
  ) {
    this.socket = NetlinkSocket.open(NETLINK_XFRM, { receiveBufferBytes });
  }

  start(handlers: IntakeHandlers): void {
    if (this.aevents) this.socket.joinGroup(XFRMNLGRP_AEVENTS);
    this.socket.joinGroup(XFRMNLGRP_SA);
    this.dropsSeen = readSocketDrops(NETLINK_XFRM, this.socket.portId) ?? 0;
    this.socket.listen({
      onMessages: (messages) => {
        for (const message of messages) this.dispatch(message, handlers);
      },
      onOverrun: () => {
        const drops = readSocketDrops(NETLINK_XFRM, this.socket.portId);
        handlers.onLost(drops === undefined ? undefined : drops - this.dropsSeen);
        if (drops !== undefined) this.dropsSeen = drops;
      },
      onDecodeError: (error) => handlers.onDecodeError(error),
    });
  }

  private dispatch(message: NetlinkMessage, handlers: IntakeHandlers): void {
    try {
      if (message.type === XFRM_MSG_NEWAE) handlers.onAevent(decodeAePayload(message.payload), message.pid);
      else if (message.type === XFRM_MSG_NEWSA || message.type === XFRM_MSG_UPDSA || message.type === XFRM_MSG_DELSA) {
        handlers.onSa(decodeSaNotice(message));
      }
    } catch (error) {
      if (error instanceof DecodeError) handlers.onDecodeError(error);
      else throw error;
    }
  }

  stop(): void {
    this.socket.stopListening();
    this.socket.close();
  }
}

/** Opens in the calling thread's network namespace; SA group always, aevent group on request. */
export function openEventIntake(receiveBufferBytes: number, options: { aevents: boolean }): EventIntake {
  return new SocketIntake(receiveBufferBytes, options.aevents);
}

