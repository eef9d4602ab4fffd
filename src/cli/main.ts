import { CommanderError } from 'commander';
import { CliContext } from './context.js';
import { describeError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.js';
import { buildProgram, usageErrorFrom } from './program.js';

function report(lines: string[]): void {
  process.stderr.write(lines.map((line, i) => (i === 0 ? `xaev: ${line}\n` : `${line}\n`)).join(''));
}

/** Run xaev with the given arguments (without node and script); resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  // A reader that goes away (xaev monitor | head -1) ends xaev quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
  const context = new CliContext();
  const program = buildProgram(context);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) {
        return EXIT_OK;
      }
      if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync') return EXIT_USAGE;
      report([`${usageErrorFrom(error).message} (see xaev --help)`]);
      return EXIT_USAGE;
    }
    const described = describeError(error, context.globals.netns);
    if (described) {
      report(described.lines);
      return described.status;
    }
    report([`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`]);
    return EXIT_FAILURE;
  } finally {
    context.close();
  }
}
