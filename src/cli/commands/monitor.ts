import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readSocketDrops } from '../../netlink/drops.js';
import { DecodeError } from '../../netlink/errors.js';
import { parseMessages, type NetlinkMessage } from '../../netlink/message.js';
import { decodeAePayload, type AeMessage } from '../../xfrm/aevent.js';
import { addressesEqual, type ParsedAddress } from '../../xfrm/address.js';
import { NETLINK_XFRM, XFRM_MSG_MAPPING, XFRM_MSG_NEWAE, XFRMNLGRP_AEVENTS } from '../../xfrm/constants.js';
import { decodeUserMapping } from '../../xfrm/structs.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { toJson } from '../json.js';
import { parseAddressOption, parseByteSize, parsePositiveInt, parseProto, parseSpi } from '../parse.js';
import { eventRecord } from '../record.js';
import { ipAeventText, ipMappingText, ipUnknownText, lifetimeLines, localTimestamp, replayLines } from '../text.js';

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
    .option('--file <path>', 'decode netlink messages saved in a file instead of listening (like `ip xfrm monitor file`)')
    .addHelpText(
      'after',
      `
Examples:
  xaev monitor                               same text as ip xfrm monitor aevent
  xaev monitor --details -t                  with counters and timestamps
  xaev -j monitor --spi 0x1000 --count 10    ten events of one SA as JSON lines
  xaev monitor | head -1                     exits quietly when the reader goes away

Ends with status 0 on SIGINT or SIGTERM. On a receive-buffer overrun it says on stderr
how many events were lost and carries on.`,
    )
    .action((options: MonitorOptions) => runMonitor(context, options));
}

interface EventFilter {
  spi?: number | undefined;
  dst?: ParsedAddress | undefined;
  proto?: number | undefined;
}

function matches(ae: AeMessage, filter: EventFilter): boolean {
  const { saId } = ae.id;
  if (filter.spi !== undefined && saId.spi !== filter.spi) return false;
  if (filter.proto !== undefined && saId.proto !== filter.proto) return false;
  if (filter.dst && (filter.dst.family !== saId.family || !addressesEqual(filter.dst.bytes, saId.daddr, saId.family))) return false;
  return true;
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Formats a batch of messages; returns the text and how many events it printed. */
class EventPrinter {
  printed = 0;
  constructor(
    private readonly context: CliContext,
    private readonly options: MonitorOptions,
    private readonly filter: EventFilter,
    private readonly limit: number | undefined,
  ) {}

  get done(): boolean {
    return this.limit !== undefined && this.printed >= this.limit;
  }

  format(messages: NetlinkMessage[], receivedAtMs: number | undefined): string {
    let out = '';
    for (const message of messages) {
      if (this.done) break;
      out += this.formatOne(message, receivedAtMs);
    }
    return out;
  }

  private formatOne(message: NetlinkMessage, receivedAtMs: number | undefined): string {
    const json = this.context.globals.json;
    const stamp = receivedAtMs === undefined || !this.options.timestamp ? '' : `[${localTimestamp(receivedAtMs)}] `;
    try {
      if (message.type === XFRM_MSG_NEWAE) {
        const ae = decodeAePayload(message.payload);
        if (!matches(ae, this.filter)) return '';
        this.printed++;
        if (json) {
          const iso = receivedAtMs === undefined || !this.options.timestamp ? undefined : new Date(receivedAtMs).toISOString();
          return `${toJson(eventRecord(ae, iso))}\n`;
        }
        let text = stamp + ipAeventText(ae);
        if (this.options.details) text += [...replayLines(ae.replay, false), ...lifetimeLines(ae.lifetime)].join('\n') + '\n';
        return text;
      }
      // Only a file can hold other messages: the live socket joins the aevent group alone.
      if (json || this.filter.spi !== undefined || this.filter.dst || this.filter.proto !== undefined) return '';
      this.printed++;
      if (message.type === XFRM_MSG_MAPPING) return stamp + ipMappingText(decodeUserMapping(message.payload));
      return stamp + ipUnknownText(message.payload.length + 16, message.type, message.flags);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.context.warn(`skipped a malformed message (type ${message.type}): ${error.message}`);
      return '';
    }
  }
}

export function runMonitor(context: CliContext, options: MonitorOptions): Promise<void> | void {
  const filter: EventFilter = {
    spi: options.spi === undefined ? undefined : parseSpi(options.spi),
    dst: options.dst === undefined ? undefined : parseAddressOption(options.dst, '--dst'),
    proto: options.proto === undefined ? undefined : parseProto(options.proto),
  };
  const limit = options.count === undefined ? undefined : parsePositiveInt(options.count, '--count');
  const rcvbuf = parseByteSize(options.rcvbuf ?? String(DEFAULT_RCVBUF), '--rcvbuf');
  const printer = new EventPrinter(context, options, filter, limit);

  if (options.file !== undefined) {
    let data: Buffer;
    try {
      data = readFileSync(options.file);
    } catch (error) {
      throw new CliError(`cannot read ${options.file}: ${(error as Error).message}`);
    }
    let messages: NetlinkMessage[];
    try {
      messages = parseMessages(data);
    } catch (error) {
      if (error instanceof DecodeError) throw new CliError(`${options.file} is not a stream of netlink messages: ${error.message}`);
      throw error;
    }
    context.print(printer.format(messages, undefined));
    return;
  }

  const socket = context.client().socket;
  socket.setReceiveBufferBytes(rcvbuf);

  return new Promise<void>((resolve) => {
    const finish = (): void => {
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      socket.stopListening();
      resolve();
    };
    // Handlers before joining the group: whoever sees the subscription (a supervisor, a test)
    // may signal at once, and the default action would kill xaev with the signal.
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
    try {
      socket.joinGroup(XFRMNLGRP_AEVENTS);
    } catch (error) {
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      throw error;
    }
    let dropsSeen = readSocketDrops(NETLINK_XFRM, socket.portId) ?? 0;
    socket.listen({
      onMessages: (messages) => {
        const text = printer.format(messages, options.timestamp ? nowMs() : undefined);
        if (text) context.print(text);
        if (printer.done) finish();
      },
      onOverrun: () => {
        const drops = readSocketDrops(NETLINK_XFRM, socket.portId);
        if (drops === undefined) {
          context.note('receive buffer overrun: some events were lost (raise --rcvbuf)');
        } else {
          context.note(`receive buffer overrun: ${drops - dropsSeen} events lost (raise --rcvbuf)`);
          dropsSeen = drops;
        }
      },
      onDecodeError: (error) => context.warn(`skipped a malformed datagram: ${error.message}`),
    });
  });
}
