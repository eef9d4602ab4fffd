import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO_ROOT } from './support/paths.js';
import { runXaev } from './support/run.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

// Every one of these is a bad command line: exit 2, one line on stderr, nothing on stdout,
// and no socket is opened (they also pass as an unprivileged user).
const BAD_INPUTS: [string[], RegExp][] = [
  [['get'], /missing required argument 'spi'/],
  [['get', 'zz'], /SPI: "zz" is not a number/],
  [['get', '0x'], /SPI: "0x" is not a number/],
  [['get', '-1'], /SPI: "-1" is not a number/],
  [['get', '0'], /SPI: 0 is not a valid SPI/],
  [['get', '0x100000000'], /SPI: 0x100000000 is out of range/],
  [['get', '4294967296'], /SPI: 4294967296 is out of range/],
  [['get', '1.5'], /SPI: "1.5" is not a number/],
  [['get', '1e3'], /SPI: "1e3" is not a number/],
  [['get', '0x1000', '--dst', '10.0.0'], /--dst: "10.0.0" is not an IPv4 or IPv6 address/],
  [['get', '0x1000', '--dst', '2001:db8::g'], /--dst: "2001:db8::g" is not an IPv4 or IPv6 address/],
  [['get', '0x1000', '--src', '300.1.1.1'], /--src: "300.1.1.1" is not an IPv4 or IPv6 address/],
  [['get', '0x1000', '--proto', 'tcp'], /--proto: "tcp" is not one of esp, ah, comp/],
  [['get', '0x1000', '--mark', '5/'], /--mark: "5\/" is not VALUE or VALUE\/MASK/],
  [['get', '0x1000', '--mark', 'x'], /--mark value: "x" is not a number/],
  [['get', '0x1000', '--mark', '1/2/3'], /--mark: "1\/2\/3" is not VALUE or VALUE\/MASK/],
  [['get', '0x1000', '--dst'], /option '--dst <addr>' argument missing/],
  [['get', '0x1000', '--frobnicate'], /unknown option '--frobnicate'/],
  [['get', '0x1000', 'extra'], /too many arguments/],
  [['set', '0x1000'], /nothing to set/],
  [['set', '0x1000', '--rthr', '-1'], /unknown option '-1'|--rthr: "-1" is not a number/],
  [['set', '0x1000', '--rthr', '4294967296'], /--rthr: 4294967296 is out of range/],
  [['set', '0x1000', '--etime', '1.5'], /--etime: "1.5" is not a number/],
  [['set', '0x1000', '--seq', '0x1ffffffff'], /--seq: 0x1ffffffff is out of range/],
  [['set', '0x1000', '--bytes', '18446744073709551616'], /--bytes: 18446744073709551616 is out of range/],
  [['set', '0x1000', '--packets', 'many'], /--packets: "many" is not a number/],
  [['set', '0x1000', '--hz', '0', '--etime', '100'], /--hz: 0 is out of range/],
  [['set', '0x1000', '--oseq'], /option '--oseq <n>' argument missing/],
  [['monitor', '--count', '0'], /--count: 0 is out of range/],
  [['monitor', '--count', 'ten'], /--count: "ten" is not a number/],
  [['monitor', '--spi', 'nope'], /SPI: "nope" is not a number/],
  [['monitor', '--rcvbuf', '1x'], /--rcvbuf: "1x" is not a size in bytes/],
  [['monitor', '--proto', 'udp'], /--proto: "udp" is not one of esp, ah, comp/],
  [['list', '--proto', 'tcp'], /--proto: "tcp" is not one of esp, ah, comp/],
  [['ls', '--spi', '0'], /SPI: 0 is not a valid SPI/],
  [['defaults', '--etime', '150'], /--etime: 150 ms is not a multiple of 100/],
  [['defaults', '--rthr', 'x'], /--rthr: "x" is not a number/],
  [['batch'], /missing required argument 'file'/],
  [['completion', 'fish'], /completion: "fish" is not bash or zsh/],
  [['sync', 'receive', '--from', '-', '--mode', 'hot'], /--mode: "hot" is not live or cache/],
  [['frobnicate'], /unknown command 'frobnicate'/],
  [['--netns'], /option '-n, --netns <name>' argument missing/],
  [['-x', 'get', '1'], /unknown option '-x'/],
];

describe('usage errors exit 2 with a one-line message', () => {
  for (const [args, expected] of BAD_INPUTS) {
    it(`xaev ${args.join(' ')}`, () => {
      const result = runXaev(args);
      assert.equal(result.status, 2, `stderr: ${result.stderr}`);
      assert.equal(result.stdout, '');
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /^xaev: /);
      assert.match(lines[0]!, expected);
    });
  }

  it('covers every command that xaev --help lists', () => {
    const help = runXaev(['--help']).stdout;
    const commands = [...help.slice(help.indexOf('Commands:'), help.indexOf('Examples:')).matchAll(/^ {2}([a-z]+)[| ]/gm)].map((m) => m[1]!);
    assert.deepEqual(commands, ['get', 'set', 'monitor', 'list', 'defaults', 'sync', 'batch', 'completion', 'help']);
    const tested = new Set(BAD_INPUTS.map(([args]) => (args[0] === 'ls' ? 'list' : args[0])));
    assert.deepEqual(commands.filter((command) => command !== 'help' && !tested.has(command)), []);
  });
});

