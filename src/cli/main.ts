import { CliContext } from './context.js';
import { runCommandLine } from './run.js';

/** Run xaev with the given arguments (without node and script); resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  const context = new CliContext();
  try {
    return await runCommandLine(argv, context);
  } finally {
    context.close();
  }
}
