import { hostname } from 'node:os';
import type { Command } from 'commander';
import {
  askReceiver,
  CONTROL_DIR,
  ControlRefusedError,
  ControlUnavailableError,
  controlSocketPath,
  ForeignAnswerError,
  type ControlAnswers,
  type ControlCommand,
} from '../../sync/control.js';
import { runReceiver } from '../../sync/daemon.js';
import { DEFAULT_RETIRE_AFTER_MS } from '../../sync/installer.js';
import { ledgerPathFor } from '../../sync/ledger.js';
import { REPLICATED, type Replicated } from '../../sync/stream.js';
import { openEventIntake } from '../../sync/intake.js';
import { MARGIN_FLOOR } from '../../sync/margin.js';
import { DEFAULT_ETIME_MS, DEFAULT_RTHR, runSender, SENDER_RCVBUF } from '../../sync/sender.js';
import type { CliContext } from '../context.js';
import { CliError, ReportedFailure, UsageError } from '../errors.js';
import { exitAbandoningOutput, StreamOutput } from '../stream-output.js';
import { parseByteSize, parsePositiveInt, parseU32 } from '../parse.js';
import { StopSignals } from '../signals.js';
import { syncStatusText, takeoverText } from '../sync-text.js';
import { shown } from '../user-text.js';
import { VERSION } from '../version.js';

interface SendOptions {
  rthr: string;
  etime: string;
  node?: string;
  rcvbuf: string;
  replicate?: string;
  control?: string;
}

interface ReceiveOptions {
  from?: string;
  mode: string;
  margin: string;
  inboundAdvance: string;
  maxSas: string;
  heartbeatTimeout: string;
  metricsFile?: string;
  control?: string;
  rcvbuf: string;
  install?: boolean;
  retireAfter: string;
}

interface ControlOptions {
  control?: string;
  timeout: string;
}

export function registerSync(program: Command, context: CliContext): void {
  const sync = program
    .command('sync')
    .description("keep a standby gateway's SA counters in step with the active one, and take over without replay drops")
    .addHelpText(
      'after',
      `
Examples:
  xaev sync send                                        on the active node (usually run by ssh)
  xaev sync receive --from 'ssh gw-a xaev sync send'    on the standby, as a service
  xaev sync takeover                                    keepalived notify_master
  xaev sync status                                      per-SA state and totals
  xaev sync receive --install --from 'ssh gw-a xaev sync send --replicate sas,policies'
                                                        replicate the SAs (keys included) and policies too

See docs/sync.md and the README section "xaev sync".`,
    );
  registerSend(sync, context);
  registerReceive(sync, context);
  registerControlCommand(sync, context, 'takeover', 'apply the held state with the final margin and stop following the peer (notify_master)');
  registerControlCommand(sync, context, 'release', 'follow the peer again after a takeover (notify_backup)');
  registerControlCommand(sync, context, 'status', "the running receiver's per-SA state and totals");
}

function registerSend(sync: Command, context: CliContext): void {
  sync
    .command('send')
    .description('write this node\'s SA counters as a sync stream on stdout: hello, snapshot, then every change')
    .option('--rthr <packets>', 'replay threshold set on every replicated SA', String(DEFAULT_RTHR))
    .option('--etime <ms>', 'timer threshold set on every replicated SA, in ms', String(DEFAULT_ETIME_MS))
    .option('--node <name>', 'node name in the hello record (default: the host name)')
    .option('--rcvbuf <bytes>', 'event socket receive buffer (k/m suffixes allowed)', '16m')
    .option('--replicate <what>', 'also replicate sas (configuration and keys) and/or policies: sas,policies (refused on a terminal: the stream carries keys)')
    .option('--control <path>', `the local receiver's control socket, beside which its ledger of installed SAs is read (default ${CONTROL_DIR}/sync-net<inode>.sock)`)
    .action((options: SendOptions) => {
      const rthr = parseU32(options.rthr, '--rthr');
      const etimeMs = parsePositiveInt(options.etime, '--etime', 3_600_000);
      const rcvbuf = parseByteSize(options.rcvbuf, '--rcvbuf');
      const replicate = options.replicate === undefined ? [] : parseReplicate(options.replicate);
      if (replicate.includes('sas') && process.stdout.isTTY) {
        throw new UsageError('refusing to write SA keys to a terminal: --replicate sas puts every SA\'s keys in the stream; pipe it to `xaev sync receive` (through ssh)');
      }
      return runSend(context, { node: options.node ?? hostname(), software: `xaev ${VERSION}`, rthr, etimeMs, replicate, controlPath: options.control }, rcvbuf);
    });
}

