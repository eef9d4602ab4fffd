// The events sync needs, from the xfrm layer's subscription (src/xfrm/events.ts): aevents
// with the nlmsg pid that tells our own writes apart, SA changes (new, updated, deleted,
// hard-expired), and losses. A narrow interface, so the engine can be driven without a kernel.
import type { DecodeError } from '../netlink/errors.js';
import type { AeMessage } from '../xfrm/aevent.js';
import { EventSubscription, type EventLoss, type SaChangeEvent, type XfrmEvent } from '../xfrm/events.js';
import type { Mark, SaId } from '../xfrm/structs.js';

/** An SA as the SA group reports it; esn is undefined when the message held no usersa_info. */
export interface SaNotice {
  change: 'new' | 'update' | 'delete';
  saId: SaId;
  mark: Mark | undefined;
  esn: boolean | undefined;
}

export interface IntakeHandlers {
  /** `pid` is the event's nlmsg_pid: for CU events, the writer's (docs/kernel/events.md). */
  onAevent(ae: AeMessage, pid: number): void;
  onSa(notice: SaNotice): void;
  /** Events that never arrived: an overrun (count, if readable) or a truncated datagram. */
  onLost(count: number | undefined, reason: 'overrun' | 'truncated'): void;
  onMalformed(error: DecodeError): void;
  /** Receiving failed and has stopped. */
  onError(error: Error): void;
}

export interface EventIntake {
  start(handlers: IntakeHandlers): void;
  stop(): void;
  /** Stop delivering (a reader that fell behind); what the kernel then drops is reported as lost on resume(). */
  pause(): void;
  resume(): void;
}

/** A hard expiry removes the SA like a DELSA; a soft one changes nothing sync keeps. */
function noticeOf(event: SaChangeEvent): SaNotice | undefined {
  if (event.change === 'expire' && !event.hard) return undefined;
  const change = event.change === 'expire' ? 'delete' : event.change;
  return { change, saId: event.saId, mark: event.mark, esn: event.esn };
}

function dispatch(event: XfrmEvent, handlers: IntakeHandlers): void {
  if (event.kind === 'aevent') handlers.onAevent(event.ae, event.message.pid);
  else if (event.kind === 'sa') {
    const notice = noticeOf(event);
    if (notice) handlers.onSa(notice);
  } else if (event.kind === 'malformed') handlers.onMalformed(event.error);
}

class SubscriptionIntake implements EventIntake {
  private subscription: EventSubscription | undefined;
  constructor(private readonly receiveBufferBytes: number) {}

  start(handlers: IntakeHandlers): void {
    this.subscription = EventSubscription.open({
      saChanges: true,
      receiveBufferBytes: this.receiveBufferBytes,
      onEvents: (events) => {
        for (const event of events) dispatch(event, handlers);
      },
      onLoss: (loss: EventLoss) => handlers.onLost(loss.kind === 'overrun' ? loss.events : undefined, loss.kind),
      onError: (error) => handlers.onError(error),
    });
  }

  stop(): void {
    this.subscription?.close();
    this.subscription = undefined;
  }

  pause(): void {
    this.subscription?.pause();
  }

  resume(): void {
    this.subscription?.resume();
  }
}

/** Opens in the calling thread's network namespace when started. */
export function openEventIntake(receiveBufferBytes: number): EventIntake {
  return new SubscriptionIntake(receiveBufferBytes);
}
