// monitor --file as a hostile user drives it: framing errors, endless input, a full disk,
// a reader that stops reading; and text that must match `ip xfrm monitor file` where ip
// prints something odd (control messages, unusual families, far-away dates).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants as fsConstants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { encodeMessage } from '../src/netlink/message.js';
import { formatUnixTime } from '../src/cli/text.js';
import { FIXTURES, REPO_ROOT, XAEV_BIN } from './support/paths.js';
import { runXaev } from './support/run.js';
import { startProcess, until } from './support/monitor.js';
import { prng } from './support/prng.js';
import { LONGER, mplsLabel, NINE_LABELS, NO_BOTTOM } from './support/mpls.js';

const dir = mkdtempSync(join(tmpdir(), 'xaev-monitor-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

const AE = readFileSync(`${FIXTURES}ae.bin`);
/** The first two events of ae.bin (132 bytes each) and what ip prints for them. */
const TWO_EVENTS = AE.subarray(0, 264);
const TWO_EVENTS_TEXT =
  'Async event  (0x20)  timer expired \n\tsrc 10.0.0.1 dst 10.0.0.2  reqid 0x1 protocol esp  SPI 0x1234\n' +
  'Async event  (0x10)  replay update \n\tsrc 10.0.0.1 dst 10.0.0.2  reqid 0x10 protocol esp  SPI 0xc0ffee01\n';

const noIp = spawnSync('ip', ['-V']).status === 0 ? false : 'needs iproute2 (ip) to compare with';

function ipMonitorFile(path: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): string {
  return spawnSync('ip', [...extra, 'xfrm', 'monitor', 'file', path], { encoding: 'utf8', env: { ...process.env, ...env } }).stdout;
}

/** An xfrm_aevent_id of the given family with these address bytes. */
function aevent(family: number, daddr: Buffer, saddr: Buffer): Buffer {
  const body = Buffer.alloc(48);
  daddr.copy(body, 0);
  body.writeUInt32BE(0x1234, 16);
  body.writeUInt16LE(family, 20);
  body[22] = 50;
  saddr.copy(body, 24);
  body.writeUInt32LE(0x20, 40);
  body.writeUInt32LE(1, 44);
  return encodeMessage({ type: 30, flags: 0, seq: 0, pid: 0 }, body);
}


describe('monitor --file on bad input', () => {
  it('prints the events before a framing error, then one line, status 1 (as ip does)', () => {
    const path = file('junk.bin', Buffer.concat([TWO_EVENTS, Buffer.from('junk')]));
    const result = runXaev(['monitor', '--file', path]);
    assert.equal(result.stdout, TWO_EVENTS_TEXT);
    assert.equal(result.stderr, `xaev: "${path}" is not a stream of netlink messages: truncated netlink header: 4 bytes left at offset 264\n`);
    assert.equal(result.status, 1);
  });

  it('--count ends before a later framing error with status 0', () => {
    const path = file('junk-count.bin', Buffer.concat([TWO_EVENTS, Buffer.from('junk')]));
    const result = runXaev(['monitor', '--file', path, '--count', '2']);
    assert.deepEqual([result.status, result.stdout, result.stderr], [0, TWO_EVENTS_TEXT, '']);
  });

  it('/dev/zero ends at once with one line instead of reading forever', () => {
    const started = Date.now();
    const result = runXaev(['monitor', '--file', '/dev/zero']);
    assert.deepEqual([result.status, result.stdout], [1, '']);
    assert.equal(result.stderr, 'xaev: "/dev/zero" is not a stream of netlink messages: netlink message length 0 at offset 0 is shorter than its header\n');
    assert.ok(Date.now() - started < 10_000);
  });

  it('a missing file is one line naming it once, escaped, with the errno name; status 1', () => {
    // Node's own message would repeat the path raw: "ENOENT: no such file or directory, open '...'".
    const result = runXaev(['monitor', '--file', 'xaev-missing-events\n.bin']);
    assert.deepEqual(
      [result.status, result.stdout, result.stderr],
      [1, '', 'xaev: cannot read "xaev-missing-events\\n.bin": no such file or directory (ENOENT)\n'],
    );
  });

  it('a 21 MB file streams through a 48 MB heap (0.1.0 read it whole and ran out of memory)', () => {
    const path = file('big.bin', Buffer.concat(Array.from({ length: 25_000 }, () => AE)));
    const result = spawnSync('sh', ['-c', `"${process.execPath}" --max-old-space-size=48 "${XAEV_BIN}" monitor --file "${path}" >/dev/null`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.deepEqual([result.status, result.signal, result.stderr], [0, null, '']);
  });

  it('a length beyond any real message is refused without buffering it', () => {
    const header = Buffer.alloc(16);
    header.writeUInt32LE(0x7fffffff, 0);
    header.writeUInt16LE(30, 4);
    const result = runXaev(['monitor', '--file', file('huge.bin', Buffer.concat([TWO_EVENTS, header]))]);
    assert.equal(result.stdout, TWO_EVENTS_TEXT);
    assert.match(result.stderr, /netlink message length 2147483647 at offset 264 exceeds the 1048576 bytes a message may have\n$/);
    assert.equal(result.status, 1);
  });

  it('an event cut by the end of the file is reported after the events before it', () => {
    const path = file('cut.bin', AE.subarray(0, 300));
    const result = runXaev(['monitor', '--file', path]);
    assert.equal(result.stdout, TWO_EVENTS_TEXT);
    assert.match(result.stderr, /netlink message length 132 at offset 264 exceeds the 36 bytes left\n$/);
    assert.equal(result.status, 1);
  });
});

describe('monitor --file when stdout fails', () => {
  it('a full disk is one line and status 1, no stack trace', () => {
    const result = spawnSync(process.execPath, [XAEV_BIN, 'monitor', '--file', `${FIXTURES}ae.bin`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(result.status, 0);
    const full = spawnSync('sh', ['-c', `"${process.execPath}" "${XAEV_BIN}" monitor --file "${FIXTURES}ae.bin" >/dev/full`], { encoding: 'utf8' });
    assert.equal(full.stderr, 'xaev: cannot write to stdout: no space left on device (ENOSPC)\n');
    assert.equal(full.status, 1);
  });

  it('SIGTERM ends it at once with status 0 while the reader has stopped reading', async () => {
    // 70,000 events: far more text than a pipe and the 1 MiB output bound hold.
    const path = file('many.bin', Buffer.concat(Array.from({ length: 10_000 }, () => AE)));
    const child = spawn(process.execPath, [XAEV_BIN, 'monitor', '--file', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'exit');
    // Take one chunk so the process is surely writing, then stop reading.
    await once(child.stdout, 'data');
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(child.exitCode, null, 'still blocked on the reader');
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const [code, signal] = await exited;
    clearTimeout(timer);
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    assert.ok(Date.now() - signalledAt < 3000, `took ${Date.now() - signalledAt} ms`);
    assert.equal(stderr, '');
  });
});

describe('SIGTERM while stdout is a full pipe leaves whole events only', () => {
  // 70,000 events, megabytes of text: the pipe (64 KiB) fills and xaev waits for room.
  const path = file('whole.bin', Buffer.concat(Array.from({ length: 10_000 }, () => AE)));

  for (const [name, globals, options, split] of [
    ['-j', ['-j'], [], /(?<=\n)/],
    ['--details', [], ['--details'], /(?=^Async event)/m],
  ] as const) {
    it(`${name}: what the pipe holds ends at an event's end`, async () => {
      const events = runXaev([...globals, 'monitor', '--file', path, ...options]).stdout.split(split);
      const pipe = join(dir, `whole${name}`);
      execFileSync('mkfifo', [pipe]);
      // O_RDWR opens the FIFO without waiting; nothing reads it until xaev has exited.
      const writeEnd = openSync(pipe, 'r+');
      const readEnd = openSync(pipe, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      try {
        const child = spawn(process.execPath, [XAEV_BIN, ...globals, 'monitor', '--file', path, ...options], { stdio: ['ignore', writeEnd, 'pipe'] });
        const exited = once(child, 'exit');
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
          let count = 0;
          try {
            count = readSync(readEnd, chunk);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
            throw error;
          }
          chunks.push(chunk.subarray(0, count));
        }
        const taken = Buffer.concat(chunks).toString();
        assert.ok(taken.length > 60_000, `the pipe held ${taken.length} bytes`);
        let whole = '';
        for (const event of events) {
          if (whole.length >= taken.length) break;
          whole += event;
        }
        assert.equal(taken.length, whole.length, 'a cut event at the end of the pipe');
        assert.equal(taken, whole);
      } finally {
        closeSync(readEnd);
        closeSync(writeEnd);
      }
    });
  }
});

describe('monitor --file while it waits for input', () => {
  function fifo(name: string): string {
    const path = join(dir, name);
    execFileSync('mkfifo', [path]);
    return path;
  }

  /** Signal a running monitor; it must end by itself with status 0 within 3 s (SIGKILL after 5). */
  async function signalEndsIt(run: ReturnType<typeof startProcess>, signal: NodeJS.Signals): Promise<void> {
    const signalledAt = Date.now();
    run.child.kill(signal);
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 5000);
    const ended = await run.exited;
    clearTimeout(timer);
    assert.deepEqual(ended, { code: 0, signal: null });
    assert.ok(Date.now() - signalledAt < 3000, `took ${Date.now() - signalledAt} ms`);
    assert.equal(run.stderr(), '');
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} ends it at once with status 0 while a FIFO has no writer (as ip xfrm monitor file)`, async () => {
      const run = startProcess(process.execPath, [XAEV_BIN, 'monitor', '--file', fifo(`nowriter-${signal}`)]);
      await sleep(500);
      assert.equal(run.child.exitCode, null, 'still waiting for a writer');
      await signalEndsIt(run, signal);
      assert.equal(run.stdout(), '');
    });
  }

  it('SIGTERM ends it at once while the writer of a FIFO is idle, after the events it wrote', async () => {
    const path = fifo('idle');
    const run = startProcess(process.execPath, [XAEV_BIN, 'monitor', '--file', path]);
    const writer = openSync(path, 'w');
    try {
      writeSync(writer, TWO_EVENTS);
      await until(() => run.stdout() === TWO_EVENTS_TEXT, 10_000, 'the two events');
      await signalEndsIt(run, 'SIGTERM');
    } finally {
      closeSync(writer);
    }
  });

  it('SIGINT ends it at once while a producer on /dev/stdin is idle', async () => {
    // stdin is a pipe the test holds open (Node's own stdio pipes are sockets, which /dev/stdin
    // cannot reopen); O_RDWR opens a FIFO without waiting for a reader.
    const producer = openSync(fifo('stdin'), 'r+');
    try {
      const child = spawn(process.execPath, [XAEV_BIN, 'monitor', '--file', '/dev/stdin'], { stdio: [producer, 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = once(child, 'exit');
      writeSync(producer, TWO_EVENTS);
      await until(() => stdout === TWO_EVENTS_TEXT, 10_000, 'the two events');
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const [code, signal] = await exited;
      clearTimeout(timer);
      assert.deepEqual({ code, signal, stderr }, { code: 0, signal: null, stderr: '' });
    } finally {
      closeSync(producer);
    }
  });

  it('a FIFO opened before its writer is read until the writer closes it, then status 0', async () => {
    const path = fifo('late');
    const run = startProcess(process.execPath, [XAEV_BIN, 'monitor', '--file', path]);
    await sleep(300);
    assert.equal(run.child.exitCode, null, 'no writer yet is not the end of the file');
    writeFileSync(path, Buffer.concat([TWO_EVENTS, TWO_EVENTS]));
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
    assert.deepEqual(await run.exited, { code: 0, signal: null });
    clearTimeout(timer);
    assert.deepEqual([run.stdout(), run.stderr()], [TWO_EVENTS_TEXT + TWO_EVENTS_TEXT, '']);
  });
});

describe('monitor --file prints what ip prints', { skip: noIp }, () => {
  it('nothing for NLMSG_NOOP, NLMSG_ERROR and NLMSG_DONE', () => {
    const error = Buffer.alloc(20);
    error.writeInt32LE(-22, 0);
    const path = file('control.bin', Buffer.concat([
      encodeMessage({ type: 1, flags: 0, seq: 0, pid: 0 }),
      encodeMessage({ type: 2, flags: 0, seq: 0, pid: 0 }, error),
      encodeMessage({ type: 3, flags: 2, seq: 0, pid: 0 }, Buffer.alloc(4)),
      TWO_EVENTS,
    ]));
    const result = runXaev(['monitor', '--file', path]);
    assert.deepEqual([result.status, result.stderr], [0, '']);
    assert.equal(result.stdout, TWO_EVENTS_TEXT);
    assert.equal(result.stdout, ipMonitorFile(path));
  });

  it('addresses of families other than inet and inet6', () => {
    const counting = Buffer.from(Array.from({ length: 16 }, (_, i) => i + 1));
    const bridgeInet = Buffer.alloc(16);
    bridgeInet.writeUInt16LE(2, 0);
    Buffer.from([192, 0, 2, 1]).copy(bridgeInet, 4);
    const bridgeInet6 = Buffer.alloc(16);
    bridgeInet6.writeUInt16LE(10, 0);
    counting.copy(bridgeInet6, 8, 0, 8);
    const labels = (...entries: Buffer[]): Buffer => Buffer.concat([...entries, Buffer.alloc(16)]).subarray(0, 16);
    const path = file('families.bin', Buffer.concat([
      aevent(0, counting, counting),
      aevent(17, counting, Buffer.alloc(16, 0xab)),
      aevent(28, labels(mplsLabel(4128, true)), labels(mplsLabel(1), mplsLabel(2, true))),
      aevent(28, labels(mplsLabel(1), mplsLabel(2), mplsLabel(3), mplsLabel(4)), labels(mplsLabel(9, true))),
      aevent(7, bridgeInet, bridgeInet6),
      aevent(99, counting, counting),
    ]));
    const result = runXaev(['monitor', '--file', path]);
    assert.equal(result.stderr, '');
    const expected = ipMonitorFile(path);
    assert.equal(result.stdout, expected);
    assert.match(expected, / dst 01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10 /, 'ip prints packet addresses in hex');
    assert.match(expected, /src 102:304:506:708:2000:0:100:0 dst 192\.0\.2\.1 /, 'ip reads bridge/inet6 past the field');
  });
});

describe('MPLS labels as iproute2 prints them (lib/mpls_ntop.c: mpls_ntop1())', () => {
  const head = 'Async event  (0x20)  timer expired \n';
  const tailText = '  reqid 0x1 protocol esp  SPI 0x5000\n';
  const [nineLabels, noBottom, longer] = [NINE_LABELS, NO_BOTTOM, LONGER];

  it('more than 8 labels, up to the bottom of stack', () => {
    const result = runXaev(['monitor', '--file', file('mpls-nine.bin', nineLabels)]);
    assert.deepEqual([result.status, result.stderr], [0, '']);
    assert.equal(result.stdout, `${head}\tsrc 6/7/8 dst 1/2/3/4/5/114691/6/7/8${tailText}`);
    const json = JSON.parse(runXaev(['-j', 'monitor', '--file', file('mpls-nine.bin', nineLabels)]).stdout) as { src: string; dst: string; family: number };
    assert.deepEqual([json.family, json.src, json.dst], [28, '6/7/8', '1/2/3/4/5/114691/6/7/8']);
  });

  it('past the message: (null) in a fresh buffer, else what the longer message before it left there', () => {
    const alone = runXaev(['monitor', '--file', file('mpls-alone.bin', noBottom)]);
    assert.equal(alone.stdout, `${head}\tsrc (null) dst 1${tailText}`);
    const after = runXaev(['monitor', '--file', file('mpls-after.bin', Buffer.concat([longer, noBottom]))]);
    assert.equal(after.stdout, `${head}\tsrc 6/7/8/9 dst 1/2/3/4/5/114691/6/7/8/9${tailText}${head}\tsrc 6/7/8/9/131072/4096/671751 dst 1${tailText}`);
  });

  it('the same text as ip for 400 random MPLS and bridge aevents in one file', { skip: noIp }, () => {
    const random = prng(20);
    const messages = Array.from({ length: 400 }, () => {
      const extra = Math.floor(random() * 200);
      const body = Buffer.alloc(52 + extra);
      for (let i = 0; i < body.length; i++) body[i] = random() < 0.5 ? 0 : Math.floor(random() * 256);
      // Mostly without the bottom-of-stack bit, so that labels run far.
      for (let i = 2; i < body.length; i += 4) if (random() < 0.97) body[i]! &= 0xfe;
      body.writeUInt16LE(random() < 0.8 ? 28 : 7, 20);
      body[22] = 50;
      body.writeUInt16LE(4 + extra, 48);
      body.writeUInt16LE(0x7f, 50);
      return encodeMessage({ type: 30, flags: 0, seq: 0, pid: 0 }, body);
    });
    const path = file('mpls-random.bin', Buffer.concat(messages));
    const result = runXaev(['monitor', '--file', path]);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, ipMonitorFile(path));
  });

  it('the same text as ip for the cases above', { skip: noIp }, () => {
    for (const [name, data] of [['mpls-nine.bin', nineLabels], ['mpls-alone.bin', noBottom], ['mpls-after.bin', Buffer.concat([longer, noBottom])]] as const) {
      const path = file(name, data);
      assert.equal(runXaev(['monitor', '--file', path]).stdout, ipMonitorFile(path), name);
    }
  });
});

describe('what the README says monitor does with odd input', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').replace(/\n/g, ' ');

  it('a NEWAE whose body does not decode: the warning the README quotes, the events around it printed', () => {
    const short = encodeMessage({ type: 30, flags: 0, seq: 0, pid: 0 }, AE.subarray(16, 56));
    const result = runXaev(['monitor', '--file', file('short-newae.bin', Buffer.concat([TWO_EVENTS, short]))]);
    assert.deepEqual([result.status, result.stdout], [0, TWO_EVENTS_TEXT]);
    const quoted = /`(xaev: warning: skipped a malformed message[^`]*)`/.exec(readme);
    assert.ok(quoted, 'the README quotes the warning');
    assert.equal(result.stderr, `${quoted[1]}\n`);
  });

  it('JSON family: a number for families other than inet and inet6, as the table in the README says', () => {
    const result = runXaev(['-j', 'monitor', '--file', file('family-json.bin', aevent(17, Buffer.alloc(16, 1), Buffer.alloc(16, 2)))]);
    const record = JSON.parse(result.stdout) as { family: unknown; src: string };
    assert.deepEqual([record.family, record.src], [17, '02:02:02:02:02:02:02:02:02:02:02:02:02:02:02:02']);
    assert.match(readme, /\| `family` \| `"inet"` or `"inet6"`; the family's number for any other/);
  });

  it('times glibc cannot convert: raw seconds, as the README says', () => {
    assert.equal(formatUnixTime(2n ** 63n), String(2n ** 63n));
    assert.match(readme, /a time glibc cannot convert, where `ip` prints garbage or crashes, prints as raw seconds/);
  });
});

describe('dates in --details', () => {
  // NEWSA messages whose curlft.add_time is each value; `ip -s xfrm monitor file` prints them
  // through ip/ipxfrm.c: strxf_time().
  const values = [1700000000n, 8_700_000_000_000n, 253402300800n, 67767976233316800n, 67767976233532799n, 2n ** 64n - 1n, 2n ** 64n - 86400n * 366n * 3000n, 2n ** 64n - 62135596800n];

  function newsa(addTime: bigint): Buffer {
    const body = Buffer.alloc(224);
    Buffer.from([10, 0, 0, 2]).copy(body, 56);
    body.writeUInt32BE(0x1000, 72);
    body[76] = 50;
    Buffer.from([10, 0, 0, 1]).copy(body, 80);
    body.writeUInt16LE(2, 212);
    body.writeBigUInt64LE(addTime, 176);
    return encodeMessage({ type: 16, flags: 0, seq: 0, pid: 0 }, body);
  }

  for (const zone of ['UTC', 'America/New_York']) {
    it(`match ip -s for times up to the end of glibc's range (TZ=${zone})`, { skip: noIp }, () => {
      const saved = process.env.TZ;
      process.env.TZ = zone;
      try {
        for (const value of values) {
          const text = ipMonitorFile(file(`t${value}.bin`, newsa(value)), ['-s'], { TZ: zone });
          const line = /^\t {2}add (.*) use -$/m.exec(text);
          assert.ok(line, `ip printed no add line for ${value}: ${text}`);
          assert.equal(`${formatUnixTime(value)}`, line[1], `add_time ${value}`);
        }
      } finally {
        if (saved === undefined) delete process.env.TZ;
        else process.env.TZ = saved;
      }
    });
  }

  it('never NaN: times glibc cannot convert print as raw seconds', () => {
    for (const value of [10n ** 17n, 2n ** 63n - 1n, 2n ** 63n]) {
      assert.equal(formatUnixTime(value), String(value));
    }
    for (let exponent = 0n; exponent < 64n; exponent++) {
      assert.doesNotMatch(formatUnixTime(2n ** exponent), /NaN/);
    }
  });
});
