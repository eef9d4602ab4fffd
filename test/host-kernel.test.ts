import assert from 'node:assert/strict';
import { closeSync, constants as fsConstants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { encodeMessage, parseMessages } from '../src/netlink/message.js';
import { addLarvalSas, hostKernelSkipReason, ip, makeNetns, type Netns } from './support/host.js';
import { aeventListeners, injectAevents, killStragglers, startListeners, startProcess, until, type RunningProcess } from './support/monitor.js';
import { LONGER, NINE_LABELS, NO_BOTTOM } from './support/mpls.js';
import { FIXTURES, XAEV_BIN } from './support/paths.js';
import { runXaev } from './support/run.js';

// The host kernel has XFRM but no ESP/AH: only larval SAs (ALLOCSPI) exist here. That is
// enough for GETAE, for errors, for permissions, and (with injected multicast) for monitor
// (docs/kernel/versions.md#differences-between-the-kernels-xaev-is-tested-on).
const skip = hostKernelSkipReason();
const ALLOC_TIME_SLACK = 120;
const scratch = mkdtempSync(join(tmpdir(), 'xaev-host-kernel-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The first event of ae.bin: one 132-byte NEWAE message. */
const ONE_EVENT = readFileSync(`${FIXTURES}ae.bin`).subarray(0, 132);

/** The sum of every overrun line's count: each is reported once, and losses may come in several reports. */
function lostEvents(stderr: string): number {
  let total = 0;
  for (const match of stderr.matchAll(/^xaev: receive buffer overrun: (\d+) events lost \(raise --rcvbuf\)$/gm)) total += Number(match[1]);
  return total;
}

describe('host kernel: larval SAs in a throwaway namespace', { skip }, () => {
  let ns: Netns;
  let allocatedAt = 0;

  before(() => {
    ns = makeNetns('xaev-host');
    allocatedAt = Math.floor(Date.now() / 1000);
    addLarvalSas(ns.name, [
      { src: '192.0.2.1', dst: '192.0.2.2', proto: 'esp', reqid: 77, spi: 0x1000 },
      { src: '2001:db8::1', dst: '2001:db8::2', proto: 'esp', reqid: 78, spi: 0x2000 },
      { src: '192.0.2.1', dst: '192.0.2.3', proto: 'ah', reqid: 79, spi: 0x2000 },
    ]);
  });
  after(() => {
    killStragglers();
    ns?.remove();
  });

  it('get prints the SPI, addresses, reqid, zero counters and zero thresholds', () => {
    const result = runXaev(['-n', ns.name, 'get', '0x1000']);
    assert.equal(result.stderr, '');
    assert.equal(result.status, 0);
    const lines = result.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 5), [
      'src 192.0.2.1 dst 192.0.2.2',
      '\tproto esp spi 0x00001000 reqid 77',
      '\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000',
      '\tlifetime current:',
      '\t  0(bytes), 0(packets)',
    ]);
    assert.match(lines[5]!, /^\t {2}add \d{4}-\d\d-\d\d \d\d:\d\d:\d\d use -$/);
    assert.deepEqual(lines.slice(6), ['\taevent thresholds: replay 0 packets, timer 0 ms', '']);
  });

  it('get --json gives the documented object with exact values', () => {
    const result = runXaev(['-n', ns.name, '-j', 'get', '4096']);
    assert.equal(result.status, 0);
    const record = JSON.parse(result.stdout) as { lifetime: { addTime: number } };
    assert.ok(Math.abs(record.lifetime.addTime - allocatedAt) < ALLOC_TIME_SLACK);
    assert.equal(
      result.stdout,
      '{"src":"192.0.2.1","dst":"192.0.2.2","family":"inet","proto":"esp","spi":4096,"reqid":77,"mark":null,"ifId":null,' +
        '"replay":{"kind":"legacy","seq":0,"oseq":0,"bitmap":0},' +
        `"lifetime":{"bytes":0,"packets":0,"addTime":${record.lifetime.addTime},"useTime":0},` +
        '"thresholds":{"replay":0,"timerMs":0}}\n',
    );
  });

  it('get finds an IPv6 SA', () => {
    const result = runXaev(['-n', ns.name, '-j', 'get', '0x2000', '--proto', 'esp']);
    assert.equal(result.status, 0, result.stderr);
    const record = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual([record.src, record.dst, record.family, record.reqid], ['2001:db8::1', '2001:db8::2', 'inet6', 78]);
  });

  it('colours text only on a terminal, and never with NO_COLOR, --no-color or --json', () => {
    // script(1) gives xaev a pseudo-terminal as stdout.
    const onTty = (command: string, env: NodeJS.ProcessEnv = {}): string =>
      spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env, NO_COLOR: env.NO_COLOR ?? '' } }).stdout;
    const base = `${process.execPath} ${XAEV_BIN} -n ${ns.name}`;
    assert.match(onTty(`${base} get 0x1000`), /\u001b\[1msrc 192\.0\.2\.1 dst 192\.0\.2\.2\u001b\[22m/);
    assert.doesNotMatch(onTty(`${base} get 0x1000`, { NO_COLOR: '1' }), /\u001b\[/);
    assert.doesNotMatch(onTty(`${base} --no-color get 0x1000`), /\u001b\[/);
    assert.doesNotMatch(onTty(`${base} -j get 0x1000`), /\u001b\[/);
    assert.doesNotMatch(runXaev(['-n', ns.name, 'get', '0x1000'], { env: { NO_COLOR: '' } }).stdout, /\u001b\[/);
  });

  it('a shared SPI is reported as ambiguous, with the SAs and the option that tells them apart', () => {
    const result = runXaev(['-n', ns.name, 'get', '0x2000']);
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.equal(
      result.stderr,
      'xaev: SPI 0x2000 matches 2 SAs: choose one with --dst or --proto or --src, or show them all with --all\n' +
        '  src 192.0.2.1 dst 192.0.2.3 proto ah spi 0x2000 reqid 79\n' +
        '  src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x2000 reqid 78\n',
    );
    const all = runXaev(['-n', ns.name, '-j', 'get', '0x2000', '--all']);
    assert.equal(all.status, 0);
    assert.deepEqual((JSON.parse(all.stdout) as { proto: string }[]).map((r) => r.proto).sort(), ['ah', 'esp']);
  });

  it('set on a larval SA fails with the kernel\'s own reason', () => {
    // NEWAE needs a VALID SA (docs/kernel/newae.md#valid-state-rule; net/xfrm/xfrm_user.c: xfrm_new_ae()).
    const result = runXaev(['-n', ns.name, 'set', '0x1000', '--rthr', '5']);
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'xaev: the kernel refused the request: SA must be in VALID state (EINVAL)\n');
  });

  it('an unknown SPI exits 1 and names the filters', () => {
    const result = runXaev(['-n', ns.name, 'get', '0x1001']);
    assert.deepEqual([result.status, result.stdout, result.stderr], [1, '', 'xaev: no SA with SPI 0x1001\n']);
    const filtered = runXaev(['-n', ns.name, 'get', '0x1000', '--dst', '192.0.2.9', '--proto', 'esp']);
    assert.deepEqual([filtered.status, filtered.stderr], [1, 'xaev: no SA with SPI 0x1000 and dst 192.0.2.9, proto esp\n']);
  });

  it('a missing namespace is named', () => {
    const result = runXaev(['-n', 'xaev-no-such-ns', 'get', '1']);
    assert.deepEqual(
      [result.status, result.stderr],
      [1, 'xaev: network namespace "xaev-no-such-ns" not found: /run/netns/xaev-no-such-ns does not exist (see ip netns list)\n'],
    );
  });

  it('an unprivileged user is told that NETLINK_XFRM needs CAP_NET_ADMIN', () => {
    const result = runXaev(['get', '0x1000'], { uid: 65534, gid: 65534 });
    assert.deepEqual(
      [result.status, result.stdout, result.stderr],
      [1, '', 'xaev: permission denied: NETLINK_XFRM needs CAP_NET_ADMIN (run as root)\n'],
    );
    const monitor = runXaev(['monitor'], { uid: 65534, gid: 65534 });
    assert.deepEqual([monitor.status, monitor.stderr], [1, 'xaev: permission denied: NETLINK_XFRM needs CAP_NET_ADMIN (run as root)\n']);
  });

  it('monitor prints live events exactly as ip xfrm monitor aevent does, side by side', async () => {
    const [xaev, iproute] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, 'monitor']),
      startProcess('ip', ['-n', ns.name, 'xfrm', 'monitor', 'aevent']),
    ])) as [RunningProcess, RunningProcess];
    // One datagram per message, as the kernel sends them.
    injectAevents(ns.name, parseMessages(readFileSync(`${FIXTURES}ae.bin`)).map((m) => encodeMessage(m, m.payload)));
    const expected = readFileSync(`${FIXTURES}ae.expected.txt`, 'utf8');
    await until(() => xaev.stdout().length >= expected.length && iproute.stdout().length >= expected.length);
    xaev.child.kill('SIGTERM');
    iproute.child.kill('SIGTERM');
    assert.deepEqual(await xaev.exited, { code: 0, signal: null });
    await iproute.exited;
    assert.equal(xaev.stdout(), expected);
    assert.equal(iproute.stdout(), expected);
    assert.equal(xaev.stderr(), '');
  });

  it('monitor --json --count 2 prints two objects and exits 0', async () => {
    const [xaev] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, '-j', 'monitor', '--count', '2', '--proto', 'esp']),
    ])) as [RunningProcess];
    injectAevents(ns.name, [readFileSync(`${FIXTURES}ae.bin`)]);
    assert.deepEqual(await xaev.exited, { code: 0, signal: null });
    assert.deepEqual(
      xaev.stdout().trimEnd().split('\n').map((line) => (JSON.parse(line) as { spi: number }).spi),
      [0x1234, 0xc0ffee01],
    );
  });

  it('monitor ends with 0 on SIGINT, and quietly when the reader of its pipe goes away', async () => {
    const [interrupted] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, 'monitor']),
    ])) as [RunningProcess];
    interrupted.child.kill('SIGINT');
    assert.deepEqual(await interrupted.exited, { code: 0, signal: null });
    assert.equal(interrupted.stderr(), '');

    const [pipeline] = (await startListeners(ns.name, () => [
      startProcess('bash', ['-c', `node ${XAEV_BIN} -n ${ns.name} monitor | head -1; echo "status \${PIPESTATUS[0]}" >&2`]),
    ])) as [RunningProcess];
    // The first event fills head's one line; later ones hit the closed pipe.
    for (let i = 0; i < 5 && pipeline.child.exitCode === null; i++) {
      injectAevents(ns.name, [readFileSync(`${FIXTURES}ae.bin`)]);
      await sleep(100);
    }
    assert.deepEqual(await pipeline.exited, { code: 0, signal: null });
    assert.equal(pipeline.stdout(), 'Async event  (0x20)  timer expired \n');
    assert.equal(pipeline.stderr(), 'status 0\n');
  });

  it('an overrun is reported with the number of lost events, and later events still arrive', async () => {
    const [xaev] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, '-j', 'monitor', '--rcvbuf', '1']),
    ])) as [RunningProcess];
    xaev.child.kill('SIGSTOP');
    const burst = ONE_EVENT;
    injectAevents(ns.name, Array.from({ length: 300 }, () => burst));
    xaev.child.kill('SIGCONT');
    await until(() => xaev.stderr().includes('overrun'));
    const marker = Buffer.from(burst);
    marker.writeUInt32BE(0xfeed, 32); // the SPI field: after the 16-byte header and the 16-byte daddr
    await sleep(200);
    injectAevents(ns.name, [marker]);
    await until(() => xaev.stdout().includes('"spi":65261'));
    xaev.child.kill('SIGTERM');
    assert.deepEqual(await xaev.exited, { code: 0, signal: null });
    const received = xaev.stdout().trimEnd().split('\n').length - 1;
    assert.equal(received + lostEvents(xaev.stderr()), 300, `received ${received}; ${xaev.stderr()}`);
  });

  it('every event is printed or counted, even when SIGTERM comes before the overrun is read', async () => {
    const [xaev] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, '-j', 'monitor', '--rcvbuf', '1']),
    ])) as [RunningProcess];
    xaev.child.kill('SIGSTOP');
    injectAevents(ns.name, Array.from({ length: 300 }, () => ONE_EVENT));
    // Both wake it at once: the drops must be counted whichever it handles first.
    xaev.child.kill('SIGTERM');
    xaev.child.kill('SIGCONT');
    assert.deepEqual(await xaev.exited, { code: 0, signal: null });
    const printed = xaev.stdout() === '' ? 0 : xaev.stdout().trimEnd().split('\n').length;
    assert.ok(lostEvents(xaev.stderr()) > 0, xaev.stderr());
    assert.equal(printed + lostEvents(xaev.stderr()), 300, `printed ${printed}; ${xaev.stderr()}`);
  });

  it('a datagram longer than the read buffer is reported as truncated, after the events it held', async () => {
    const [xaev] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, '-j', 'monitor']),
    ])) as [RunningProcess];
    // 532 events in one 70,224-byte datagram: 496 of them fit the first 65,536 bytes.
    injectAevents(ns.name, [Buffer.concat(Array.from({ length: 532 }, () => ONE_EVENT))]);
    await until(() => xaev.stderr().includes('truncated') || xaev.stderr().includes('longer'));
    xaev.child.kill('SIGTERM');
    assert.deepEqual(await xaev.exited, { code: 0, signal: null });
    assert.equal(xaev.stdout().trimEnd().split('\n').length, 496);
    assert.equal(
      xaev.stderr(),
      'xaev: a datagram of 70224 bytes was longer than the 65536-byte read buffer: the events in its last 4688 bytes were lost\n',
    );
  });

  it('a reader that stops reading costs events the kernel counts, and the line names the reader', async () => {
    const [xaev] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, '-j', 'monitor', '--rcvbuf', '1m']),
    ])) as [RunningProcess];
    xaev.child.stdout!.pause();
    // One event to a datagram, as the kernel sends them (its drop counter counts datagrams).
    // 4,000 events (1.3 MB of JSON) fill the pipe and the 1 MiB output bound; the next 6,000
    // arrive while xaev has stopped reading and overflow the socket. The first 4,000 come in
    // steps the 1 MiB socket buffer holds (about 450 events), so that none is lost before
    // the output bound is reached, however fast this machine runs xaev.
    for (let sent = 0; sent < 4_000; sent += 400) {
      injectAevents(ns.name, Array.from({ length: 400 }, () => ONE_EVENT));
      await sleep(50);
    }
    await sleep(300);
    injectAevents(ns.name, Array.from({ length: 6_000 }, () => ONE_EVENT));
    await sleep(300);
    xaev.child.stdout!.resume();
    const marker = Buffer.from(ONE_EVENT);
    marker.writeUInt32BE(0xfeed, 32);
    await until(() => xaev.stderr().includes('overrun'));
    await sleep(300);
    injectAevents(ns.name, [marker]);
    await until(() => xaev.stdout().includes('"spi":65261'));
    xaev.child.kill('SIGTERM');
    assert.deepEqual(await xaev.exited, { code: 0, signal: null });
    const lost = [...xaev.stderr().matchAll(/^xaev: receive buffer overrun: (\d+) events lost/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    const printed = xaev.stdout().trimEnd().split('\n').length;
    assert.equal(printed + lost, 10_001, `printed ${printed}, lost ${lost}: ${xaev.stderr()}`);
    assert.match(xaev.stderr(), /^xaev: receive buffer overrun: \d+ events lost \(the reader of stdout was too slow\)$/m);
  });

  it('a failed stdout write is one line and status 1, no stack trace', async () => {
    const [xaev] = (await startListeners(ns.name, () => [
      startProcess('sh', ['-c', `exec "${process.execPath}" "${XAEV_BIN}" -n ${ns.name} monitor >/dev/full`]),
    ])) as [RunningProcess];
    injectAevents(ns.name, [ONE_EVENT]);
    assert.deepEqual(await xaev.exited, { code: 1, signal: null });
    assert.equal(xaev.stderr(), 'xaev: cannot write to stdout: no space left on device (ENOSPC)\n');
  });

  it('SIGTERM while stdout is a full pipe leaves whole events only (-j --details, 30 events a datagram)', async () => {
    const expected = runXaev(['-j', 'monitor', '--file', `${FIXTURES}ae.bin`]).stdout.split(/(?<=\n)/);
    const pipe = join(scratch, 'full-pipe');
    execFileSync('mkfifo', [pipe]);
    // O_RDWR opens the FIFO without waiting; nothing reads it until xaev has exited.
    const writeEnd = openSync(pipe, 'r+');
    const readEnd = openSync(pipe, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const baseline = aeventListeners(ns.name);
      const child = spawn(process.execPath, [XAEV_BIN, '-n', ns.name, '-j', 'monitor', '--details'], { stdio: ['ignore', writeEnd, 'pipe'] });
      const exited = once(child, 'exit');
      await until(() => aeventListeners(ns.name) > baseline, 10_000, 'the monitor to subscribe');
      // 6,000 events of ae.bin, 30 to a datagram: far more text than the pipe holds.
      const events = parseMessages(readFileSync(`${FIXTURES}ae.bin`));
      injectAevents(ns.name, Array.from({ length: 200 }, (_, d) => Buffer.concat(Array.from({ length: 30 }, (_, i) => {
        const m = events[(d * 30 + i) % events.length]!;
        return encodeMessage(m, m.payload);
      }))));
      await sleep(500);
      assert.equal(child.exitCode, null, 'still waiting for room in the pipe');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const [code, signal] = await exited;
      clearTimeout(timer);
      assert.deepEqual({ code, signal }, { code: 0, signal: null });
      const chunks: Buffer[] = [];
      for (;;) {
        const chunk = Buffer.alloc(65536);
        try {
          chunks.push(chunk.subarray(0, readSync(readEnd, chunk)));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw error;
        }
      }
      const lines = Buffer.concat(chunks).toString().split(/(?<=\n)/);
      assert.ok(lines.length > 100, `the pipe held ${lines.length} lines`);
      lines.forEach((line, i) => assert.equal(line, expected[i % expected.length], `line ${i + 1} of ${lines.length}`));
    } finally {
      closeSync(readEnd);
      closeSync(writeEnd);
    }
  });

  it('MPLS addresses read on as ip reads them: into the next message of a datagram, and what earlier datagrams left', async () => {
    const [xaev, iproute] = (await startListeners(ns.name, () => [
      startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, 'monitor']),
      startProcess('ip', ['-n', ns.name, 'xfrm', 'monitor', 'aevent']),
    ])) as [RunningProcess, RunningProcess];
    injectAevents(ns.name, [NINE_LABELS, LONGER, NO_BOTTOM, Buffer.concat([NO_BOTTOM, NINE_LABELS])]);
    await until(() => xaev.stdout().split('\n').length > 10 && iproute.stdout().split('\n').length > 10);
    xaev.child.kill('SIGTERM');
    iproute.child.kill('SIGTERM');
    assert.deepEqual(await xaev.exited, { code: 0, signal: null });
    await iproute.exited;
    assert.equal(xaev.stdout(), iproute.stdout());
    assert.match(xaev.stdout(), /^\tsrc 6\/7\/8 dst 1\/2\/3\/4\/5\/114691\/6\/7\/8 /m);
    assert.equal(xaev.stderr(), '');
  });

  it('SIGTERM ends it at once with status 0 while the reader of stdout has stopped reading', async () => {
    const [xaev] = (await startListeners(ns.name, () => [startProcess(process.execPath, [XAEV_BIN, '-n', ns.name, 'monitor'])])) as [
      RunningProcess,
    ];
    xaev.child.stdout!.pause();
    // 10,000 events, about 1.3 MB of text: more than the pipe and xaev's 1 MiB output bound
    // (400 to a 52,800-byte datagram, which the 64 KiB read size takes whole).
    injectAevents(ns.name, Array.from({ length: 25 }, () => Buffer.concat(Array.from({ length: 400 }, () => ONE_EVENT))));
    await sleep(500);
    assert.equal(xaev.child.exitCode, null);
    const signalledAt = Date.now();
    xaev.child.kill('SIGTERM');
    const timer = setTimeout(() => xaev.child.kill('SIGKILL'), 5000);
    const exit = await xaev.exited;
    clearTimeout(timer);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - signalledAt < 3000, `took ${Date.now() - signalledAt} ms`);
  });
});



