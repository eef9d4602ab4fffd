import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { LineTooLongError, MAX_COMMAND_LINE_BYTES, readLines } from '../../line-reader.js';
import type { CliContext, GlobalOptions } from '../context.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ReportedFailure, systemErrorCause, UsageError } from '../errors.js';
import { report } from '../output.js';
import { shown } from '../user-text.js';

/** Runs one batch line (argv without "xaev") and resolves to its exit status. */
export type RunLine = (argv: string[], prefix: string, defaults: GlobalOptions) => Promise<number>;

interface BatchOptions {
  force?: boolean;
}

export function registerBatch(program: Command, context: CliContext, runLine: RunLine): void {
  program
    .command('batch')
    .description('run xaev commands from a file (or - for stdin), one per line as they arrive, in one process')
    .argument('<file>', 'file of commands, or - for standard input')
    .option('--force', 'go on after a failing line (the exit status still reports it)')
    .addHelpText(
      'after',
      `
Each line is an xaev command without the word xaev, quoted like a shell line; # starts a
comment. Global options given before "batch" (-n, -j, --no-color) apply to every line; a
line's own -n runs that line in its namespace. Lines run as they arrive, so a program can
feed stdin line by line; each line's output is written before the next line is read.
A line over ${MAX_COMMAND_LINE_BYTES / 1024} KiB ends the batch (even with --force).

Examples:
  printf 'get 0x1000\\nset 0x1000 --rthr 32\\n' | xaev batch -
  xaev -n blue -j batch sync.txt --force`,
    )
    .action((file: string, options: BatchOptions) => runBatch(context, runLine, file, options));
}

/**
 * Split a line like a POSIX shell would for plain words: whitespace separates, single quotes
 * are literal, double quotes allow \\ escapes, backslash escapes outside quotes, # begins a
 * comment at the start of a word. No expansion of any kind.
 */
export function splitLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new UsageError('unterminated single quote');
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= line.length) throw new UsageError('unterminated double quote');
        const d = line[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) word += line[++i];
        else word += d;
      }
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new UsageError('backslash at the end of the line');
      word += line[++i];
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function openSource(file: string): Readable {
  // process.stdin can be destroyed while a read is pending (a pipe whose writer is still
  // there); a file stream reads a regular file or device in bounded chunks.
  return file === '-' ? process.stdin : createReadStream(file, { highWaterMark: MAX_COMMAND_LINE_BYTES });
}

function readError(error: unknown, name: string): CliError {
  return new CliError(`cannot read ${shown(name)}: ${systemErrorCause(error as NodeJS.ErrnoException)}`);
}

/** One line's exit status: a line that does not split like a shell line is a usage error. */
async function runOne(runLine: RunLine, text: string, prefix: string, defaults: GlobalOptions): Promise<number> {
  let argv: string[];
  try {
    argv = splitLine(text);
  } catch (error) {
    report([(error as Error).message], prefix);
    return EXIT_USAGE;
  }
  if (argv[0] === 'xaev') argv.shift();
  return argv.length === 0 ? EXIT_OK : runLine(argv, prefix, defaults);
}

async function runBatch(context: CliContext, runLine: RunLine, file: string, options: BatchOptions): Promise<void> {
  const name = file === '-' ? 'stdin' : file;
  const defaults = { ...context.globals };
  context.reuseSaIndex = true;
  let firstFailure = EXIT_OK;
  const source = openSource(file);
  try {
    for await (const line of readLines(source)) {
      const status = await runOne(runLine, line.text, `${name}:${line.number}: `, defaults);
      firstFailure ||= status;
      if (status !== EXIT_OK && !options.force) break;
    }
  } catch (error) {
    if (!(error instanceof LineTooLongError)) throw readError(error, name);
    report([`line longer than ${MAX_COMMAND_LINE_BYTES} bytes: this is not a command file`], `${name}:${error.lineNumber}: `);
    firstFailure ||= EXIT_FAILURE;
  } finally {
    source.destroy();
  }
  // Each failing line already reported itself; only the status is left to pass on.
  if (firstFailure !== EXIT_OK) throw new ReportedFailure(firstFailure);
}
