import { Command, CommanderError } from 'commander';
import { registerBatch, type RunLine } from './commands/batch.js';
import { registerCompletion } from './commands/completion.js';
import { registerDefaults } from './commands/defaults.js';
import { registerGet } from './commands/get.js';
import { registerList } from './commands/list.js';
import { registerMonitor } from './commands/monitor.js';
import { registerSet } from './commands/set.js';
import { registerSync } from './commands/sync.js';
import type { CliContext, GlobalOptions } from './context.js';
import { UsageError } from './errors.js';
import { writeErr, writeOut } from './output.js';
import { VERSION } from './version.js';

export { VERSION };

export interface GlobalFlags {
  netns?: string;
  json?: boolean;
  color?: boolean;
}

/** A batch's own global options are the defaults of each of its lines. */
export function globalsFrom(flags: GlobalFlags, defaults?: GlobalOptions): GlobalOptions {
  return {
    netns: flags.netns ?? defaults?.netns,
    json: flags.json === true || defaults?.json === true,
    color: flags.color !== false && defaults?.color !== false,
  };
}

/** Commander's error lines are replaced by ours; help it prints on error still goes to stderr. */
const QUIET_ERRORS = { writeOut, writeErr, outputError: () => undefined };

/**
 * The command tree. Commander's own exits are turned into exceptions (exitOverride) so the
 * caller decides the status: 2 for every usage error, 0 for --help and --version.
 */
export function buildProgram(context: CliContext, options: { defaults?: GlobalOptions | undefined; runLine?: RunLine | undefined } = {}): Command {
  const program = new Command('xaev');
  program
    .description('Read, write and stream Linux XFRM (IPsec SA) async events: anti-replay and lifetime counters')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('-n, --netns <name>', 'work in network namespace NAME (/run/netns/NAME), like ip -n')
    .option('-j, --json', 'print JSON (one object, or one per line for monitor)')
    .option('--no-color', 'no colour (also NO_COLOR=1; never coloured when not a terminal)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput(QUIET_ERRORS)
    .addHelpText(
      'after',
      `
Examples:
  xaev get 0x1000                         counters and thresholds of SPI 0x1000
  xaev set 0x1000 --rthr 32 --etime 500   events every 32 packets or 500 ms
  xaev monitor --details                  stream events with their counters
  xaev -n blue -j get 0x1000              JSON, in network namespace blue

Exit status: 0 ok, 1 runtime or kernel error, 2 usage error.`,
    );
  program.hook('preAction', () => context.configure(globalsFrom(program.opts<GlobalFlags>(), options.defaults)));
  registerGet(program, context);
  registerSet(program, context);
  registerMonitor(program, context);
  registerList(program, context);
  registerDefaults(program, context);
  registerSync(program, context);
  if (options.runLine) registerBatch(program, context, options.runLine);
  registerCompletion(program);
  for (const command of program.commands) command.exitOverride().configureOutput(QUIET_ERRORS);
  return program;
}

/** Commander's message, made one line and prefixed with the command it belongs to. */
export function usageErrorFrom(error: CommanderError): UsageError {
  const message = error.message.replace(/^error: /, '').split('\n')[0] ?? error.message;
  return new UsageError(message);
}
