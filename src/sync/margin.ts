// How far ahead of the peer's last synced outbound counter a standby puts its own, so that
// after a takeover it never sends a sequence number the remote end has already seen
// (docs/sync.md "Margin"). Too small: the remote drops our first packets as replays (with
// AES-GCM, a reused nonce). Too large: sequence space is spent, which matters only for
// legacy 32-bit SAs (capped below 2^32) and not at all for ESN SAs (capped far below 2^31).

/** The smallest margin ever applied: covers bursts the rate estimate cannot see. */
export const MARGIN_FLOOR = 128;
/** ESN: the remote infers seq-hi from a window around its last seq; a jump must stay well below 2^31. */
export const ESN_MAX_JUMP = 2 ** 30;
/** The estimate is doubled: traffic may burst above its recent average just before a failure. */
const SAFETY_FACTOR = 2;
/** Weight of the newest interval in the rate average. */
const RATE_SMOOTHING = 0.3;

/** Outbound packet rate of one SA, from successive synced oseq values and the sender's clock. */
export class RateEstimate {
  private lastCounter: bigint | undefined;
  private lastTimeMs = 0;
  private average = 0;
  private latest = 0;

  observe(counter: bigint, timeMs: number): void {
    if (this.lastCounter !== undefined && timeMs > this.lastTimeMs && counter >= this.lastCounter) {
      const rate = (Number(counter - this.lastCounter) * 1000) / (timeMs - this.lastTimeMs);
      this.average = this.average === 0 ? rate : RATE_SMOOTHING * rate + (1 - RATE_SMOOTHING) * this.average;
      this.latest = rate;
    }
    // A counter that went down is a new SA behind the same key (or a bad peer): start again.
    if (this.lastCounter !== undefined && counter < this.lastCounter) this.average = this.latest = 0;
    this.lastCounter = counter;
    this.lastTimeMs = timeMs;
  }

  /** Packets per second: the higher of the latest interval and the smoothed average. */
  get packetsPerSecond(): number {
    return Math.max(this.latest, this.average);
  }
}

export interface MarginInputs {
  packetsPerSecond: number;
  /** The sender's thresholds (hello): an event at least every rthr packets or etime ms of change. */
  rthr: number;
  etimeMs: number;
  /** Observed transport delay (receive time minus the sender's stamp, never below 0). */
  delayMs: number;
  /** How long ago anything (a heartbeat included) last arrived from the sender. */
  silenceMs: number;
  heartbeatIntervalMs: number;
}

/**
 * Packets the peer may have sent that this node has not heard of: up to one threshold's worth
 * (whichever of rthr and etime fires first) plus what was sent while records were in flight
 * or the stream was silent for longer than a heartbeat interval. Then doubled, with a floor.
 */
export function autoMargin(inputs: MarginInputs): number {
  const rate = inputs.packetsPerSecond;
  const perThreshold = (rate * inputs.etimeMs) / 1000;
  const unreported = inputs.rthr > 0 ? Math.min(inputs.rthr, perThreshold) : perThreshold;
  const silentMs = Math.max(0, inputs.silenceMs - inputs.heartbeatIntervalMs);
  const inFlight = (rate * (inputs.delayMs + silentMs)) / 1000;
  return Math.max(MARGIN_FLOOR, Math.ceil(SAFETY_FACTOR * (unreported + inFlight)));
}

/** A steady rate spans at least this much of the sender's clock: single intervals jitter by 10 % and more. */
const STEADY_SPAN_MS = 10_000;

interface Sample {
  counter: bigint;
  timeMs: number;
}

/**
 * Inbound packet rate of one SA, from synced seq values and the sender's clock, over the last
 * 10 to 20 s: the inbound advance's rate, which must not run high (every packet it adds beyond
 * a window drops one of the remote's), unlike the outbound rate above, which may. Measured up
 * to when the sender was last heard, so an SA that went idle before a silence shows a falling
 * rate. Three samples per SA.
 */