describe('host kernel: list, batch, defaults, completion', { skip }, () => {
  let ns: Netns;

  before(() => {
    ns = makeNetns('xaev-host2');
    addLarvalSas(ns.name, [
      { src: '192.0.2.1', dst: '192.0.2.2', reqid: 1, spi: 0x1000 },
      { src: '192.0.2.1', dst: '192.0.2.3', reqid: 2, spi: 0x1001 },
      { src: '192.0.2.1', dst: '192.0.2.4', reqid: 3, spi: 0x1002 },
    ]);
  });
  after(() => ns?.remove());

  it('list --json prints every SA with thresholds; filters narrow it', () => {
    const all = runXaev(['-n', ns.name, '-j', 'list']);
    assert.equal(all.status, 0, all.stderr);
    const records = JSON.parse(all.stdout) as { spi: number; dst: string; thresholds: unknown }[];
    assert.deepEqual(records.map((r) => r.spi).sort(), [0x1000, 0x1001, 0x1002]);
    assert.ok(records.every((r) => JSON.stringify(r.thresholds) === '{"replay":0,"timerMs":0}'));
    const one = runXaev(['-n', ns.name, '-j', 'ls', '--dst', '192.0.2.3']);
    assert.deepEqual((JSON.parse(one.stdout) as { spi: number }[]).map((r) => r.spi), [0x1001]);
    const none = runXaev(['-n', ns.name, '-j', 'list', '--proto', 'ah']);
    assert.deepEqual([none.status, none.stdout], [0, '[]\n']);
    const text = runXaev(['-n', ns.name, 'list', '--spi', '0x1002']);
    assert.match(text.stdout, /^src 192\.0\.2\.1 dst 192\.0\.2\.4\n\tproto esp spi 0x00001002 reqid 3\n/);
  });

  it('list --counters-only prints the records of list without their thresholds, from the dump alone', () => {
    const full = JSON.parse(runXaev(['-n', ns.name, '-j', 'list']).stdout) as Record<string, unknown>[];
    const counters = runXaev(['-n', ns.name, '-j', 'list', '--counters-only']);
    assert.equal(counters.status, 0, counters.stderr);
    assert.deepEqual(JSON.parse(counters.stdout), full.map(({ thresholds: _, ...rest }) => rest));
    const text = runXaev(['-n', ns.name, 'list', '--counters-only', '--spi', '0x1002']);
    const lines = text.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 5), [
      'src 192.0.2.1 dst 192.0.2.4',
      '\tproto esp spi 0x00001002 reqid 3',
      '\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000',
      '\tlifetime current:',
      '\t  0(bytes), 0(packets)',
    ]);
    assert.match(lines[5]!, /^\t {2}add \d{4}-\d\d-\d\d \d\d:\d\d:\d\d use -$/);
    assert.deepEqual(lines.slice(6), ['']);
  });

  it('batch runs lines on one socket, skips comments, and stops at the first failure with FILE:LINE', () => {
    const script = '# sync\nget 0x1000\n\n-j get 0x1001   # one JSON line\nget 0x9999\nget 0x1002\n';
    const stopped = runXaev(['-n', ns.name, 'batch', '-'], { input: script });
    assert.equal(stopped.status, 1);
    assert.equal(stopped.stderr, 'xaev: stdin:5: no SA with SPI 0x9999\n');
    assert.match(stopped.stdout, /^src 192\.0\.2\.1 dst 192\.0\.2\.2\n/);
    assert.match(stopped.stdout, /\n\{"src":"192\.0\.2\.1","dst":"192\.0\.2\.3",.*"spi":4097,/);
    assert.doesNotMatch(stopped.stdout, /192\.0\.2\.4/);
    // One line's options do not carry over to the next.
    const mixed = runXaev(['-n', ns.name, 'batch', '-'], { input: '-j get 0x1000\nget 0x1001\n' });
    assert.match(mixed.stdout, /^\{"src":"192\.0\.2\.1","dst":"192\.0\.2\.2",.*\}\nsrc 192\.0\.2\.1 dst 192\.0\.2\.3\n/);
    const forced = runXaev(['-n', ns.name, '-j', 'batch', '-', '--force'], { input: script });
    assert.equal(forced.status, 1);
    assert.deepEqual(forced.stdout.trimEnd().split('\n').map((line) => (JSON.parse(line) as { spi: number }).spi), [0x1000, 0x1001, 0x1002]);
  });

  it('batch quoting errors and usage errors name the line', () => {
    const result = runXaev(['-n', ns.name, 'batch', '-', '--force'], { input: "get '0x1000\nget --bogus 1\nget 0x1000\n" });
    assert.equal(result.status, 2);
    assert.equal(result.stderr, "xaev: stdin:1: unterminated single quote\nxaev: stdin:2: unknown option '--bogus' (see xaev --help)\n");
    assert.match(result.stdout, /spi 0x00001000/);
  });

  it('defaults shows and sets the namespace sysctls, in ms', () => {
    const before = runXaev(['-n', ns.name, '-j', 'defaults']);
    assert.deepEqual([before.status, before.stdout], [0, '{"replay":2,"timerMs":1000}\n']);
    const set = runXaev(['-n', ns.name, 'defaults', '--rthr', '7', '--etime', '300']);
    assert.equal(set.status, 0);
    assert.equal(set.stdout, 'replay threshold: 7 packets\ntimer threshold: 300 ms\n');
    assert.match(set.stderr, /only SAs created from now on take these defaults/);
    assert.equal(ip('netns', 'exec', ns.name, 'cat', '/proc/sys/net/core/xfrm_aevent_etime').trim(), '3');
    assert.equal(ip('netns', 'exec', ns.name, 'cat', '/proc/sys/net/core/xfrm_aevent_rseqth').trim(), '7');
    const bad = runXaev(['-n', ns.name, 'defaults', '--etime', '250']);
    assert.deepEqual([bad.status, bad.stderr], [2, 'xaev: --etime: 250 ms is not a multiple of 100 (the sysctl counts 100 ms units)\n']);
  });

  it('completion scripts are valid shell and list the commands and options', () => {
    const bash = runXaev(['completion', 'bash']);
    assert.equal(bash.status, 0);
    assert.match(bash.stdout, /complete -F _xaev xaev/);
    assert.match(bash.stdout, /set\) opts="[^"]*--etime[^"]*--force/);
    assert.equal(spawnSync('bash', ['-n'], { input: bash.stdout }).status, 0);
    const zsh = runXaev(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef xaev/);
    if (spawnSync('zsh', ['-c', 'true']).status === 0) assert.equal(spawnSync('zsh', ['-n'], { input: zsh.stdout }).status, 0);
    assert.match(zsh.stdout, /'--proto\[only this protocol: esp, ah or comp\]:value:\(esp ah comp\)'/);
    assert.deepEqual([runXaev(['completion', 'fish']).status], [2]);
  });
});