function parseReplicate(text: string): Replicated[] {
  const parts = text.split(',').map((part) => part.trim());
  for (const part of parts) {
    if (!REPLICATED.includes(part as Replicated)) throw new UsageError(`--replicate: "${shown(part)}" is not ${REPLICATED.join(' or ')}`);
  }
  return [...new Set(parts as Replicated[])];
}

/**
 * stdout without blocking writes, so SIGINT/SIGTERM end the sender at once even when the
 * reader (ssh) has stopped reading; output not yet taken is abandoned.
 */
async function runSend(
  context: CliContext,
  settings: { node: string; software: string; rthr: number; etimeMs: number; replicate: Replicated[]; controlPath: string | undefined },
  rcvbuf: number,
): Promise<void> {
  const signals = new StopSignals();
  const client = context.client();
  const intake = openEventIntake(Math.max(rcvbuf, SENDER_RCVBUF), { policies: settings.replicate.includes('policies') });
  // The ledger of this node's own receiver, in this namespace: what it installed is not sent back while the node is the standby.
  const ledger = settings.replicate.length > 0 ? ledgerPathFor(settings.controlPath ?? controlSocketPath()) : undefined;
  let output: StreamOutput | undefined;
  const outputFailure = new Promise<string>((resolve) => (output = new StreamOutput((error) => resolve(error.message))));
  const stream = output!;
  const { controlPath: _control, ...senderSettings } = settings;
  const options = {
    ...senderSettings,
    ledger,
    write: (text: string) => stream.write(text),
    drained: () => stream.drained(),
    pending: () => stream.pendingBytes > 0,
    warn: (message: string) => context.warn(message),
    error: (message: string) => context.note(message),
  };
  try {
    const status = await runSender(client, intake, options, signals.signal, outputFailure);
    exitAbandoningOutput(status);
    if (status !== 0) throw new ReportedFailure(status);
  } finally {
    signals.dispose();
    stream.dispose();
  }
}

function parseMargin(text: string): number | 'auto' {
  if (text === 'auto') return 'auto';
  return parseU32(text, '--margin');
}

/**
 * --inbound-advance: off (undefined), auto (the heartbeat timeout: a silence shorter than that
 * is the stream's own, not a break) or the silence not counted, in seconds.
 */
function parseInboundAdvance(text: string, heartbeatTimeoutMs: number): number | undefined {
  if (text === 'off') return undefined;
  if (text === 'auto') return heartbeatTimeoutMs;
  const seconds = /^\d{1,4}(\.\d{1,3})?$/.test(text) ? Number(text) : NaN;
  if (!(seconds <= 3600)) throw new UsageError(`--inbound-advance: ${shown(text)} is not off, auto or a number of seconds from 0 to 3600`);
  return Math.round(seconds * 1000);
}

function registerReceive(sync: Command, context: CliContext): void {
  sync
    .command('receive')
    .description('read a sync stream and keep (live: apply; cache: hold) the peer\'s SA state here')
    .requiredOption('--from <command|->', "shell command whose stdout is the stream (e.g. 'ssh gw-a xaev sync send'), or - for stdin")
    .option('--mode <mode>', 'live: apply as records arrive; cache: hold everything until takeover', 'live')
    .option('--margin <n|auto>', `outbound margin in packets, or auto (rate-based, at least ${MARGIN_FLOOR})`, 'auto')
    .option(
      '--inbound-advance <off|auto|s>',
      'at a takeover after silence, move each inbound window up by its rate x the silence beyond s seconds (auto: the heartbeat timeout)',
      'off',
    )
    .option('--max-sas <n>', 'most SAs tracked (memory bound)', '100000')
    .option('--heartbeat-timeout <s>', 'restart the command after this many seconds without data', '5')
    .option('--metrics-file <path>', 'write totals in Prometheus text format (node_exporter textfile collector)')
    .option('--control <path>', `control socket (default ${CONTROL_DIR}/sync-net<inode>.sock)`)
    .option('--rcvbuf <bytes>', 'SA-notification socket receive buffer', '4m')
    .option('--install', "install the peer's SAs (keys included) and policies this node lacks, from a sender with --replicate; without it, a receiver syncs counters only and never holds a key")
    .option('--retire-after <s>', 'after a takeover, delete an installed SA once the IKE daemon has its own for that peer and it carried no packet for this long', String(DEFAULT_RETIRE_AFTER_MS / 1000))
    .action((options: ReceiveOptions) => runReceive(context, options));
}

