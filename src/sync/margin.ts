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