export class SteadyRate {
  /** Start of the span before the current one, start of the current one, newest sample. */
  private previous: Sample | undefined;
  private anchor: Sample | undefined;
  private last: Sample | undefined;

  observe(counter: bigint, timeMs: number): void {
    // A counter that went down is a new SA behind the same key (or a bad peer): start again.
    if (this.last && (counter < this.last.counter || timeMs < this.last.timeMs)) this.previous = this.anchor = undefined;
    this.last = { counter, timeMs };
    if (!this.anchor) this.anchor = this.last;
    else if (timeMs - this.anchor.timeMs >= STEADY_SPAN_MS) {
      this.previous = this.anchor;
      this.anchor = this.last;
    }
  }

  /** Packets per second from the older span's start to `heardMs` (the sender's clock when it was last heard). */
  packetsPerSecond(heardMs: number | undefined): number {
    const from = this.previous ?? this.anchor;
    if (!from || !this.last) return 0;
    const span = Math.max(this.last.timeMs, heardMs ?? 0) - from.timeMs;
    return span > 0 ? (Number(this.last.counter - from.counter) * 1000) / span : 0;
  }
}

/** The stream counts as silent once this many heartbeat intervals passed without a record. */
const SILENT_AFTER_HEARTBEATS = 2;

export interface InboundHoleInputs {
  /** The SA's inbound packet rate before the silence (SteadyRate). */
  packetsPerSecond: number;
  /** How long ago anything (a heartbeat included) last arrived from the sender. */
  silenceMs: number;
  heartbeatIntervalMs: number;
}

/** What a silence adds to an inbound SA's replay hole (docs/sync.md "Inbound hole"). */
export interface InboundHole {
  /** The silence counted: 0 while the stream is up (a record within two heartbeat intervals). */
  silenceMs: number;
  /**
   * Packets the peer may have accepted during the silence, which this node's window does not
   * know of: rate x silence. An upper estimate: the peer may have failed at any time in it.
   */
  packets: number;
}

/** Whether the stream counts as silent: nothing, not even a heartbeat, for two heartbeat intervals. */
export function streamSilent(silenceMs: number, heartbeatIntervalMs: number): boolean {
  return silenceMs > SILENT_AFTER_HEARTBEATS * heartbeatIntervalMs;
}

/**
 * The inbound hole of a silent stream. While the stream is up the hole is bounded by the
 * thresholds (min(rthr, rate x etime) plus the transport delay) and this says 0; once two
 * heartbeats are missed, the whole silence counts, since the peer may have kept accepting
 * packets until the takeover.
 */
export function silentInboundHole(inputs: InboundHoleInputs): InboundHole {
  if (!streamSilent(inputs.silenceMs, inputs.heartbeatIntervalMs)) return { silenceMs: 0, packets: 0 };
  return { silenceMs: inputs.silenceMs, packets: Math.ceil((inputs.packetsPerSecond * inputs.silenceMs) / 1000) };
}

/**
 * How far above the synced seq a takeover puts an inbound window's top (sync receive
 * --inbound-advance): the inbound traffic of the silence beyond `graceMs`, at the rate
 * measured before it, rounded down; 0 while the stream is up. The grace stands for the
 * failover itself (from the peer's failure to notify_master), when the peer accepted nothing:
 * the silence includes it, and every packet counted for it moves the window past numbers the
 * remote end has not sent yet. No safety factor, unlike the outbound margin: an advance more
 * than a window beyond the remote's position drops its next packets one for one, while one
 * short by k leaves k + window replayable numbers (docs/sync.md "Inbound advance").
 */
export function inboundAdvance(hole: InboundHole, packetsPerSecond: number, graceMs: number): number {
  // hole.silenceMs is 0 while the stream is up: nothing to advance then, whatever the grace.
  return Math.floor((packetsPerSecond * Math.max(0, hole.silenceMs - graceMs)) / 1000);
}
