// Diagnostics never echo raw input: what the user typed (or a file held) is quoted, escaped
// and cut before it reaches stderr (src/cli/user-text.ts), so a hostile argument cannot move
// the cursor, forge lines or flood the terminal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oneLine, shown } from '../src/cli/user-text.js';
import { runXaev } from './support/run.js';

describe('diagnostics never echo raw input', () => {
  it('shown() quotes, escapes control characters and cuts', () => {
    assert.equal(shown('5\n'), '"5\\n"');
    assert.equal(shown('a\u0000b\u001b[31m\t"\\'), '"a\\x00b\\x1b[31m\\t\\"\\\\"');
    assert.equal(shown('7'.repeat(100)), `"${'7'.repeat(64)}"... (100 characters)`);
    assert.equal(shown('0x1ffffffff', { quote: false }), '0x1ffffffff');
    // The first 1024 characters, the newline among them written as two.
    assert.equal(oneLine(`a\nb${'c'.repeat(2000)}`), `a\\nb${'c'.repeat(1021)}... (979 more characters)`);
  });

  it('get $\'5\\n\' gives one line', () => {
    const result = runXaev(['get', '5\n']);
    assert.deepEqual([result.status, result.stdout, result.stderr], [2, '', 'xaev: SPI: "5\\n" is not a number (use decimal, or hex with 0x)\n']);
  });

  it('a NUL in a batch line is escaped', () => {
    const result = runXaev(['batch', '-'], { input: 'get 0x10\u0000\n' });
    assert.deepEqual([result.status, result.stderr], [2, 'xaev: stdin:1: SPI: "0x10\\x00" is not a number (use decimal, or hex with 0x)\n']);
  });

  it('a 100 kB SPI, address or option name gives a short line', () => {
    const long = '7'.repeat(100_000);
    const spi = runXaev(['get', long]);
    assert.deepEqual([spi.status, spi.stderr], [2, `xaev: SPI: ${'7'.repeat(64)}... (100000 characters) is out of range (0 to 4294967295)\n`]);
    const dst = runXaev(['get', '1', '--dst', long]);
    assert.equal(dst.stderr, `xaev: --dst: "${'7'.repeat(64)}"... (100000 characters) is not an IPv4 or IPv6 address\n`);
    const option = runXaev(['get', '1', `--x${long}\u001b[2J`]);
    assert.equal(option.status, 2);
    assert.ok(option.stderr.length < 1100 && !option.stderr.includes('\u001b'), option.stderr.slice(0, 200));
    assert.equal(option.stderr.split('\n').length, 2);
  });

  it('a namespace name that is no file name in /run/netns is a usage error', () => {
    const result = runXaev(['-n', '../x\n', 'get', '1']);
    assert.deepEqual(
      [result.status, result.stderr],
      [2, 'xaev: --netns: "../x\\n" is not a namespace name (a file name in /run/netns, see ip netns list)\n'],
    );
  });
});
