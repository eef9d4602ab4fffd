// The process around `sync receive`: the transport feeding the stream session (session.ts),
// the SA and aevent groups feeding the receiver, the control socket, the metrics file, and
// how it ends.
import type { XfrmClient } from '../xfrm/client.js';
import { toJson } from '../xfrm/json.js';
import { startControlServer, type ControlCommand, type ControlServer } from './control.js';
import { openEventIntake } from './intake.js';
import { ledgerPathFor } from './ledger.js';
import { writeMetricsFile } from './metrics.js';
import { SyncReceiver } from './receiver.js';
import { StreamSession } from './session.js';
import { releaseAnswer, statusOf, takeoverAnswer, totalsOf } from './status.js';
import type { Mode } from './strategy.js';
import { CommandTransport, DEFAULT_BACKOFF, StdinTransport, type BackoffOptions, type Transport } from './transport.js';

export interface ReceiveOptions {
  /** A shell command whose stdout is the stream, or '-' for stdin. */
  from: string;
  mode: Mode;
  margin: number | 'auto';
  maxSas: number;
  /** --inbound-advance: the silence a takeover does not count (ms); undefined: off. */
  inboundAdvanceGraceMs: number | undefined;
  heartbeatTimeoutMs: number;
  backoff?: BackoffOptions;
  controlPath: string;
  metricsFile: string | undefined;
  receiveBufferBytes: number;
  /** `--install`: install the peer's SAs and policies this node lacks (installer.ts); retire installed SAs after this long idle once taken over. */
  install?: { retireAfterMs: number };
  /** Diagnostics, one line each. */
  note(message: string): void;
}

const METRICS_INTERVAL_MS = 1000;

/**
 * Runs until `stop` is aborted (status 0: the CLI aborts it on SIGINT and SIGTERM), or until
 * a stream version this xaev cannot read or a failure to watch the local SAs (status 1).
 */
export async function runReceiver(client: XfrmClient, options: ReceiveOptions, stop: AbortSignal): Promise<number> {
  const receiver = new SyncReceiver(client, {
    mode: options.mode,
    margin: options.margin,
    maxSas: options.maxSas,
    // The ledger lives beside the control socket: one per network namespace, root's only.
    install: options.install ? { ledger: ledgerPathFor(options.controlPath), retireAfterMs: options.install.retireAfterMs } : undefined,
    inboundAdvanceGraceMs: options.inboundAdvanceGraceMs,
    onError: options.note,
    onNotice: options.note,
  });
  /** Ends the run with a status; set once the run is under way. */
  let end: (status: number) => void = () => undefined;
  let ended = false;
  const fail = (message: string): void => {
    options.note(message);
    end(1);
  };
  let transport: Transport | undefined;
  const session = new StreamSession(receiver, options.from, { note: options.note, fatal: fail, healthy: () => transport?.healthy() });
  const intake = openEventIntake(options.receiveBufferBytes, { policies: options.install !== undefined });
  // Missed or voided SA (and policy) changes: read the whole tables again.
  const reload = (): void => {
    if (ended) return; // the intake's close reports its last drops: no reading after the end
    try {
      receiver.loadLocalSas();
    } catch (error) {
      fail(`reading the local SAs again failed: ${(error as Error).message}`);
    }
  };
  intake.start({
    onAevent: (ae, pid) => receiver.onLocalAevent(ae, pid),
    onSa: (notice) => receiver.onLocalSa(notice),
    onPolicy: (notice) => receiver.onLocalPolicy(notice),
    onFlush: reload,
    onLost: reload,
    onMalformed: (error) => options.note(`skipped a malformed SA notification: ${error.message}`),
    onError: (error) => fail(`watching local SAs failed: ${error.message}`),
  });
  let control: ControlServer;
  try {
    receiver.loadLocalSas();
    control = await startControlServer(options.controlPath, (command) => answer(command, receiver, session));
  } catch (error) {
    intake.stop();
    throw error;
  }

  return new Promise<number>((resolve) => {
    let metricsTimer: NodeJS.Timeout | undefined;
    const onStop = (): void => end(0);
    end = (status) => {
      if (ended) return;
      ended = true;
      stop.removeEventListener('abort', onStop);
      transport?.stop();
      // The intake first: closing it delivers what it had queued, which the receiver still takes
      // as notices (nothing is scheduled after its own stop()).
      intake.stop();
      receiver.stop();
      if (metricsTimer) clearInterval(metricsTimer);
      control.close();
      resolve(status);
    };
    if (stop.aborted) return end(0);
    stop.addEventListener('abort', onStop);
    transport =
      options.from === '-'
        ? new StdinTransport(session)
        : new CommandTransport(options.from, options.heartbeatTimeoutMs, options.backoff ?? DEFAULT_BACKOFF, session);
    transport.start();
    if (options.metricsFile !== undefined) metricsTimer = writeMetricsEverySecond(options.metricsFile, receiver, session, options.note);
  });
}

function answer(command: ControlCommand, receiver: SyncReceiver, session: StreamSession): string {
  const started = performance.now();
  if (command === 'status') return toJson(statusOf(receiver, session, Date.now()));
  if (command === 'release') {
    receiver.release();
    return toJson(releaseAnswer(receiver.role));
  }
  const result = receiver.takeover();
  return toJson(takeoverAnswer(result, Math.round(performance.now() - started), receiver.lastApply));
}

function writeMetricsEverySecond(path: string, receiver: SyncReceiver, session: StreamSession, note: (message: string) => void): NodeJS.Timeout {
  let failing = false;
  return setInterval(() => {
    try {
      writeMetricsFile(path, totalsOf(receiver, session));
      failing = false;
    } catch (error) {
      // Said once per failure spell: the receiver's job goes on without its metrics.
      if (!failing) note(`cannot write the metrics file ${path}: ${(error as Error).message}`);
      failing = true;
    }
  }, METRICS_INTERVAL_MS);
}
