import type { Command } from 'commander';
import { DecodeError } from '../../netlink/errors.js';
import { eventMatches, EventSubscription, readEventFile, type EventLoss, type XfrmEvent } from '../../xfrm/events.js';
import type { SaIdFilter } from '../../xfrm/sa-filter.js';
import type { CliContext } from '../context.js';
import { CliError, systemErrorCause } from '../errors.js';
import { toJson } from '../../xfrm/json.js';
import { parseAddressOption, parseByteSize, parsePositiveInt, parseProto, parseSpi } from '../parse.js';
import { eventRecord } from '../record.js';
import { StopSignals } from '../signals.js';
import { exitAbandoningOutput, StreamOutput } from '../stream-output.js';
import { ipEventText } from '../ip-xfrm-text.js';
import { ipAeventText, lifetimeLines, localTimestamp, replayLines } from '../text.js';
import { shown } from '../user-text.js';

interface MonitorOptions {
  details?: boolean;
  timestamp?: boolean;
  spi?: string;
  dst?: string;
  proto?: string;
  count?: string;
  rcvbuf?: string;
  file?: string;
}

/** ip uses 1 MiB; bursts with a small replay threshold on many SAs need more. */
const DEFAULT_RCVBUF = 8 * 1024 * 1024;

export function registerMonitor(program: Command, context: CliContext): void {
  program
    .command('monitor')
    .description('print every aevent (replay, timer, update) as it happens, like `ip xfrm monitor aevent`')
    .option('--details', 'add the replay and lifetime counters of each event')
    .option('-t, --timestamp', 'prefix each event with the time it was received, like `ip -ts`')
    .option('--spi <spi>', 'only events of this SPI')
    .option('--dst <addr>', 'only events of SAs with this destination')
    .option('--proto <proto>', 'only events of this protocol: esp, ah or comp')
    .option('--count <n>', 'exit after N events')
    .option('--rcvbuf <bytes>', 'socket receive buffer (k/m suffixes allowed)', String(DEFAULT_RCVBUF))
    .option('--file <path>', 'decode netlink messages saved in a file instead of listening (like `ip xfrm monitor file`: SAs, policies, acquires, expires and flushes too)')
    .addHelpText(
      'after',
      `
Examples:
  xaev monitor                               same text as ip xfrm monitor aevent
  xaev monitor --details -t                  with counters and timestamps
  xaev -j monitor --spi 0x1000 --count 10    ten events of one SA as JSON lines
  xaev monitor | head -1                     exits quietly when the reader goes away

Ends with status 0 on SIGINT or SIGTERM, at once, even when the reader of stdout has stopped
reading (whole events it has not taken are dropped). Every event is printed or counted: on stderr,
'receive buffer overrun: N events lost' when the kernel dropped events (the socket was full:
raise --rcvbuf, or stdout was too slow), and a line for a datagram longer than the 64 KiB
read size. A --file is read as a stream; the events before a malformed message are printed,
then the error (status 1). With --file, every message type ip xfrm monitor prints is printed
as iproute2 6.1 prints it (SAs with their keys, policies, acquires, expires, flushes,
reports, default policies); -j prints aevents only.`,
    )
    .action((options: MonitorOptions) => runMonitor(context, options));
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Formats events as `ip xfrm monitor` does (or as JSON lines) and counts what it printed. */
class EventPrinter {
  printed = 0;
  constructor(
    private readonly context: CliContext,
    private readonly options: MonitorOptions,
    private readonly filter: SaIdFilter,
    private readonly limit: number | undefined,
  ) {}

  get done(): boolean {
    return this.limit !== undefined && this.printed >= this.limit;
  }

  /** The text of each event to print, one element per event (a unit StreamOutput never cuts). */
  format(events: XfrmEvent[], receivedAtMs: number | undefined): string[] {
    const texts: string[] = [];
    for (const event of events) {
      if (this.done) break;
      if (!eventMatches(event, this.filter)) continue;
      const text = this.formatOne(event, receivedAtMs);
      if (text) texts.push(text);
    }
    return texts;
  }

  private formatOne(event: XfrmEvent, receivedAtMs: number | undefined): string {
    const stamped = receivedAtMs !== undefined && this.options.timestamp;
    const stamp = stamped ? `[${localTimestamp(receivedAtMs)}] ` : '';
    switch (event.kind) {
      case 'malformed':
        this.context.warn(
          event.message ? `skipped a malformed message (type ${event.message.type}): ${event.error.message}` : `skipped a malformed datagram: ${event.error.message}`,
        );
        return '';
      case 'ignored':
        return '';
      case 'aevent': {
        this.printed++;
        if (this.context.globals.json) return `${toJson(eventRecord(event.ae, stamped ? new Date(receivedAtMs).toISOString() : undefined))}\n`;
        const details = this.options.details ? [...replayLines(event.ae.replay, false), ...lifetimeLines(event.ae.lifetime)].join('\n') + '\n' : '';
        return stamp + ipAeventText(event.ae) + details;
      }
      default:
        // JSON lines describe aevents only; in text, other messages print as ip prints them.
        if (this.context.globals.json) return '';
        this.printed++;
        return stamp + ipEventText(event);
    }
  }
}
export async function runMonitor(context: CliContext, options: MonitorOptions): Promise<void> {
  const filter: SaIdFilter = {
    spi: options.spi === undefined ? undefined : parseSpi(options.spi),
    dst: options.dst === undefined ? undefined : parseAddressOption(options.dst, '--dst'),
    proto: options.proto === undefined ? undefined : parseProto(options.proto),
  };
  const limit = options.count === undefined ? undefined : parsePositiveInt(options.count, '--count');
  const rcvbuf = parseByteSize(options.rcvbuf ?? String(DEFAULT_RCVBUF), '--rcvbuf');
  const printer = new EventPrinter(context, options, filter, limit);
  const stop = new MonitorStop();
  try {
    if (options.file !== undefined) await monitorFile(options.file, printer, stop);
    else await monitorLive(context, printer, stop, { rcvbuf, timestamps: options.timestamp === true });
  } finally {
    stop.dispose();
  }
}

/**
 * How a monitor ends: SIGINT or SIGTERM (status 0, at once, abandoning output a blocked
 * reader has not taken), a failed stdout write (one line, status 1), or its own end.
 */
class MonitorStop {
  readonly output: StreamOutput;
  readonly stopped: Promise<Error | undefined>;
  private settle: (error: Error | undefined) => void = () => {};
  private onStop: () => void = () => {};
  private exitEvenWhenIdle = false;
  // Installed before anything subscribes: whoever sees the subscription (a supervisor, a
  // test) may signal at once, and the default action would kill xaev with the signal.
  private readonly signals = new StopSignals();

  constructor() {
    this.stopped = new Promise((resolve) => (this.settle = resolve));
    this.output = new StreamOutput((error) => this.settle(error));
    this.signals.signal.addEventListener('abort', () => {
      this.onStop();
      if (this.exitEvenWhenIdle) process.exit(0);
      exitAbandoningOutput(0);
      this.settle(undefined);
    });
  }

  /** Run `cleanup` first when a signal arrives (it then ends the process). */
  beforeSignalExit(cleanup: () => void): void {
    this.onStop = cleanup;
  }

  /**
   * A signal ends the process from its handler even when no output waits: the producer may
   * wait for input forever (a FIFO without a writer, an idle stdin) and would never look
   * at a stop flag.
   */
  exitOnSignal(): void {
    this.exitEvenWhenIdle = true;
  }

  finish(): void {
    this.settle(undefined);
  }

  /** End with an error (described on stderr by the caller, status 1). */
  fail(error: Error): void {
    this.settle(error);
  }

  dispose(): void {
    this.signals.dispose();
    this.output.dispose();
  }
}

async function monitorFile(path: string, printer: EventPrinter, stop: MonitorStop): Promise<void> {
  // No thread is blocked in the file's open() or read() (file-chunks.ts), so exit is immediate.
  stop.exitOnSignal();
  try {
    for await (const events of readEventFile(path)) {
      const texts = printer.format(events, undefined);
      if (texts.length > 0 && !stop.output.write(texts)) await stop.output.drained();
      if (printer.done) break;
    }
  } catch (error) {
    // What decoded before a framing error is printed first, as `ip xfrm monitor file` does.
    if (error instanceof DecodeError) throw new CliError(`${shown(path)} is not a stream of netlink messages: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string') throw new CliError(`cannot read ${shown(path)}: ${systemErrorCause(error as NodeJS.ErrnoException)}`);
    throw error;
  }
  // A write failure ends the wait.
  await stop.output.drained();
  if (stop.output.failure) throw stop.output.failure;
}

async function monitorLive(context: CliContext, printer: EventPrinter, stop: MonitorStop, settings: { rcvbuf: number; timestamps: boolean }): Promise<void> {
  context.enterNetns();
  // Set when output made the subscription pause; the next loss report names the slow reader.
  let readerBlocked = false;
  const subscription: EventSubscription = EventSubscription.open({
    receiveBufferBytes: settings.rcvbuf,
    onEvents: (events) => {
      // After a resume, a loss (if any) is reported before the first events: none came.
      readerBlocked = false;
      const texts = printer.format(events, settings.timestamps ? nowMs() : undefined);
      if (printer.done) stop.finish();
      if (texts.length === 0 || stop.output.write(texts) || printer.done) return;
      // A reader that stopped reading: let the socket fill; the kernel counts what it drops.
      subscription.pause();
      readerBlocked = true;
      void stop.output.drained().then(() => subscription.resume());
    },
    onLoss: (loss) => {
      context.note(lossLine(loss, readerBlocked));
      readerBlocked = false;
    },
    onError: (error) => stop.fail(error),
  });
  stop.beforeSignalExit(() => subscription.close());
  const failure = await stop.stopped;
  subscription.close();
  if (failure) throw failure;
  await stop.output.drained();
  if (stop.output.failure) throw stop.output.failure;
}

function lossLine(loss: EventLoss, readerBlocked: boolean): string {
  if (loss.kind === 'truncated') {
    return (
      `a datagram of ${loss.datagramBytes} bytes was longer than the ${loss.readBytes}-byte read buffer: ` +
      `the events in its last ${loss.datagramBytes - loss.readBytes} bytes were lost`
    );
  }
  const fix = readerBlocked ? 'the reader of stdout was too slow' : 'raise --rcvbuf';
  if (loss.events === undefined) return `receive buffer overrun: some events were lost (${fix})`;
  return `receive buffer overrun: ${loss.events} events lost (${fix})`;
}
