import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXPECTED_ADDON_ABI } from '../src/netlink/native.js';
import { hostKernelSkipReason, ip, makeNetns } from './support/host.js';
import { REPO_ROOT } from './support/paths.js';

// What a gateway without a compiler does: `npm install -g` of the packed tarball. The tarball
// must carry the prebuilt addon (prebuilds/, made by `prepack`) and its dependencies
// (bundleDependencies), so the install needs neither a compiler nor the registry.
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** prebuildify builds for the machine it runs on; the package ships linux-x64. */
const PLATFORM = `${process.platform}-${process.arch}`;
const PACK_AND_INSTALL_TIMEOUT_MS = 170_000;

/** The environment without npm's per-run variables (`npm test` sets them), so the child npm
 * reads only its own configuration. */
function cleanEnv(overrides: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
  return { ...env, ...overrides };
}

function succeeded(what: string, result: SpawnSyncReturns<string>): string {
  assert.equal(result.status, 0, `${what} failed (${String(result.status ?? result.signal)}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A PATH directory holding only node, npm and sh: no make, g++, cc or python3 to compile with. */
function compilerFreeBin(root: string): string {
  const bin = join(root, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()), join(bin, 'npm'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  return bin;
}

/** Node.js headers next to the running node (official tarballs, distribution packages): the
 * prebuild then compiles against them instead of downloading headers. */
function localNodeHeaders(): NodeJS.ProcessEnv {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include/node/node_api.h')) ? { npm_config_nodedir: prefix } : {};
}

describe('npm install scripts', () => {
  it('every dependency with an install script has an allowScripts entry (npm 11 warns about the others, npm 12 skips them)', () => {
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    const withScripts = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    assert.deepEqual(withScripts, ['esbuild']);
    assert.deepEqual(
      withScripts.filter((name) => typeof manifest.allowScripts?.[name] !== 'boolean'),
      [],
      'run `npm install-scripts ls`, then approve or deny each',
    );
  });
});

describe('npm pack, then npm install -g of the tarball with no compiler and no registry', { timeout: PACK_AND_INSTALL_TIMEOUT_MS }, () => {
  const root = mkdtempSync(join(tmpdir(), 'xaev-pack-'));
  const prefix = join(root, 'prefix');
  const installed = join(prefix, 'lib/node_modules/xaev');
  const bin = compilerFreeBin(root);
  const gatewayEnv = cleanEnv({ PATH: bin, CC: 'false', CXX: 'false', NO_COLOR: '1' });
  const xaev = (args: string[]): SpawnSyncReturns<string> =>
    spawnSync(join(prefix, 'bin/xaev'), args, { encoding: 'utf8', env: gatewayEnv, timeout: 30_000 });
  let installStderr = '';
  after(() => rmSync(root, { recursive: true, force: true }));

  before(() => {
    // prepack builds prebuilds/ with prebuildify, which recompiles this checkout's build/
    // (`npm test` runs one file at a time); prepare relinks build/Release and rebuilds dist/;
    // postpack removes prebuilds/ again.
    succeeded('npm pack', spawnSync('npm', ['pack', '--pack-destination', root], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: cleanEnv(localNodeHeaders()),
      timeout: PACK_AND_INSTALL_TIMEOUT_MS,
    }));
    // As the README says: the prebuild needs no install script, so none runs (and npm 11 does
    // not warn about one that allowScripts does not cover).
    const args = ['install', '-g', '--ignore-scripts', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', join(root, `xaev-${VERSION}.tgz`)];
    const install = spawnSync(join(bin, 'npm'), args, { encoding: 'utf8', env: gatewayEnv, timeout: 60_000 });
    succeeded('npm install -g', install);
    installStderr = install.stderr;
  });

  it('the install prints no warning', () => {
    assert.equal(installStderr, '');
  });

  it('installs the prebuilt addon and compiles nothing', () => {
    assert.deepEqual(readdirSync(join(installed, 'prebuilds')), [PLATFORM]);
    assert.deepEqual(readdirSync(join(installed, 'prebuilds', PLATFORM)), ['xaev.glibc.node']);
    assert.equal(existsSync(join(installed, 'build')), false, 'the install compiled the addon (build/ exists)');
    assert.deepEqual(readdirSync(join(installed, 'node_modules')).filter((name) => !name.startsWith('.')).sort(), ['chalk', 'commander', 'node-addon-api', 'node-gyp-build']);
  });

  it('the installed xaev prints its version and help', () => {
    assert.equal(succeeded('xaev --version', xaev(['--version'])), `${VERSION}\n`);
    assert.match(succeeded('xaev --help', xaev(['--help'])), /^Usage: xaev \[options\] \[command\]\n/);
  });

  it('node-gyp-build picks the prebuild, and it loads with the interface this code needs', () => {
    const script = `const load = require('node-gyp-build'); console.log(load.resolve(process.argv[1]), load(process.argv[1]).abiVersion)`;
    const result = spawnSync(process.execPath, ['-e', script, installed], { cwd: installed, encoding: 'utf8', env: gatewayEnv });
    assert.equal(succeeded('loading the addon', result), `${join(installed, 'prebuilds', PLATFORM, 'xaev.glibc.node')} ${EXPECTED_ADDON_ABI}\n`);
  });

  it('without prebuilds/ the same install falls back to node-gyp, which cannot compile here', () => {
    // Proves the environment above has no compiler: the prebuild, not a silent compile, made it work.
    const packed = join(root, 'source-only');
    mkdirSync(packed);
    succeeded('npm pack --ignore-scripts', spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', packed], { cwd: REPO_ROOT, encoding: 'utf8', env: cleanEnv({}) }));
    const args = ['install', '-g', '--prefix', join(packed, 'prefix'), '--offline', '--no-audit', '--no-fund', join(packed, `xaev-${VERSION}.tgz`)];
    const result = spawnSync(join(bin, 'npm'), args, { encoding: 'utf8', env: gatewayEnv, timeout: 60_000 });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /gyp ERR! /);
  });

  describe('the installed xaev reads an SA through the prebuilt addon', { skip: hostKernelSkipReason() }, () => {
    let ns: { name: string; remove: () => void } | undefined;
    before(() => {
      ns = makeNetns('xaev-pack');
      ip('-n', ns.name, 'xfrm', 'state', 'allocspi', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'reqid', '77', 'min', '0x1000', 'max', '0x1000');
    });
    after(() => ns?.remove());

    it('get --json', () => {
      const record = JSON.parse(succeeded('xaev get', xaev(['-n', ns!.name, '--json', 'get', '0x1000']))) as Record<string, unknown>;
      assert.deepEqual(
        { spi: record.spi, reqid: record.reqid, replay: record.replay, thresholds: record.thresholds },
        { spi: 0x1000, reqid: 77, replay: { kind: 'legacy', seq: 0, oseq: 0, bitmap: 0 }, thresholds: { replay: 0, timerMs: 0 } },
      );
    });
  });
});
