// `sync send`: replicate this node's SA counters as a stream (docs/sync.md "Sender"). Joins
// the aevent and SA groups first, then sets the thresholds on every replicated SA, writes a
// snapshot, and from then on one record per event, per SA change, and a heartbeat a second.
// After events were lost it says how many and sends a fresh snapshot.
import { NetlinkError } from '../netlink/errors.js';
import { refusedAsNotValid, type AeMessage } from '../xfrm/aevent.js';
import type { XfrmClient } from '../xfrm/client.js';
import { aeventCause } from '../xfrm/events.js';
import { knownHz, readBackProblem, resolveHz, timerJiffiesFor, type HzSource } from '../xfrm/timer-units.js';
import { isSyncWrite, SENDER_WRITE_PID } from './echo.js';
import { localSaFromEntry, localSaInfo, nameOfAe, type LocalSaInfo } from './identity.js';
import type { EventIntake, SaNotice } from './intake.js';
import {
  encodeGone,
  encodeHeartbeat,
  encodeHello,
  encodeLost,
  encodeSnapshotBegin,
  encodeSnapshotEnd,
  encodeSnapshotSa,
  encodeUpdate,
  HEARTBEAT_INTERVAL_MS,
} from './stream.js';

export interface SenderOptions {
  node: string;
  software: string;
  rthr: number;
  etimeMs: number;
  /** The kernel's HZ if the caller knows it; otherwise read from the kernel config or probed (timer-units.ts resolveHz). */
  hz?: number | undefined;
  /** Where the kernel's configuration is read (default: readConfiguredHz). */
  configuredHz?: () => HzSource | undefined;
  /** Returns false when the reader is behind: events pause until drained() resolves. */
  write(text: string): boolean | void;
  drained?: () => Promise<void>;
  warn(message: string): void;
  /** The one line saying why the sender ends with status 1 (default: warn). */
  error?: (message: string) => void;
  /** A failure that ends the sender (status 1); runSender provides it. */
  fail?: (message: string) => void;
  now?: () => number;
}

export interface SenderCounters {
  updates: number;
  ownWritesDropped: number;
  lost: number;
  snapshots: number;
}

export class SyncSender {
  readonly counters: SenderCounters = { updates: 0, ownWritesDropped: 0, lost: 0, snapshots: 0 };
  /** SAs whose thresholds are set, by shared name. */
  private readonly configured = new Map<string, LocalSaInfo>();
  private hz: number | undefined;
  private snapshotId = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** The reader has not taken what was written: events are paused. */
  private behind = false;
  /** A timer read back another period than etime: said once. */
  private timerWarned = false;

  constructor(
    private readonly client: XfrmClient,
    private readonly intake: EventIntake,
    private readonly options: SenderOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.hz = knownHz(options.hz, options.configuredHz);
  }

  /** Subscribe before the snapshot, so no change between the two is missed. */
  start(): void {
    this.intake.start({
      onAevent: (ae, pid) => this.onAevent(ae, pid),
      onSa: (notice) => this.guarded(() => this.onSa(notice)),
      onLost: (count, reason) => this.guarded(() => this.onLost(count, reason)),
      onMalformed: (error) => this.options.warn(`skipped a malformed message from the kernel: ${error.message}`),
      onError: (error) => this.options.fail?.(`receiving events failed: ${error.message}`),
    });
    const sas = this.localSas();
    // Probed before the hello, so that it can say the HZ (null only while no SA exists).
    this.hz = this.resolveHz(sas);
    const { node, software, rthr, etimeMs } = this.options;
    this.emit(encodeHello({ node, software, hz: this.hz ?? null, rthr, etimeMs, time: this.now() }));
    this.snapshot(sas);
    // A reader that is behind gets no heartbeats: they would only pile up unread.
    this.heartbeat = setInterval(() => {
      if (!this.behind) this.emit(encodeHeartbeat(this.now()));
    }, HEARTBEAT_INTERVAL_MS);
  }

  /**
   * Write records. A reader that falls behind (ssh stalled) pauses the events instead of
   * buffering them without bound: the kernel drops and counts what arrives meanwhile, which
   * becomes a `lost` record and a fresh snapshot once the reader has caught up.
   */
  private emit(text: string): void {
    if (this.options.write(text) !== false || this.behind || !this.options.drained) return;
    this.behind = true;
    this.intake.pause();
    void this.options.drained().then(() => {
      this.behind = false;
      this.intake.resume(); // nothing after stop(): the intake is closed
    });
  }