async function runReceive(context: CliContext, options: ReceiveOptions): Promise<void> {
  if (options.mode !== 'live' && options.mode !== 'cache') throw new UsageError(`--mode: "${options.mode}" is not live or cache`);
  const heartbeatTimeoutMs = parsePositiveInt(options.heartbeatTimeout, '--heartbeat-timeout', 3600) * 1000;
  const settings = {
    from: options.from!,
    mode: options.mode,
    margin: parseMargin(options.margin),
    inboundAdvanceGraceMs: parseInboundAdvance(options.inboundAdvance, heartbeatTimeoutMs),
    maxSas: parsePositiveInt(options.maxSas, '--max-sas', 10_000_000),
    heartbeatTimeoutMs,
    metricsFile: options.metricsFile,
    receiveBufferBytes: parseByteSize(options.rcvbuf, '--rcvbuf'),
    install: options.install ? { retireAfterMs: parsePositiveInt(options.retireAfter, '--retire-after', 86_400) * 1000 } : undefined,
    note: (message: string) => context.note(message),
  } as const;
  const client = context.client();
  const controlPath = options.control ?? controlSocketPath();
  const signals = new StopSignals();
  let status: number;
  try {
    status = await runReceiver(client, { ...settings, controlPath }, signals.signal);
  } catch (error) {
    if (error instanceof ControlUnavailableError) throw new CliError(error.message);
    throw error;
  } finally {
    signals.dispose();
  }
  if (status !== 0) throw new ReportedFailure(status);
}

function controlPathFor(netns: string | undefined): string {
  try {
    return controlSocketPath(netns);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && netns !== undefined) {
      throw new CliError(`network namespace "${netns}" not found: /run/netns/${netns} does not exist (see ip netns list)`);
    }
    throw error;
  }
}

const CONTROL_HELP: Record<ControlCommand, string> = {
  takeover: `
Prints per SA what it did: applied, current (nothing to write), missing, refused, error;
with --install also what became of each replicated SA and policy (installed, conflict,
redacted, refused). After a silent stream (nothing for over 2 s) an inbound SA also shows
its replay hole: up to its inbound rate x the silence, and the window advance of receive
--inbound-advance. Exit status: 0 if every synced SA is applied or current and every
replicated policy is here; 1 if any is not (an outbound policy that is missing is named:
the traffic it covers would leave this node unencrypted), if no snapshot was ever
received from the peer, or if no receiver runs in this network namespace.`,
  release: `
After a takeover the receiver stores the peer's records but applies nothing; release makes
it a standby again (keepalived notify_backup / notify_fault).`,
  status: `
States: pending (not looked at yet), ready (cache mode: a takeover would write it), applied,
current, missing (not on this node yet), refused (e.g. a non-ESN SA near 2^32), error.
While the stream is silent, inbound SAs show the replay hole a takeover would leave.`,
};

function registerControlCommand(sync: Command, context: CliContext, name: ControlCommand, description: string): void {
  sync
    .command(name)
    .description(description)
    .option('--control <path>', `control socket of the receiver (default ${CONTROL_DIR}/sync-net<inode>.sock)`)
    .option('--timeout <ms>', 'how long to wait for the receiver', '10000')
    .addHelpText('after', CONTROL_HELP[name])
    .action((options: ControlOptions) => runControl(context, name, options));
}

/** The receiver's answer; with -j it is printed as it came (u64 values exact). */
async function ask<C extends ControlCommand>(context: CliContext, command: C, options: ControlOptions): Promise<ControlAnswers[C]> {
  const timeoutMs = parsePositiveInt(options.timeout, '--timeout', 3_600_000);
  const path = options.control ?? controlPathFor(context.globals.netns);
  try {
    const { text, answer } = await askReceiver(path, command, timeoutMs, options.control ?? 'the control socket');
    if (context.globals.json) context.print(`${text}\n`);
    return answer;
  } catch (error) {
    // Anything else listening on the socket gets one line, its answer escaped, not a trace.
    if (error instanceof ForeignAnswerError) throw new CliError(`${error.message} (${shown(error.text)})`);
    if (error instanceof ControlUnavailableError || error instanceof ControlRefusedError) throw new CliError(error.message);
    throw error;
  }
}

async function runControl(context: CliContext, command: ControlCommand, options: ControlOptions): Promise<void> {
  const asText = !context.globals.json;
  if (command === 'status') {
    const answer = await ask(context, 'status', options);
    if (asText) context.print(syncStatusText(answer));
  } else if (command === 'takeover') {
    const answer = await ask(context, 'takeover', options);
    if (asText) context.print(takeoverText(answer));
    if (answer.ok !== true) throw new CliError(`takeover incomplete: ${answer.reason ?? 'not every synced SA was applied'}`);
  } else {
    await ask(context, 'release', options);
  }
}
