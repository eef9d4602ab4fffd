// `xaev sync` command lines: usage errors exit 2 before anything touches the kernel, and the
// control commands say clearly when no receiver runs (exit 1). No root needed.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runXaev } from './support/run.js';

const BAD: [string[], RegExp][] = [
  [['sync', 'receive'], /required option '--from <command\|->' not specified/],
  [['sync', 'receive', '--from', '-', '--mode', 'hot'], /--mode: "hot" is not live or cache/],
  [['sync', 'receive', '--from', '-', '--margin', 'lots'], /--margin: "lots" is not a number/],
  [['sync', 'receive', '--from', '-', '--margin', '4294967296'], /--margin: 4294967296 is out of range/],
  [['sync', 'receive', '--from', '-', '--inbound-advance', 'on'], /--inbound-advance: "on" is not off, auto or a number of seconds from 0 to 3600/],
  [['sync', 'receive', '--from', '-', '--inbound-advance', '3601'], /--inbound-advance: "3601" is not off, auto or a number of seconds from 0 to 3600/],
  [['sync', 'receive', '--from', '-', '--max-sas', '0'], /--max-sas: 0 is out of range/],
  [['sync', 'receive', '--from', '-', '--heartbeat-timeout', '0'], /--heartbeat-timeout: 0 is out of range/],
  [['sync', 'receive', '--from', '-', '--rcvbuf', '1x'], /--rcvbuf: "1x" is not a size in bytes/],
  [['sync', 'send', '--etime', '0'], /--etime: 0 is out of range/],
  [['sync', 'send', '--rthr', 'many'], /--rthr: "many" is not a number/],
  [['sync', 'takeover', '--timeout', '0'], /--timeout: 0 is out of range/],
  [['sync', 'frobnicate'], /unknown command 'frobnicate'/],
];

describe('xaev sync usage', () => {
  for (const [args, pattern] of BAD) {
    it(`exits 2 for: ${args.join(' ')}`, () => {
      const result = runXaev(args);
      assert.equal(result.status, 2, result.stderr);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, result.stderr);
      assert.match(result.stderr, pattern);
    });
  }

  it('lists its subcommands in help', () => {
    const result = runXaev(['sync', '--help']);
    assert.equal(result.status, 0);
    for (const name of ['send', 'receive', 'takeover', 'release', 'status']) assert.match(result.stdout, new RegExp(`^  ${name}\\b`, 'm'));
  });
});

describe('xaev sync control commands without a receiver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xaev-sync-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const command of ['takeover', 'status', 'release']) {
    it(`${command} exits 1 with one line naming the socket and the fix`, () => {
      const socket = join(dir, 'none.sock');
      const result = runXaev(['sync', command, '--control', socket]);
      assert.equal(result.status, 1);
      assert.equal(result.stdout, '');
      assert.equal(
        result.stderr,
        `xaev: no sync receiver runs in this network namespace (nothing answers on ${socket}): start \`xaev sync receive\` first\n`,
      );
    });
  }
});

/** A process listening on `socket` that answers every connection with `answerExpression` (JavaScript), once it listens. */
async function answering(socket: string, answerExpression: string): Promise<ChildProcess> {
  const server = spawn(process.execPath, ['-e', `
    const server = require('node:net').createServer((c) => c.end(${answerExpression}));
    server.listen(${JSON.stringify(socket)}, () => console.log('ready'));
    setTimeout(() => process.exit(0), 20000);`]);
  await new Promise((resolve) => server.stdout.once('data', resolve));
  return server;
}

describe('xaev sync control commands when something else answers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xaev-sync-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an answer that is not JSON is one line (escaped), exit 1, no stack trace', async () => {
    const socket = join(dir, 'other.sock');
    const server = await answering(socket, `'not json\\x1b[31m\\n'`);
    try {
      const result = runXaev(['sync', 'status', '--control', socket]);
      assert.equal(result.status, 1);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, `xaev: ${socket} answered with something that is not a sync receiver's JSON answer ("not json\\x1b[31m")\n`);
    } finally {
      server.kill();
    }
  });

  it("status escapes the peer's node name and software, which came off the network", async () => {
    const socket = join(dir, 'hostile-peer.sock');
    const answer = {
      mode: 'cache',
      role: 'standby',
      link: { connected: true, lastDisconnect: null, command: '-' },
      peer: { node: 'gw-a\x1b[2J\nforged line', software: 'xaev\x07 0.1.0', rthr: 32, etimeMs: 1000 },
      totals: { records: 1, updates: 0, applied: 0, writeErrors: 0, streamErrors: 0, sasRefused: 0, reconnects: 0, lostEvents: 0, snapshots: 0, lastSnapshotAt: null },
      replication: { install: false, peerReplicates: [] },
      sas: [],
      policies: [],
    };
    const server = await answering(socket, `${JSON.stringify(JSON.stringify(answer))} + '\\n'`);
    try {
      const result = runXaev(['sync', 'status', '--control', socket]);
      assert.deepEqual([result.status, result.stderr], [0, '']);
      assert.equal(
        result.stdout,
        'mode cache, role standby, peer gw-a\\x1b[2J\\nforged line (xaev\\x07 0.1.0, rthr 32, etime 1000 ms), stream connected\n' +
          'totals: records 1, updates 0, applied 0, write errors 0, stream errors 0, SAs over --max-sas 0, reconnects 0, lost events 0, snapshots 0, last snapshot never\n',
      );
    } finally {
      server.kill();
    }
  });

  it('a socket only root may use: one line saying so, exit 1', { skip: process.getuid?.() === 0 ? false : 'needs root to run xaev as another user' }, async () => {
    const socket = join(dir, 'root-only.sock');
    const server = spawn(process.execPath, ['-e', `
      const server = require('node:net').createServer((c) => c.end('{}\\n'));
      server.listen(${JSON.stringify(socket)}, () => { require('node:fs').chmodSync(${JSON.stringify(socket)}, 0o600); console.log('ready'); });
      setTimeout(() => process.exit(0), 20000);`]);
    try {
      await new Promise((resolve) => server.stdout.once('data', resolve));
      chmodSync(dir, 0o755);
      const result = runXaev(['sync', 'takeover', '--control', socket], { uid: 65534 });
      assert.equal(result.status, 1);
      assert.equal(result.stderr, `xaev: permission denied on ${socket}: the control socket can take the node over, so it is root's only (run as root)\n`);
    } finally {
      server.kill();
    }
  });
});
