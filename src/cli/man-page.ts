// The manual pages xaev(8) and xaev-sync(8), generated from the command tree that prints
// --help (program.ts), so that the two cannot drift apart: every command, argument and
// option, with the description and default --help shows, and each command's help text
// (notes, exit status, examples) come from the commands' own registrations. What --help does
// not say (the name line, the description of the whole, SEE ALSO) is written here, once.
// man/xaev.8 and man/xaev-sync.8 are this module's output, committed so that the package
// installs them ("man" in package.json); test/man-page.test.ts fails when they are stale.
// Regenerate with: npm run build:ts && node dist/src/cli/man-page.js
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command, Help } from 'commander';
import { PACKAGE_ROOT } from '../package-root.js';
import { CliContext } from './context.js';
import { buildProgram } from './program.js';
import { VERSION } from './version.js';

export type ManPageName = 'xaev' | 'xaev-sync';

const SEE_ALSO: Record<ManPageName, string[]> = {
  xaev: ['ip-xfrm(8)', 'ip-netns(8)', 'keepalived(8)', 'xaev-sync(8)'],
  'xaev-sync': ['xaev(8)', 'ip-xfrm(8)', 'keepalived(8)', 'keepalived.conf(5)', 'ssh(1)'],
};

const DESCRIPTION: Record<ManPageName, string[]> = {
  xaev: [
    'The Linux kernel keeps, for every IPsec SA, anti-replay counters (the sequence numbers sent and received, and the replay window) and lifetime counters, and can announce their changes as asynchronous events (XFRM_MSG_NEWAE on the XFRMNLGRP_AEVENTS group of NETLINK_XFRM). xaev reads these counters and the thresholds that pace the events (GETAE), writes them (NEWAE), and streams the events, with exact 64-bit values, as text or JSON.',
    'Every command talks to the kernel over its own NETLINK_XFRM socket, which needs CAP_NET_ADMIN. The text output of get and monitor follows ip xfrm; -j gives JSON that keeps 64-bit counters exact.',
  ],
  'xaev-sync': [
    "xaev sync keeps a standby IPsec gateway's SA counters in step with the active one, so that after a failover the standby neither sends sequence numbers the remote end has already seen nor drops the remote's packets as replays. The active node runs xaev sync send, usually through ssh; the standby runs xaev sync receive as a service and applies what arrives (live mode) or holds it (cache mode); keepalived's notify scripts call xaev sync takeover and xaev sync release.",
    'The stream is newline-delimited JSON, one record per line, read as untrusted input; a receiver refuses a stream version it cannot read. Its format, the margin added to outbound counters at takeover, and what to do about split brain are in the documents named next.',
  ],
};

