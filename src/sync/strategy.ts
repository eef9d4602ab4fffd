// How a standby follows the peer (docs/sync.md "Receiver"), one strategy per --mode behind
// one interface: live applies soon after records arrive, coalescing what came meanwhile;
// cache holds the peer's state for the takeover and only rehearses it (reads and plans
// without writing), so that status shows what a takeover would do and the code a takeover
// runs is warm (a first, cold plan costs far more than a warm one: bench/README.md).
// A strategy decides when to apply and how; what is applied is apply.ts's, whether the node
// follows at all is role.ts's.
import { APPLY_CHANGES, REHEARSE, type ApplyOptions } from './apply.js';

export type Mode = 'live' | 'cache';

export interface ReceiveStrategy {
  readonly mode: Mode;
  /** The peer's state or the local SAs changed while this node is a standby. */
  changed(): void;
  /** Drop work not started yet: the node took over, or the receiver ends. */
  cancel(): void;
}

/** Runs one apply off the caller's stack; a failure is reported there and must not end the receiver. */
export type ApplyInBackground = (options: ApplyOptions) => void;

/** Cache mode rehearses a takeover this long after the first change, and at most this often. */
const REHEARSAL_MIN_DELAY_MS = 1000;
const REHEARSAL_INTERVAL_MS = 10_000;

class LiveStrategy implements ReceiveStrategy {
  readonly mode = 'live';
  private flush: NodeJS.Immediate | undefined;

  constructor(private readonly apply: ApplyInBackground) {}

  changed(): void {
    this.flush ??= setImmediate(() => {
      this.flush = undefined;
      this.apply(APPLY_CHANGES);
    });
  }

  cancel(): void {
    if (this.flush) clearImmediate(this.flush);
    this.flush = undefined;
  }
}

class CacheStrategy implements ReceiveStrategy {
  readonly mode = 'cache';
  private rehearsal: NodeJS.Timeout | undefined;
  private lastRehearsalAt = 0;

  constructor(
    private readonly apply: ApplyInBackground,
    private readonly now: () => number,
  ) {}

  changed(): void {
    if (this.rehearsal) return;
    const sinceLast = this.now() - this.lastRehearsalAt;
    const delay = Math.max(REHEARSAL_MIN_DELAY_MS, REHEARSAL_INTERVAL_MS - sinceLast);
    this.rehearsal = setTimeout(() => {
      this.rehearsal = undefined;
      this.lastRehearsalAt = this.now();
      this.apply(REHEARSE);
    }, delay);
    this.rehearsal.unref();
  }

  cancel(): void {
    if (this.rehearsal) clearTimeout(this.rehearsal);
    this.rehearsal = undefined;
  }
}

export function strategyFor(mode: Mode, apply: ApplyInBackground, now: () => number): ReceiveStrategy {
  return mode === 'live' ? new LiveStrategy(apply) : new CacheStrategy(apply, now);
}
