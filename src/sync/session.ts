// The rules of a sync stream session as the receiver reads it (docs/sync.md "The stream"), in
// one place. A connection's bytes are split into lines (at most MAX_STREAM_LINE_BYTES each)
// and decoded; its first record must be a hello; its first complete snapshot is said once
// and makes the connection healthy (the transport's backoff starts afresh). A line that is
// not a record, or one cut off by the end of the connection, is counted and reported at most
// every ERROR_REPORT_INTERVAL_MS; a version this xaev cannot read ends the receiver. The
// session also keeps the link's state for status.
import { LineSplitter } from '../line-reader.js';
import type { SyncReceiver } from './receiver.js';
import { decodeLine } from './stream-decode.js';
import { StreamError } from './stream-fields.js';
import { MAX_STREAM_LINE_BYTES, type StreamRecord } from './stream.js';
import type { TransportHandlers } from './transport.js';

/** Stream errors are counted always but reported at most this often. */
const ERROR_REPORT_INTERVAL_MS = 10_000;

export interface LinkState {
  connected: boolean;
  /** Why the last connection ended, if it did. */
  lastDisconnect: string | undefined;
  /** Where the stream comes from: the --from command, or '-'. */
  command: string;
}

export interface SessionHandlers {
  /** Diagnostics, one line each. */
  note(message: string): void;
  /** The stream cannot be read at all (a version this xaev does not speak): the receiver ends. */
  fatal(message: string): void;
  /** A complete snapshot arrived on this connection. */
  healthy(): void;
}

/** What one connection has shown so far. */
interface Connection {
  helloSeen: boolean;
  snapshotSeen: boolean;
}

export class StreamSession implements TransportHandlers {
  readonly link: LinkState;
  /** Lines refused as not being records, over all connections. */
  streamErrors = 0;
  reconnects = 0;
  private connection: Connection = { helloSeen: false, snapshotSeen: false };
  private readonly splitter: LineSplitter;
  private lastReportAt: number | undefined;
  private refusalSaid = false;

  constructor(
    private readonly receiver: SyncReceiver,
    command: string,
    private readonly handlers: SessionHandlers,
    private readonly now: () => number = Date.now,
  ) {
    this.link = { connected: false, lastDisconnect: undefined, command };
    this.splitter = new LineSplitter(MAX_STREAM_LINE_BYTES, {
      onOversize: (bytes) => this.refuse(`a line of ${bytes} bytes, longer than ${MAX_STREAM_LINE_BYTES}`),
      onLine: (line) => this.line(line),
    });
  }

  onConnect(attempt: number): void {
    if (attempt > 1) this.reconnects++;
    this.connection = { helloSeen: false, snapshotSeen: false };
    this.splitter.reset();
    this.link.connected = true;
  }

  onData(chunk: Buffer): void {
    this.splitter.push(chunk);
  }

  onDisconnect(reason: string, retryInMs: number | undefined): void {
    // A record cut off by the end of the connection is refused like any bad line, not lost silently.
    const cut = this.splitter.incompleteBytes;
    if (cut > 0) this.refuse(`the stream ended inside a line (${cut} bytes without a newline)`);
    this.link.connected = false;
    this.link.lastDisconnect = reason;
    const retry = retryInMs === undefined ? 'state kept until takeover' : `reconnecting in ${(retryInMs / 1000).toFixed(1)} s`;
    this.handlers.note(`sync stream ended: ${reason}; ${retry}`);
  }

  private line(line: string): void {
    if (line.length === 0) return;
    let record: StreamRecord;
    try {
      record = decodeLine(line);
    } catch (error) {
      if (!(error instanceof StreamError)) throw error;
      if (error.fatal) this.handlers.fatal(error.message);
      else this.refuse(error.message);
      return;
    }
    if (!this.connection.helloSeen && record.type !== 'hello') {
      return this.refuse('the stream does not start with a hello record (is the command `xaev sync send`?)');
    }
    this.connection.helloSeen = true;
    const { refused } = this.receiver.take(record);
    if (refused && !this.refusalSaid) {
      this.refusalSaid = true;
      this.handlers.note(`the peer has more SAs than --max-sas ${this.receiver.maxSas}: the others are not synced and takeover will report it (raise --max-sas)`);
    }
    if (record.type === 'snapshot-end' && !this.connection.snapshotSeen) {
      // One line per connection, so the log shows when the standby became current.
      this.connection.snapshotSeen = true;
      this.handlers.healthy();
      this.handlers.note(`following ${this.receiver.store.peer?.node ?? 'the peer'}: snapshot of ${record.count} SAs received`);
    }
  }

  private refuse(message: string): void {
    this.streamErrors++;
    const now = this.now();
    if (this.lastReportAt !== undefined && now - this.lastReportAt < ERROR_REPORT_INTERVAL_MS) return;
    this.lastReportAt = now;
    this.handlers.note(`refused a stream line: ${message} (${this.streamErrors} so far; see xaev sync status)`);
  }
}
