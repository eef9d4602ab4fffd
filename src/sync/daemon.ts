// Wiring of `sync receive`: transport -> lines -> decoder -> receiver, the SA group for local
// SAs, the control socket, the metrics file, and the signals that end it.
import type { XfrmClient } from '../xfrm/client.js';
import { toJson } from '../xfrm/json.js';
import { startControlServer, type ControlCommand } from './control.js';
import { openEventIntake } from './intake.js';
import { LineSplitter } from '../line-reader.js';
import { writeMetricsFile } from './metrics.js';
import { SyncReceiver, type Mode } from './receiver.js';
import { statusOf, takeoverAnswer, totalsOf, type LinkState } from './status.js';
import { decodeLine, StreamError } from './stream-decode.js';
import { MAX_STREAM_LINE_BYTES } from './stream.js';
import { CommandTransport, StdinTransport, type Transport } from './transport.js';

export interface ReceiveOptions {
  /** A shell command whose stdout is the stream, or '-' for stdin. */
  from: string;
  mode: Mode;
  margin: number | 'auto';
  maxSas: number;
  heartbeatTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number };
  controlPath: string;
  metricsFile: string | undefined;
  receiveBufferBytes: number;
  /** Diagnostics, one line each. */
  note(message: string): void;
}

/** Stream errors are counted always but reported at most this often. */
const ERROR_REPORT_INTERVAL_MS = 10_000;
const METRICS_INTERVAL_MS = 1000;

class Connection {
  helloSeen = false;
  snapshotSeen = false;
}

/** Runs until SIGINT/SIGTERM (status 0) or a stream version this xaev cannot read (status 1). */
export async function runReceiver(client: XfrmClient, options: ReceiveOptions): Promise<number> {
  const receiver = new SyncReceiver(client, { mode: options.mode, margin: options.margin, maxSas: options.maxSas, onError: options.note });
  const link: LinkState = { connected: false, lastDisconnect: undefined, command: options.from };
  const intake = openEventIntake(options.receiveBufferBytes);
  let failIntake: ((message: string) => void) | undefined;
  intake.start({
    onAevent: (ae, pid) => receiver.onLocalAevent(ae, pid),
    onSa: (notice) => receiver.onLocalSa(notice),
    // Missed SA changes: read the whole table again.
    onLost: () => {
      try {
        receiver.loadLocalSas();
      } catch (error) {
        failIntake?.(`reading the local SAs again failed: ${(error as Error).message}`);
      }
    },
    onMalformed: (error) => options.note(`skipped a malformed SA notification: ${error.message}`),
    onError: (error) => failIntake?.(`watching local SAs failed: ${error.message}`),
  });
  receiver.loadLocalSas();
  const control = await startControlServer(options.controlPath, (command) => answer(command, receiver, link));

  return new Promise<number>((resolve) => {
    let transport: Transport | undefined;
    let metricsTimer: NodeJS.Timeout | undefined;
    const finish = (status: number): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      transport?.stop();
      if (metricsTimer) clearInterval(metricsTimer);
      intake.stop();
      control.close();
      resolve(status);
    };
    const onSignal = (): void => finish(0);
    failIntake = (message) => {
      options.note(message);
      finish(1);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    transport = openTransport(options, receiver, link, (fatal) => {
      options.note(fatal);
      finish(1);
    });
    transport.start();
    if (options.metricsFile !== undefined) {
      const path = options.metricsFile;
      let failing = false;
      metricsTimer = setInterval(() => {
        try {
          writeMetricsFile(path, totalsOf(receiver, link));
          failing = false;
        } catch (error) {
          // Said once per failure spell: the receiver's job goes on without its metrics.
          if (!failing) options.note(`cannot write the metrics file ${path}: ${(error as Error).message}`);
          failing = true;
        }
      }, METRICS_INTERVAL_MS);
    }
  });
}

function answer(command: ControlCommand, receiver: SyncReceiver, link: LinkState): string {
  const started = performance.now();
  if (command === 'status') return toJson(statusOf(receiver, link, Date.now()));
  if (command === 'release') {
    receiver.release();
    return toJson({ ok: true, role: receiver.role });
  }
  const result = receiver.takeover();
  return toJson(takeoverAnswer(result, Math.round(performance.now() - started), receiver.lastApply));
}

function openTransport(options: ReceiveOptions, receiver: SyncReceiver, link: LinkState, fail: (message: string) => void): Transport {
  let connection = new Connection();
  let lastReport = 0;
  const reportError = (message: string): void => {
    receiver.store.totals.streamErrors++;
    const now = Date.now();
    if (now - lastReport < ERROR_REPORT_INTERVAL_MS) return;
    lastReport = now;
    options.note(`refused a stream line: ${message} (${receiver.store.totals.streamErrors} so far; see xaev sync status)`);
  };
  const splitter = new LineSplitter(MAX_STREAM_LINE_BYTES, {
    onOversize: (bytes) => reportError(`a line of ${bytes} bytes, longer than ${MAX_STREAM_LINE_BYTES}`),
    onLine: (line) => {
      if (line.length === 0) return;
      try {
        const record = decodeLine(line);
        if (!connection.helloSeen && record.type !== 'hello') {
          return reportError('the stream does not start with a hello record (is the command `xaev sync send`?)');
        }
        connection.helloSeen = true;
        const refusedBefore = receiver.store.totals.refusedSas;
        receiver.take(record);
        if (refusedBefore === 0 && receiver.store.totals.refusedSas > 0) {
          options.note(`the peer has more SAs than --max-sas ${options.maxSas}: the others are not synced and takeover will report it (raise --max-sas)`);
        }
        if (record.type === 'snapshot-end' && !connection.snapshotSeen) {
          // One line per connection, so the log shows when the standby became current.
          connection.snapshotSeen = true;
          transport.healthy();
          options.note(`following ${receiver.store.peer?.node ?? 'the peer'}: snapshot of ${record.count} SAs received`);
        }
      } catch (error) {
        if (!(error instanceof StreamError)) throw error;
        if (error.fatal) fail(error.message);
        else reportError(error.message);
      }
    },
  });
  const handlers = {
    onConnect: (attempt: number) => {
      if (attempt > 1) receiver.totals.reconnects++;
      connection = new Connection();
      splitter.reset();
      link.connected = true;
    },
    onData: (chunk: Buffer) => splitter.push(chunk),
    onDisconnect: (reason: string, retryInMs: number | undefined) => {
      // A record cut off by the end of the connection is refused like any bad line, not lost silently.
      if (splitter.incompleteBytes > 0) reportError(`the stream ended inside a line (${splitter.incompleteBytes} bytes without a newline)`);
      link.connected = false;
      link.lastDisconnect = reason;
      const retry = retryInMs === undefined ? 'state kept until takeover' : `reconnecting in ${(retryInMs / 1000).toFixed(1)} s`;
      options.note(`sync stream ended: ${reason}; ${retry}`);
    },
  };
  const transport: Transport =
    options.from === '-' ? new StdinTransport(handlers) : new CommandTransport(options.from, options.heartbeatTimeoutMs, options.backoff, handlers);
  return transport;
}
