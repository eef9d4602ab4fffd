import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, EXIT_OK, EXIT_USAGE, ReportedFailure, UsageError } from '../errors.js';
import type { RunLine } from '../program.js';
import { report } from '../output.js';

interface BatchOptions {
  force?: boolean;
}

export function registerBatch(program: Command, context: CliContext, runLine: RunLine): void {
  program
    .command('batch')
    .description('run xaev commands from a file (or - for stdin), one per line, in one process on one socket')
    .argument('<file>', 'file of commands, or - for standard input')
    .option('--force', 'go on after a failing line (the exit status still reports it)')
    .addHelpText(
      'after',
      `
Each line is an xaev command without the word xaev, quoted like a shell line; # starts a
comment. Global options given before "batch" (-n, -j, --no-color) apply to every line.

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

async function runBatch(context: CliContext, runLine: RunLine, file: string, options: BatchOptions): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const name = file === '-' ? 'stdin' : file;
  const defaults = { ...context.globals };
  context.reuseSaIndex = true;
  let firstFailure = EXIT_OK;
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const prefix = `${name}:${index + 1}: `;
    let argv: string[];
    try {
      argv = splitLine(lines[index]!);
    } catch (error) {
      argv = [];
      report([(error as Error).message], prefix);
      firstFailure ||= EXIT_USAGE;
      if (!options.force) break;
      continue;
    }
    if (argv[0] === 'xaev') argv.shift();
    if (argv.length === 0) continue;
    const status = await runLine(argv, prefix, defaults);
    if (status !== EXIT_OK) {
      firstFailure ||= status;
      if (!options.force) break;
    }
  }
  // Each failing line already reported itself; only the status is left to pass on.
  if (firstFailure !== EXIT_OK) throw new ReportedFailure(firstFailure);
}