/** Troff-safe text: backslashes escaped, minus signs as \-, a control character at a line start neutralised. */
function escape(text: string): string {
  const escaped = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return escaped.replace(/^([.'])/gm, '\\&$1');
}

/** An option or argument term as --help prints it: flags bold, <values> italic. */
function term(text: string): string {
  return text
    .split(/(<[^>]+>|\[[^\]]+\])/)
    .map((piece) => {
      if (piece.startsWith('<')) return `\\fI${escape(piece.slice(1, -1))}\\fR`;
      if (piece.startsWith('[')) return `[\\fI${escape(piece.slice(1, -1))}\\fR]`;
      return piece.replace(/[^\s,|]+/g, (word) => `\\fB${escape(word)}\\fR`);
    })
    .join('');
}

interface HelpText {
  /** Paragraphs of notes, each a list of lines as written. */
  notes: string[][];
  /** "Exit status: ..." paragraphs. */
  exitStatus: string[][];
  examples: { command: string; comment: string | undefined }[];
}

/** The text a command's help prints after its options (addHelpText), taken apart. */
function helpTextOf(command: Command): HelpText {
  let text = '';
  command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  command.outputHelp();
  const after = text.slice(command.helpInformation().length);
  const result: HelpText = { notes: [], exitStatus: [], examples: [] };
  for (const block of after.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((line) => line.trim() !== '');
    if (lines.length === 0) continue;
    if (lines[0] === 'Examples:') {
      for (const line of lines.slice(1)) {
        const match = /^\s+(\S.*?)(?:\s{2,}(\S.*))?$/.exec(line);
        if (match) result.examples.push({ command: match[1]!, comment: match[2] });
      }
    } else {
      // An "Exit status:" line starts the rest of its paragraph.
      const at = lines.findIndex((line) => line.startsWith('Exit status: '));
      if (at !== 0) result.notes.push(at === -1 ? lines : lines.slice(0, at));
      if (at !== -1) result.exitStatus.push([lines[at]!.slice('Exit status: '.length), ...lines.slice(at + 1)]);
    }
  }
  return result;
}

/**
 * A paragraph of help text: plain lines are filled; lines indented by two spaces and a term
 * followed by two or more spaces ("  all    every number ...") become a tagged list, deeper
 * indented lines continue the item above.
 */
function paragraph(lines: string[]): string {
  const out: string[] = ['.PP'];
  let inList = false;
  for (const line of lines) {
    const item = /^ {2}(\S+)\s{2,}(\S.*)$/.exec(line);
    if (item) {
      out.push('.RS', '.TP', `\\fB${escape(item[1]!)}\\fR`, escape(item[2]!));
      out.push('.RE');
      inList = true;
    } else if (inList && /^ {3,}\S/.test(line)) {
      out.splice(out.length - 1, 0, escape(line.trim()));
    } else {
      if (inList) out.push('.PP');
      inList = false;
      out.push(escape(line.trim()));
    }
  }
  return out.join('\n');
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function optionList(help: Help, command: Command): string {
  return help
    .visibleOptions(command)
    .map((option) => `.TP\n${term(help.optionTerm(option))}\n${escape(help.optionDescription(option))}`)
    .join('\n');
}

function argumentList(help: Help, command: Command): string {
  return help
    .visibleArguments(command)
    .map((argument) => `.TP\n\\fI${escape(help.argumentTerm(argument))}\\fR\n${escape(help.argumentDescription(argument))}`)
    .join('\n');
}

function usageLine(command: Command): string {
  return `.B ${escape(commandPath(command))}\n${term(command.usage())}`;
}

/** A command's section: its usage, what it does, its notes, arguments and options. */
function commandSection(help: Help, command: Command, texts: HelpText): string {
  const names = [command.name(), ...command.aliases()].map((name) => commandPath(command).replace(/[^ ]+$/, name));
  const parts = [`.SS ${escape(names.join(', '))}`, usageLine(command), '.PP', escape(help.commandDescription(command))];
  for (const notes of texts.notes) parts.push(paragraph(notes));
  const args = argumentList(help, command);
  if (args) parts.push(args);
  const options = optionList(help, command);
  if (options) parts.push(options);
  return parts.join('\n');
}

function examplesSection(examples: { command: string; comment: string | undefined }[]): string {
  return examples
    .map(({ command, comment }) => `.TP\n\\fB${escape(command)}\\fR${comment === undefined ? '\n.br' : `\n${escape(comment)}`}`)
    .join('\n');
}

function header(name: ManPageName, summary: string): string {
  return [
    `.\\" Generated by src/cli/man-page.ts from xaev's --help; edit the commands, not this file.`,
    `.TH ${name.toUpperCase()} 8 "" "xaev ${VERSION}" "System Administration"`,
    '.SH NAME',
    `${escape(name)} \\- ${escape(summary)}`,
  ].join('\n');
}

/** "ip-xfrm(8), keepalived(8)" as man pages cross-reference: names bold, sections roman. */
function seeAlso(pages: string[]): string {
  return pages
    .map((page, i) => {
      const [, base, section] = /^(.+)\((\d)\)$/.exec(page)!;
      return `.BR ${escape(base!)} (${section})${i < pages.length - 1 ? ',' : ''}`;
    })
    .join('\n');
}

function commandsOf(help: Help, command: Command): Command[] {
  return help.visibleCommands(command).filter((c) => c.name() !== 'help');
}

/** The page's troff source. */
export function renderManPage(name: ManPageName): string {
  const program = buildProgram(new CliContext(), { runLine: async () => 0 });
  const help = program.createHelp();
  const sync = program.commands.find((c) => c.name() === 'sync')!;
  const top = name === 'xaev' ? program : sync;
  const topTexts = helpTextOf(top);
  const commands = commandsOf(help, top);
  const texts = new Map(commands.map((c) => [c, helpTextOf(c)]));
  const sections: string[] = [
    header(name, name === 'xaev' ? 'read, write and stream Linux XFRM (IPsec SA) async events' : help.commandDescription(sync)),
    '.SH SYNOPSIS',
    name === 'xaev' ? '.B xaev\n[\\fIoptions\\fR] \\fIcommand\\fR [\\fIcommand options\\fR] [\\fIarguments\\fR]\n.br' : '',
    ...commands.map((c) => `${usageLine(c)}\n.br`),
    '.SH DESCRIPTION',
    ...DESCRIPTION[name].map((text) => `.PP\n${escape(text)}`),
    ...topTexts.notes.map(paragraph),
  ];
  if (name === 'xaev') {
    sections.push('.SH OPTIONS', 'These go before the command and apply to it (to every line of a batch).', optionList(help, program));
  }
  sections.push('.SH COMMANDS');
  for (const command of commands) {
    if (name === 'xaev' && command === sync) {
      sections.push(`.SS ${escape('xaev sync')} \\fIsubcommand\\fR`, '.PP', `${escape(help.commandDescription(sync))}: see`, '.BR xaev\\-sync (8).');
      continue;
    }
    sections.push(commandSection(help, command, texts.get(command)!));
  }
  const exitStatus = [...topTexts.exitStatus, ...commands.flatMap((c) => texts.get(c)!.exitStatus.map((p) => [`${commandPath(c)}: ${p.join(' ')}`]))];
  if (name === 'xaev-sync') exitStatus.unshift(['0 success, 1 runtime or kernel error, 2 usage error; sync send and sync receive end with 0 on SIGINT or SIGTERM.']);
  sections.push('.SH EXIT STATUS', ...exitStatus.map(paragraph));
  const examples = [...topTexts.examples, ...commands.filter((c) => c !== sync || name !== 'xaev').flatMap((c) => texts.get(c)!.examples)];
  sections.push('.SH EXAMPLES', examplesSection(examples));
  sections.push('.SH SEE ALSO', seeAlso(SEE_ALSO[name]));
  return `${sections.filter((s) => s !== '').join('\n')}\n`;
}

export const MAN_PAGES: readonly ManPageName[] = ['xaev', 'xaev-sync'];

// Run directly: write man/xaev.8 and man/xaev-sync.8 of the checkout this file was built in.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const name of MAN_PAGES) writeFileSync(join(PACKAGE_ROOT, 'man', `${name}.8`), renderManPage(name));
}
