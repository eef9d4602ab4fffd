// The events sync needs, from the xfrm layer's subscription (src/xfrm/events.ts): aevents
// with the nlmsg pid that tells our own writes apart, SA changes (new, updated, deleted,
// hard-expired), policy changes and flushes when asked for, and losses. A narrow interface,
// so the engine can be driven without a kernel.
import type { DecodeError } from '../netlink/errors.js';
import type { AeMessage } from '../xfrm/aevent.js';
import { EventSubscription, type EventLoss, type PolicyChangeEvent, type SaChangeEvent, type XfrmEvent } from '../xfrm/events.js';
import type { XfrmPolicy } from '../xfrm/policy-message.js';
import type { XfrmSa } from '../xfrm/sa-message.js';
import type { Mark, SaId } from '../xfrm/structs.js';

/**
 * An SA as the SA group reports it; esn is undefined when the message held no usersa_info.
 * `sa` is the whole SA, keys included, valid during the call only (its addresses are views
 * into the datagram); `pid` is the nlmsg_pid of the request that caused it
 * (net/xfrm/xfrm_user.c: xfrm_add_sa(), `c.portid = nlh->nlmsg_pid`), which tells sync's own
 * writes apart (echo.ts).
 */
export interface SaNotice {
  change: 'new' | 'update' | 'delete';
  saId: SaId;
  mark: Mark | undefined;
  esn: boolean | undefined;
  sa: XfrmSa;
  pid: number;
}

/** A policy as the policy group reports it (a hard expiry is a delete); `policy` valid during the call only. */
export interface PolicyNotice {
  change: 'new' | 'update' | 'delete';
  policy: XfrmPolicy;
  pid: number;
}

export interface IntakeHandlers {
  /** `pid` is the event's nlmsg_pid: for CU events, the writer's (docs/kernel/events.md). */
  onAevent(ae: AeMessage, pid: number): void;
  onSa(notice: SaNotice): void;
  /** Policy changes; only delivered when the intake was opened with policies. */
  onPolicy?(notice: PolicyNotice): void;
  /** A flush of every SA or policy (XFRM_MSG_FLUSHSA/FLUSHPOLICY): what was known of them is void. */
  onFlush?(what: 'sa' | 'policy'): void;
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
  return { change, saId: event.saId, mark: event.mark, esn: event.esn, sa: event.sa, pid: event.message.pid };
}

function policyNoticeOf(event: PolicyChangeEvent): PolicyNotice | undefined {
  if (event.change === 'expire' && !event.hard) return undefined;
  return { change: event.change === 'expire' ? 'delete' : event.change, policy: event.policy, pid: event.message.pid };
}

function dispatch(event: XfrmEvent, handlers: IntakeHandlers): void {
  if (event.kind === 'aevent') handlers.onAevent(event.ae, event.message.pid);
  else if (event.kind === 'sa') {
    const notice = noticeOf(event);
    if (notice) handlers.onSa(notice);
  } else if (event.kind === 'policy') {
    const notice = policyNoticeOf(event);
    if (notice) handlers.onPolicy?.(notice);
  } else if (event.kind === 'flush') handlers.onFlush?.(event.what);
  else if (event.kind === 'malformed') handlers.onMalformed(event.error);
}

class SubscriptionIntake implements EventIntake {
  private subscription: EventSubscription | undefined;
  constructor(
    private readonly receiveBufferBytes: number,
    private readonly policies: boolean,
  ) {}

  start(handlers: IntakeHandlers): void {
    this.subscription = EventSubscription.open({
      saChanges: true,
      policyChanges: this.policies,
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

/** Opens in the calling thread's network namespace when started; `policies` joins the policy group too. */
export function openEventIntake(receiveBufferBytes: number, options: { policies?: boolean } = {}): EventIntake {
  return new SubscriptionIntake(receiveBufferBytes, options.policies ?? false);
}
