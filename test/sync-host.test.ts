// `sync send` and `sync receive` against the host kernel. The host has no ESP, so its SAs are
// larval (ALLOCSPI): GETAE reads them, NEWAE refuses them (the VALID-state rule,
// docs/kernel/newae.md). That is enough for the snapshot, DELSA -> gone, the receiver's
// state, status and takeover's verdict; writes on VALID SAs are in test/lab-sync-apply.test.ts.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { addLarvalSas, hostKernelSkipReason, ip, makeNetns, type Netns } from './support/host.js';
import { REPO_ROOT, XAEV_BIN } from './support/paths.js';
import { runXaev } from './support/run.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const skip = hostKernelSkipReason() ?? false;

const children: ChildProcessWithoutNullStreams[] = [];
const output = new Map<ChildProcessWithoutNullStreams, string>();

function start(args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [XAEV_BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
  children.push(child);
  output.set(child, '');
  child.stdout.on('data', (chunk: Buffer) => output.set(child, output.get(child)! + chunk.toString()));
  return child;
}

/** Resolves with all stdout so far once `until` matches it (or rejects after 20 s). */
async function readUntil(child: ChildProcessWithoutNullStreams, until: RegExp): Promise<string> {
  for (let waited = 0; waited < 20_000; waited += 50) {
    if (until.test(output.get(child)!)) return output.get(child)!;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out; stdout so far:\n${output.get(child)!}`);
}

function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

type Json = Record<string, unknown>;

/** Each test makes its own namespaces: none depends on what another one left. */
const namespaces: Netns[] = [];

/** The active node: an IPv4 and an IPv6 larval SA. */
function activeNode(): Netns {
  const active = makeNetns('xaev-sync-a');
  namespaces.push(active);
  ip('-n', active.name, 'xfrm', 'state', 'allocspi', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'reqid', '7', 'min', '0x1000', 'max', '0x1000');
  ip('-n', active.name, 'xfrm', 'state', 'allocspi', 'src', '2001:db8::2', 'dst', '2001:db8::1', 'proto', 'esp', 'reqid', '8', 'min', '0x2000', 'max', '0x2000');
  return active;
}

/** The standby: only the IPv4 SA. */
function standbyNode(): Netns {
  const standby = makeNetns('xaev-sync-s');
  namespaces.push(standby);
  ip('-n', standby.name, 'xfrm', 'state', 'allocspi', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'reqid', '7', 'min', '0x1000', 'max', '0x1000');
  return standby;
}

describe('sync on the host kernel (larval SAs)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'xaev-sync-host-'));

  after(() => {
    // A failed assertion must not leave a receiver running (and the runner waiting for it).
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const netns of namespaces) netns.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends hello, a snapshot equal to list -j, gone on DELSA, and exits 0 on SIGTERM', async () => {
    const active = activeNode();
    const listed = JSON.parse(runXaev(['-n', active.name, '-j', 'list']).stdout) as Json[];
    const sender = start(['-n', active.name, 'sync', 'send', '--node', 'gw-a', '--rthr', '64', '--etime', '500']);
    const exited = exitOf(sender);
    await readUntil(sender, /"snapshot-end"/);
    ip('-n', active.name, 'xfrm', 'state', 'del', 'src', '2001:db8::2', 'dst', '2001:db8::1', 'proto', 'esp', 'spi', '0x2000');
    const stream = await readUntil(sender, /"gone"[^\n]*\n/);
    sender.kill('SIGTERM');
    assert.equal(await exited, 0);
    const records = stream.trim().split('\n').map((line) => JSON.parse(line) as Json);
    const [hello, begin, ...rest] = records;
    assert.deepEqual({ ...hello, time: 0, hz: 0 }, { type: 'hello', version: 1, node: 'gw-a', software: `xaev ${VERSION}`, hz: 0, rthr: 64, etimeMs: 500, time: 0 });
    assert.deepEqual({ ...begin, time: 0 }, { type: 'snapshot-begin', snapshot: 1, time: 0 });
    const sas = rest.filter((r) => r.type === 'sa').map(({ type, snapshot, time, dir, ...sa }) => {
      assert.deepEqual([type, snapshot, typeof time, dir], ['sa', 1, 'number', null]);
      return sa;
    });
    assert.deepEqual(sas, listed);
    assert.deepEqual({ ...rest.find((r) => r.type === 'snapshot-end'), time: 0 }, { type: 'snapshot-end', snapshot: 1, count: 2, time: 0 });
    const gone = rest.find((r) => r.type === 'gone');
    assert.deepEqual({ ...gone, time: 0 }, { type: 'gone', time: 0, family: 'inet6', dst: '2001:db8::1', spi: 0x2000, proto: 'esp', mark: null });
  });

  it('send ends with 0 on SIGTERM while its reader has stopped reading', async () => {
    // 2,000 SAs: a snapshot of about 750 KB, far more than a pipe holds.
    const busy = makeNetns('xaev-sync-busy');
    try {
      addLarvalSas(busy.name, Array.from({ length: 2000 }, (_, i) => ({ src: '192.0.2.1', dst: `10.9.${i >> 8}.${i & 255}`, spi: 0x4000 + i })));
      const sender = start(['-n', busy.name, 'sync', 'send']);
      const exited = exitOf(sender);
      // Nothing is read: the snapshot fills the pipe and the sender waits for room.
      sender.stdout.pause();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const signalled = Date.now();
      sender.kill('SIGTERM');
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running 5 s after SIGTERM'), 5000));
      assert.equal(await Promise.race([exited, timeout]), 0);
      assert.ok(Date.now() - signalled < 5000);
    } finally {
      busy.remove();
    }
  });

  it('counts and reports a last record cut off by the end of the stream', async () => {
    const standby = standbyNode();
    const control = join(dir, 'cut.sock');
    const receiver = start(['-n', standby.name, 'sync', 'receive', '--from', '-', '--control', control]);
    const exited = exitOf(receiver);
    let stderr = '';
    receiver.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const hello = '{"type":"hello","version":1,"node":"a","software":"x","hz":100,"rthr":256,"etimeMs":200,"time":1}\n';
    receiver.stdin.end(`${hello}{"type":"heartbeat","ti`);
    for (let i = 0; i < 100 && !stderr.includes('end of standard input'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const status = JSON.parse(runXaev(['-n', standby.name, '-j', 'sync', 'status', '--control', control]).stdout) as { totals: Json };
    receiver.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(status.totals.streamErrors, 1);
    assert.equal(
      stderr,
      'xaev: refused a stream line: the stream ended inside a line (23 bytes without a newline) (1 so far; see xaev sync status)\n' +
        'xaev: sync stream ended: end of standard input; state kept until takeover\n',
    );
  });

  it('counts and reports a hello without a version mid-stream and stays up; another version ends it', async () => {
    // The active node's stream up to its snapshot's end, from its own sender.
    const sender = start(['-n', activeNode().name, 'sync', 'send', '--node', 'gw-a']);
    const senderExited = exitOf(sender);
    const sent = await readUntil(sender, /"snapshot-end"[^\n]*\n/);
    sender.kill('SIGTERM');
    assert.equal(await senderExited, 0);
    const stream = sent.slice(0, sent.indexOf('\n', sent.indexOf('"snapshot-end"')) + 1);

    const standby = standbyNode();
    const control = join(dir, 'hello.sock');
    const receiver = start(['-n', standby.name, 'sync', 'receive', '--from', '-', '--control', control]);
    const exited = exitOf(receiver);
    let stderr = '';
    receiver.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The stream up to the snapshot's end, then the corrupt hello, then a heartbeat.
    receiver.stdin.write(stream);
    receiver.stdin.write('{"type":"hello","node":"x"}\n{"type":"heartbeat","time":5}\n');
    for (let i = 0; i < 100 && !stderr.includes('refused a stream line'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const result = runXaev(['-n', standby.name, '-j', 'sync', 'status', '--control', control]);
    assert.equal(result.status, 0, `the receiver is still up: ${stderr}`);
    const status = JSON.parse(result.stdout) as { totals: Json; peer: Json };
    assert.deepEqual([status.totals.streamErrors, status.peer.node], [1, 'gw-a']);
    assert.equal(
      stderr,
      'xaev: following gw-a: snapshot of 2 SAs received\n' +
        'xaev: refused a stream line: version: expected an integer from 1 to 4294967295 (1 so far; see xaev sync status)\n',
    );
    receiver.stdin.write('{"type":"hello","version":3,"node":"x"}\n');
    assert.equal(await exited, 1);
    assert.match(stderr, /\nxaev: the sender speaks sync stream version 3, this xaev reads versions 1 and 2 only: run the same xaev version on both nodes\n$/);
  });

  it('receives from stdin, reports status, and refuses takeover while SAs are missing or not VALID', async () => {
    // The active node's stream up to its snapshot's end, from its own sender.
    const sender = start(['-n', activeNode().name, 'sync', 'send', '--node', 'gw-a']);
    const senderExited = exitOf(sender);
    const sent = await readUntil(sender, /"snapshot-end"[^\n]*\n/);
    sender.kill('SIGTERM');
    assert.equal(await senderExited, 0);
    const stream = sent.slice(0, sent.indexOf('\n', sent.indexOf('"snapshot-end"')) + 1);

    const standby = standbyNode();
    const control = join(dir, 'ctl.sock');
    const receiver = start(['-n', standby.name, 'sync', 'receive', '--from', '-', '--mode', 'cache', '--control', control]);
    const exited = exitOf(receiver);
    let stderr = '';
    receiver.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    receiver.stdin.write(stream);
    let status: { totals: Json; sas: Json[]; peer: Json } | undefined;
    // Cache mode rehearses a second after the snapshot: wait for it, then status shows what a
    // takeover would do.
    for (let i = 0; i < 100 && !(status && status.totals.snapshots === 1 && status.sas.some((sa) => sa.state === 'ready')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const result = runXaev(['-n', standby.name, '-j', 'sync', 'status', '--control', control]);
      if (result.status === 0) status = JSON.parse(result.stdout) as typeof status;
    }
    assert.ok(status, stderr);
    assert.equal(status.peer.node, 'gw-a');
    assert.deepEqual(status.sas.map((s) => [s.sa, s.state]).sort(), [
      ['inet 192.0.2.2 0x00001000 esp', 'ready'],
      ['inet6 2001:db8::1 0x00002000 esp', 'missing'],
    ]);
    const takeover = runXaev(['-n', standby.name, 'sync', 'takeover', '--control', control]);
    assert.equal(takeover.status, 1);
    assert.match(takeover.stdout, /^missing  inet6 2001:db8::1 0x00002000 esp \? margin 0: no such SA on this node \(yet\): held until it appears$/m);
    assert.match(takeover.stdout, /^error    inet 192.0.2.2 0x00001000 esp both margin 128: the kernel refused the write: SA must be in VALID state \(EINVAL\)/m);
    assert.match(takeover.stdout, /^takeover INCOMPLETE: 1 missing, 1 error in \d+ ms$/m);
    assert.equal(takeover.stderr, 'xaev: takeover incomplete: not every synced SA was applied\n');
    receiver.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  });
});
