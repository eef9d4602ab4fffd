import { CommanderError, type Command } from 'commander';
import type { CliContext } from './context.js';
import { describeError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.js';
import { report } from './output.js';
import { buildProgram, usageErrorFrom } from './program.js';

/**
 * Parse and run one command line on a shared context; report any failure on stderr (each
 * message prefixed, e.g. with FILE:LINE in a batch) and resolve to the exit status.
 */
export async function runCommandLine(argv: string[], context: CliContext): Promise<number> {
  // A batch's lines share one command tree: commander restores its state before each parse,
  // and building the tree again for every line would cost more than running most lines.
  let lineProgram: Command | undefined;
  const program = buildProgram(context, {
    runLine: (line, prefix, defaults) => {
      lineProgram ??= buildProgram(context, { defaults });
      return parseAndRun(lineProgram, line, context, prefix);
    },
  });
  return parseAndRun(program, argv, context, '');
}

async function parseAndRun(program: Command, argv: string[], context: CliContext, prefix: string): Promise<number> {
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
