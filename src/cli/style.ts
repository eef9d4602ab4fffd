import { Chalk, type ChalkInstance } from 'chalk';
import { stdoutIsTerminal } from './output.js';

/**
 * Colour for text output, on only for a terminal: never with --json, --no-color, NO_COLOR
 * (any non-empty value, per no-color.org) or when stdout is a pipe or file.
 */
export function createStyle(options: { color: boolean; json: boolean }): ChalkInstance {
  const noColorEnv = (process.env.NO_COLOR ?? '') !== '';
  const enabled = options.color && !options.json && !noColorEnv && stdoutIsTerminal();
  return new Chalk({ level: enabled ? 1 : 0 });
}
