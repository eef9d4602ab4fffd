// Text that came from the user (arguments, batch lines, namespace names) shown back in a
// diagnostic. A message must stay one line on a terminal and a bounded size in a log,
// whatever was typed or piped in: control characters are escaped and long values cut.

/** Longest piece of user input quoted in a message, in characters. */
export const MAX_SHOWN_INPUT = 64;
/** Longest diagnostic line, in characters: a last guard for input that reached a message unquoted. */
export const MAX_DIAGNOSTIC_LINE = 1024;

// C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\', '"': '\\"' };

function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function cut(text: string, max: number): { head: string; cutChars: number } {
  if (text.length <= max) return { head: text, cutChars: 0 };
  return { head: text.slice(0, max), cutChars: text.length - max };
}

/**
 * User input for a message: in double quotes, control characters, quotes and backslashes
 * escaped (\n, \x00), and cut after `max` characters with a count of what was left out.
 * `quote: false` for input already known to be plain (e.g. digits): escaped and cut, no quotes.
 */
export function shown(text: string, options: { quote?: boolean; max?: number } = {}): string {
  const { head, cutChars } = cut(text, options.max ?? MAX_SHOWN_INPUT);
  const body = escapeControl(options.quote === false ? head : head.replace(/[\\"]/g, (c) => NAMED[c]!));
  const result = options.quote === false ? body : `"${body}"`;
  return cutChars === 0 ? result : `${result}... (${text.length} characters)`;
}

/** One diagnostic line as written to stderr, or untrusted text in a line of output: control characters escaped, length bounded. */
export function oneLine(text: string, max = MAX_DIAGNOSTIC_LINE): string {
  const { head, cutChars } = cut(text, max);
  const line = escapeControl(head);
  return cutChars === 0 ? line : `${line}... (${cutChars} more characters)`;
}