  /**
   * A kernel request that fails in an event handler (no answer, a dump cut short) ends the
   * sender with one line: the receiver reconnects and gets a complete snapshot, which is
   * better than a stream that silently missed a change.
   */
  private guarded(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.options.fail?.(`reading the SAs failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.intake.stop();
  }

  /** Every replicated SA: thresholds first (new ones only), then its state. */
  snapshot(sas = this.localSas()): void {
    const configuredNow = this.configure(sas.filter((sa) => !this.configured.has(sa.name)));
    const id = ++this.snapshotId;
    this.counters.snapshots++;
    let text = encodeSnapshotBegin(id, this.now());
    let count = 0;
    const states = this.client.getAeMany(sas.map((sa) => sa.key));
    // One reading of the clock for the states read together: where the clock is a system
    // call (no vDSO, as on user-mode Linux), one per SA would grow with the number of SAs.
    const readAt = this.now();
    states.forEach((state, i) => {
      if (state instanceof NetlinkError) return; // deleted since the dump
      if (configuredNow.has(sas[i]!.name)) this.checkTimer(state);
      text += encodeSnapshotSa(id, state, readAt);
      count++;
    });
    this.emit(text + encodeSnapshotEnd(id, count, readAt));
  }

  private localSas(): LocalSaInfo[] {
    const sas: LocalSaInfo[] = [];
    for (const entry of this.client.listSas()) {
      const sa = localSaFromEntry(entry);
      if (sa) sas.push(sa);
    }
    return sas;
  }

  /**
   * Set rthr and etime, stamped so that their CU events are recognised and dropped. SAs that
   * are not VALID yet (an IKE daemon's larval SA) refuse (refusedAsNotValid()) and are configured
   * when their UPDSA arrives.
   */
  private configure(sas: LocalSaInfo[]): Set<string> {
    const done = new Set<string>();
    if (sas.length === 0) return done;
    this.hz = this.resolveHz(sas);
    const timerJiffies = timerJiffiesFor(this.options.etimeMs, this.hz ?? 100);
    const update = { replayThreshold: this.options.rthr, timerJiffies };
    const results = this.client.newAeMany(sas.map((sa) => ({ key: sa.key, update })), SENDER_WRITE_PID);
    results.forEach((error, i) => {
      if (error === undefined) {
        this.configured.set(sas[i]!.name, sas[i]!);
        done.add(sas[i]!.name);
      } else if (error.code !== 'ESRCH' && !refusedAsNotValid(error)) this.options.warn(`cannot set thresholds on ${sas[i]!.name}: ${error.message}`);
    });
    return done;
  }

  /**
   * HZ by the rule `set` follows too; probed, when it must be, on the first SA that is VALID.
   * The probe's writes are stamped like the threshold writes: on a kernel without
   * /proc/config.gz its two CU events would otherwise go out as updates (docs/sync.md, own writes).
   */
  private resolveHz(sas: LocalSaInfo[]): number | undefined {
    return resolveHz(this.hz, { client: this.client, sas: sas.map((sa) => sa.key), pid: SENDER_WRITE_PID, required: false });
  }

  /** A timer just set that reads back another period means the HZ was wrong: said once, the stream goes on. */
  private checkTimer(state: AeMessage): void {
    if (this.timerWarned || this.hz === undefined) return;
    const problem = readBackProblem(this.options.etimeMs, state.timerThreshold100ms ?? 0, this.hz);
    if (!problem) return;
    this.timerWarned = true;
    this.options.warn(`thresholds on ${nameOfAe(state) ?? 'an SA'}: ${problem}; events come at another period than --etime`);
  }

  private onAevent(ae: AeMessage, pid: number): void {
    if (isSyncWrite(ae.id.flags, pid)) {
      this.counters.ownWritesDropped++;
      return;
    }
    if (nameOfAe(ae) === undefined) return;
    this.counters.updates++;
    this.emit(encodeUpdate(aeventCause(ae.id.flags), ae, this.now()));
  }

  /** New and updated SAs (rekeys) get the thresholds and are sent; deleted ones are announced. */
  private onSa(notice: SaNotice): void {
    const sa = localSaInfo(notice.saId, notice.mark, notice.esn ?? false);
    if (!sa) return;
    if (notice.change === 'delete') {
      this.configured.delete(sa.name);
      this.emit(encodeGone({ ...sa, spi: sa.key.saId.spi, mark: sa.key.mark ?? null }, this.now()));
      return;
    }
    const configuredNow = this.configure([sa]);
    let state: AeMessage;
    try {
      state = this.client.getAe(sa.key);
    } catch {
      return; // not VALID yet, or already gone: its UPDSA or DELSA follows
    }
    if (configuredNow.has(sa.name)) this.checkTimer(state);
    this.counters.updates++;
    this.emit(encodeUpdate('added', state, this.now()));
  }

  private onLost(count: number | undefined, reason: 'overrun' | 'truncated'): void {
    this.counters.lost += count ?? 0;
    this.emit(encodeLost(count ?? null, reason, this.now()));
    this.snapshot();
  }
}

/** Thresholds `sync send` sets unless told otherwise (docs/sync.md "Thresholds"). */
export const DEFAULT_RTHR = 256;
export const DEFAULT_ETIME_MS = 200;
/** Events of 1,000 busy SAs arriving at once must fit (an ESN event is about 1 KiB of buffer). */
export const SENDER_RCVBUF = 16 * 1024 * 1024;

/**
 * Runs `sync send` until `stop` is aborted (status 0: the CLI aborts it on SIGINT and
 * SIGTERM), until receiving events fails, or until `outputFailure` resolves (a failed stdout
 * write; reported through error, status 1); the stream goes to options.write.
 */
export function runSender(client: XfrmClient, intake: EventIntake, options: SenderOptions, stop: AbortSignal, outputFailure?: Promise<string>): Promise<number> {
  return new Promise((resolve) => {
    let ended = false;
    const finish = (status: number): void => {
      if (ended) return;
      ended = true;
      stop.removeEventListener('abort', onStop);
      sender.stop();
      resolve(status);
    };
    const onStop = (): void => finish(0);
    const fail = (message: string): void => {
      (options.error ?? options.warn)(message);
      finish(1);
    };
    const sender = new SyncSender(client, intake, { ...options, fail });
    if (stop.aborted) return finish(0);
    void outputFailure?.then(fail);
    stop.addEventListener('abort', onStop);
    try {
      sender.start();
    } catch (error) {
      stop.removeEventListener('abort', onStop);
      sender.stop();
      throw error;
    }
  });
}
