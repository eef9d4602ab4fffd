import { CliContext } from './context.js';
import { EXIT_OK } from './errors.js';
import { runCommandLine } from './run.js';

/** Run xaev with the given arguments (without node and script); resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  // A reader that goes away (xaev monitor | head -1) ends xaev quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
  const context = new CliContext();
  try {
    return await runCommandLine(argv, context);
  } finally {
    context.close();
  }
}
