import { CommanderError } from 'commander';
import type { CliContext, GlobalOptions } from './context.js';
import { describeError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.js';
import { buildProgram, usageErrorFrom } from './program.js';
import { writeErr } from './output.js';

export function report(lines: string[], prefix = ''): void {
  writeErr(lines.map((line, i) => (i === 0 ? `xaev: ${prefix}${line}\n` : `${line}\n`)).join(''));
}

/**
 * Parse and run one command line on a shared context; report any failure on stderr (each
 * message prefixed, e.g. with FILE:LINE in a batch) and resolve to the exit status.
 */
export async function runCommandLine(
  argv: string[],
  context: CliContext,
  options: { prefix?: string; defaults?: GlobalOptions; inBatch?: boolean } = {},
): Promise<number> {
  const prefix = options.prefix ?? '';
  const program = buildProgram(context, {
    defaults: options.defaults,
    runLine: options.inBatch ? undefined : (line, linePrefix, defaults) => runCommandLine(line, context, { prefix: linePrefix, defaults, inBatch: true }),
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return EXIT_OK;
      if (error.code === 'commander.help') return EXIT_USAGE;
      report([`${usageErrorFrom(error).message} (see xaev --help)`], prefix);
      return EXIT_USAGE;
    }
    const described = describeError(error, context.globals.netns);
    if (described) {
      report(described.lines, prefix);
      return described.status;
    }
    report([`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`], prefix);
    return EXIT_FAILURE;
  }
}