describe('help and version', () => {
  it('--version prints the package version and exits 0', () => {
    const result = runXaev(['--version']);
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `${VERSION}\n`);
  });

  it('CHANGELOG.md starts with this version, and the version is past the 0.2 that issue 20 tested', () => {
    const headings = [...readFileSync(join(REPO_ROOT, 'CHANGELOG.md'), 'utf8').matchAll(/^## (\d+\.\d+\.\d+) \(/gm)].map((m) => m[1]);
    assert.deepEqual(headings.slice(0, 3), [VERSION, '0.2.0', '0.1.0']);
    assert.notEqual(VERSION, '0.1.0');
  });

  it('each command has help with examples, exit 0', () => {
    for (const command of ['get', 'set', 'monitor']) {
      const result = runXaev([command, '--help']);
      assert.equal(result.status, 0);
      assert.match(result.stdout, /Examples:\n {2}xaev /);
    }
  });
});

describe('a missing or stale native addon is named, with the way to rebuild', () => {
  // A copy of the installed layout (the CLI bundle needs no node_modules), so the real build
  // stays untouched.
  const root = mkdtempSync(join(tmpdir(), 'xaev-addon-'));
  for (const file of ['package.json', 'bin/package.json', 'bin/xaev.js', 'bin/code-cache.cjs', 'dist/xaev.cjs']) cpSync(join(REPO_ROOT, file), join(root, file));
  const run = (): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [join(root, 'bin/xaev.js'), 'get', '0x1000'], { encoding: 'utf8' });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('missing', () => {
    const result = run();
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      `xaev: the native addon is not built (${root}/build/Release/xaev_netlink.node is missing and ` +
        `${root}/prebuilds/linux-x64 has no prebuilt one); ` +
        'rebuild it with `npm run build:native` (needs make, g++, python3 and the Node.js headers)\n',
    );
  });

  it('older than its source', () => {
    cpSync(join(REPO_ROOT, 'build/Release/xaev_netlink.node'), join(root, 'build/Release/xaev_netlink.node'));
    cpSync(join(REPO_ROOT, 'native/netlink_socket.cc'), join(root, 'native/netlink_socket.cc'));
    const past = new Date(Date.now() - 3600_000);
    utimesSync(join(root, 'build/Release/xaev_netlink.node'), past, past);
    const result = run();
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      'xaev: the native addon is stale (native/netlink_socket.cc changed after it was built); ' +
        'rebuild it with `npm run build:native` (needs make, g++, python3 and the Node.js headers)\n',
    );
  });
});

describe('a checkout that was not built', () => {
  it('bin/xaev.js says in one line how to build it, exit 1, no stack trace', () => {
    const root = mkdtempSync(join(tmpdir(), 'xaev-unbuilt-'));
    try {
      for (const file of ['package.json', 'bin/package.json', 'bin/xaev.js', 'bin/code-cache.cjs']) cpSync(join(REPO_ROOT, file), join(root, file));
      const result = spawnSync(process.execPath, [join(root, 'bin/xaev.js'), '--version'], { encoding: 'utf8' });
      assert.deepEqual(
        [result.status, result.stdout, result.stderr],
        [1, '', `xaev: xaev is not built (${root}/dist/xaev.cjs is missing): run \`npm install\` or \`npm run build\` in ${root}\n`],
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('start-up cost', () => {
  // What the bundle loads before any command runs is paid by every xaev start: the modules
  // only some commands need are loaded by those commands (bench/RESULTS.md, start-up).
  const loadedByTheBundle = (): string[] => {
    const script = `
      const before = new Set(process.moduleLoadList);
      require(${JSON.stringify(join(REPO_ROOT, 'bin/code-cache.cjs'))}).loadBundle(${JSON.stringify(join(REPO_ROOT, 'dist/xaev.cjs'))});
      process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m))));`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as string[];
  };

  it('loading the CLI does not load child_process or fs/promises', () => {
    const loaded = loadedByTheBundle();
    for (const module of ['NativeModule child_process', 'NativeModule fs/promises']) assert.ok(!loaded.includes(module), `${module} is loaded at start`);
  });

  const stamp = (): string => /\n\/\/ xaev-build ([0-9a-f]+)\n$/.exec(readFileSync(join(REPO_ROOT, 'dist/xaev.cjs'), 'utf8'))?.[1] ?? '';
  const caches = (): string[] => readdirSync(join(REPO_ROOT, 'dist')).filter((f) => f.startsWith(`xaev.cjs.${stamp()}.`) && f.endsWith('.cache'));

  it('the bundle comes with one code cache, stamped with its hash and named after the V8 that wrote it', () => {
    assert.match(stamp(), /^[0-9a-f]{16}$/);
    assert.equal(caches().length, 1, caches().join(' '));
    assert.match(caches()[0]!, /^xaev\.cjs\.[0-9a-f]{16}\.v8-[0-9][0-9a-z.-]*\.cache$/);
  });

  // Under the Node.js line that built it the cache runs; under another line (test/run-suites.ts
  // runs the suites under each supported line and says so in XAEV_TEST_OTHER_NODE_LINE) there
  // is no cache for its V8, and the bundle compiles.
  const builtHere = process.env.XAEV_TEST_OTHER_NODE_LINE === undefined;
  it(builtHere ? 'the loader runs the bundle from that cache' : `the loader compiles the bundle: the cache is not for this V8 (${process.versions.v8})`, () => {
    assert.equal(caches().includes(`xaev.cjs.${stamp()}.v8-${process.versions.v8}.cache`), builtHere);
    const loader = JSON.stringify(join(REPO_ROOT, 'bin/code-cache.cjs'));
    const script = `const c = require(${loader}); c.loadBundle(${JSON.stringify(join(REPO_ROOT, 'dist/xaev.cjs'))}); process.stdout.write(String(c.lastLoadUsedCache()));`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, String(builtHere));
  });
});
