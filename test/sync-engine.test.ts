// The receiver engine with a fake kernel (cache and live mode, SAs that appear later,
// takeover's verdict), the command transport with a fake CMD (reconnect, backoff, heartbeat
// timeout), the control socket, and the metrics file. No root needed.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NetlinkError } from '../src/netlink/errors.js';
import type { AeMessage, AeUpdate, SaKey } from '../src/xfrm/aevent.js';
import type { XfrmClient } from '../src/xfrm/client.js';
import type { SaEntry } from '../src/xfrm/sa-dump.js';
import { createSa } from '../src/xfrm/sa-message.js';
import { RECEIVER_WRITE_PID, SENDER_WRITE_PID } from '../src/sync/echo.js';
import { ControlUnavailableError, controlRequest, startControlServer } from '../src/sync/control.js';
import { renderMetrics, writeMetricsFile } from '../src/sync/metrics.js';
import { SyncReceiver } from '../src/sync/receiver.js';
import { StreamSession } from '../src/sync/session.js';
import { statusOf, takeoverAnswer, type StatusAnswer } from '../src/sync/status.js';
import { decodeLine, parseJsonExact } from '../src/sync/stream-decode.js';
import { toJson } from '../src/xfrm/json.js';
import { syncStatusText, takeoverText } from '../src/cli/sync-text.js';
import { encodeHeartbeat, encodeHello, encodeSnapshotBegin, encodeSnapshotEnd, encodeSnapshotSa, encodeUpdate } from '../src/sync/stream.js';
import { Backoff, CommandTransport } from '../src/sync/transport.js';

const DST = Buffer.from([192, 0, 2, 2, ...new Array(12).fill(0)]);

function ae(spi: number, oseq: number, seq = 0): AeMessage {
  return {
    id: { saId: { daddr: DST, spi, family: 2, proto: 50 }, saddr: Buffer.alloc(16), flags: 16, reqid: 1 },
    replay: { kind: 'legacy', oseq, seq, bitmap: seq > 0 ? 1 : 0 },
    lifetime: { bytes: 0n, packets: BigInt(oseq + seq), addTime: 1n, useTime: 0n },
    replayThreshold: undefined,
    timerThreshold100ms: undefined,
    mark: undefined,
    ifId: undefined,
    direction: undefined,
    unknownAttributes: [],
  };
}

/** A kernel with a few legacy SAs: dump, GETAE and NEWAE on a map, writes recorded. */
class FakeKernel {
  readonly sas = new Map<number, AeMessage>();
  readonly writes: { spi: number; update: AeUpdate; pid: number }[] = [];
  reads = 0;
  add(spi: number): void {
    this.sas.set(spi, ae(spi, 0));
  }
  asClient(): XfrmClient {
    const entry = (a: AeMessage): SaEntry => ({
      info: { saId: a.id.saId, saddr: a.id.saddr, reqid: 1, mode: 0, replayWindow: 32, flags: 0 },
      mark: undefined,
      ifId: undefined,
    });
    const get = (key: SaKey): AeMessage | NetlinkError => this.sas.get(key.saId.spi) ?? new NetlinkError(3);
    return {
      listSas: () => [...this.sas.values()].map(entry),
      getAeMany: (keys: SaKey[]) => {
        this.reads += keys.length;
        return keys.map(get);
      },
      newAeMany: (writes: { key: SaKey; update: AeUpdate }[], pid: number) =>
        writes.map(({ key, update }) => {
          const current = this.sas.get(key.saId.spi);
          if (!current) return new NetlinkError(3);
          this.writes.push({ spi: key.saId.spi, update, pid });
          this.sas.set(key.saId.spi, { ...current, replay: update.replay ?? current.replay, lifetime: update.lifetime ?? current.lifetime });
          return undefined;
        }),
    } as unknown as XfrmClient;
  }
}

function feed(receiver: SyncReceiver, texts: string[]): void {
  for (const text of texts) for (const line of text.trim().split('\n')) receiver.take(decodeLine(line));
}

const hello = encodeHello({ node: 'a', software: 'xaev test', hz: 100, rthr: 256, etimeMs: 200, time: 1 });
const snapshot = (sas: AeMessage[]): string[] => [encodeSnapshotBegin(1, 1), ...sas.map((s) => encodeSnapshotSa(1, s, 1)), encodeSnapshotEnd(1, sas.length, 1)];
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('receiver engine', () => {
  it('cache mode holds everything until takeover, then applies with the margin', async () => {
    const kernel = new FakeKernel();
    kernel.add(0x1000);
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'cache', margin: 500, maxSas: 10 });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(0x1000, 1000)]), encodeUpdate('replay', ae(0x1000, 2000), 2)]);
    await tick();
    assert.equal(kernel.writes.length, 0);
    const result = receiver.takeover();
    assert.equal(result.ok, true);
    assert.deepEqual(kernel.writes.map((w) => [w.spi, w.update.replay]), [[0x1000, { kind: 'legacy', oseq: 2500, seq: 0, bitmap: 0 }]]);
    assert.equal(kernel.writes[0]!.pid, RECEIVER_WRITE_PID);
  });

  it('live mode applies coalesced: three updates in one tick make one write', async () => {
    const kernel = new FakeKernel();
    kernel.add(0x1000);
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 10, maxSas: 10 });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(0x1000, 1)]), ...[5, 6, 7].map((n) => encodeUpdate('replay', ae(0x1000, n), n))]);
    await tick();
    assert.deepEqual(kernel.writes.map((w) => (w.update.replay as { oseq: number }).oseq), [17]);
  });

  it('live mode looks only at the SAs that changed since its last apply, in the order they changed', async () => {
    const kernel = new FakeKernel();
    for (const spi of [0x1000, 0x1001, 0x1002]) kernel.add(spi);
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 10, maxSas: 10 });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(0x1000, 1), ae(0x1001, 1), ae(0x1002, 1)])]);
    await tick();
    const [reads, writes] = [kernel.reads, kernel.writes.length];
    feed(receiver, [encodeUpdate('replay', ae(0x1002, 50), 3), encodeUpdate('replay', ae(0x1000, 60), 3)]);
    await tick();
    assert.equal(kernel.reads - reads, 2);
    assert.deepEqual(kernel.writes.slice(writes).map((w) => [w.spi, (w.update.replay as { oseq: number }).oseq]), [[0x1002, 60], [0x1000, 70]]);
  });

  it('holds an SA that is missing here and applies it when it appears; takeover fails while it is missing', async () => {
    const kernel = new FakeKernel();
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 10, maxSas: 10 });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(0x1000, 100)])]);
    await tick();
    assert.equal(receiver.store.sas.get('inet 192.0.2.2 0x00001000 esp')?.state, 'missing');
    kernel.add(0x1000);
    const saId = { daddr: DST, spi: 0x1000, family: 2, proto: 50 };
    receiver.onLocalSa({ change: 'new', saId, mark: undefined, esn: false, sa: createSa({ saId, saddr: Buffer.alloc(16) }), pid: 0 });
    await tick();
    assert.equal((kernel.sas.get(0x1000)!.replay as { oseq: number }).oseq, 110);
    kernel.sas.delete(0x1000);
    receiver.onLocalSa({ change: 'delete', saId, mark: undefined, esn: undefined, sa: createSa({ saId, saddr: Buffer.alloc(16) }), pid: 0 });
    const result = receiver.takeover();
    assert.equal(result.ok, false);
    assert.deepEqual(result.reports.map((r) => r.state), ['missing']);
  });

  it('takes over from the state it last read and wrote, without reading again, and never lower', async () => {
    const kernel = new FakeKernel();
    kernel.add(0x1000);
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 500, maxSas: 10 });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(0x1000, 100)])]);
    await tick();
    assert.equal(kernel.writes.length, 1);
    // CU events of sync's own writes (ours, and a local sender's threshold write), arriving
    // late with an older state, must not set the cache back.
    const lateOwnEvent = ae(0x1000, 0);
    lateOwnEvent.id.flags = 64; // XFRM_AE_CU
    receiver.onLocalAevent(lateOwnEvent, RECEIVER_WRITE_PID);
    receiver.onLocalAevent(lateOwnEvent, SENDER_WRITE_PID);
    const readsBefore = kernel.reads;
    const result = receiver.takeover();
    assert.equal(kernel.reads, readsBefore);
    assert.deepEqual(result.reports.map((r) => r.state), ['current']);
    assert.equal(kernel.writes.length, 1);
  });

  it('takeover without any snapshot fails with a reason', () => {
    const receiver = new SyncReceiver(new FakeKernel().asClient(), { mode: 'cache', margin: 'auto', maxSas: 10 });
    assert.deepEqual(receiver.takeover(), { reports: [], policies: [], ok: false, reason: 'no snapshot was ever received from the peer: nothing to take over' });
  });

  it('bounds the SAs it tracks', () => {
    const receiver = new SyncReceiver(new FakeKernel().asClient(), { mode: 'cache', margin: 'auto', maxSas: 2 });
    feed(receiver, [hello, ...snapshot([ae(1, 1), ae(2, 1), ae(3, 1)])]);
    assert.equal(receiver.store.sas.size, 2);
    assert.equal(receiver.store.totals.refusedSas, 1);
  });

  it('takeover is incomplete while the peer has SAs beyond --max-sas, complete once they fit', () => {
    const kernel = new FakeKernel();
    for (const spi of [1, 2, 3]) kernel.add(spi);
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'cache', margin: 10, maxSas: 2 });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(1, 1), ae(2, 1), ae(3, 1)])]);
    const result = receiver.takeover();
    assert.deepEqual(result.reports.map((r) => r.state), ['applied', 'applied']);
    assert.equal(result.ok, false);
    assert.equal(result.reason, 'the peer has more SAs or policies than --max-sas 2: 1 records since its last snapshot were not tracked (raise --max-sas)');
    receiver.release();
    feed(receiver, [...snapshot([ae(1, 2), ae(2, 2)])]);
    assert.equal(receiver.takeover().ok, true);
  });
});

describe('inbound hole after a silent stream (issue 20 item 10)', () => {
  // The lab case in numbers: an inbound SA (0x1001) at 100 packets/s for 5 s of the
  // sender's clock, last synced seq 1289, then 24 s of silence before the takeover.
  function silentFor(silenceMs: number, inboundAdvanceGraceMs: number | undefined) {
    const kernel = new FakeKernel();
    kernel.sas.set(0x1001, ae(0x1001, 0, 789));
    let clock = 1_000_000;
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'cache', margin: 'auto', maxSas: 10, inboundAdvanceGraceMs, now: () => clock });
    const session = new StreamSession(receiver, '-', { note: () => undefined, fatal: () => undefined, healthy: () => undefined }, () => clock);
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(0x1001, 0, 789)])]);
    for (let second = 1; second <= 5; second++) {
      clock += 1000;
      feed(receiver, [encodeUpdate('timer', ae(0x1001, 0, 789 + 100 * second), 1 + 1000 * second)]);
    }
    clock += silenceMs;
    const status = (): StatusAnswer<number | bigint> => parseJsonExact(toJson(statusOf(receiver, session, clock))) as StatusAnswer<number | bigint>;
    return { kernel, receiver, status, heard: () => feed(receiver, [encodeHeartbeat(5001 + silenceMs)]) };
  }

  it('takeover reports the hole (rate before the silence x silence) and, with --inbound-advance, moves the window by the silence beyond the grace', () => {
    const { kernel, receiver } = silentFor(24_000, 5000);
    const result = receiver.takeover();
    assert.equal(result.ok, true);
    assert.deepEqual(result.reports.map((r) => [r.state, r.direction, r.inbound]), [
      ['applied', 'in', { ratePps: 100, silenceMs: 24_000, holePackets: 2400, advance: 1900 }],
    ]);
    assert.deepEqual(kernel.writes.map((w) => w.update.replay), [{ kind: 'legacy', oseq: 0, seq: 1289 + 1900, bitmap: 0 }]);
    assert.equal(
      takeoverText(takeoverAnswer(result, 7, receiver.lastApply)),
      'applied  inet 192.0.2.2 0x00001001 esp in inbound hole up to 2400 (100/s, 24.0 s silent, window advanced 1900)\n' +
        'takeover complete: 1 applied in 7 ms\n',
    );
  });

  it('without the option the window is the synced one and the hole is still reported', () => {
    const { kernel, receiver } = silentFor(24_000, undefined);
    const result = receiver.takeover();
    assert.deepEqual(result.reports.map((r) => r.inbound), [{ ratePps: 100, silenceMs: 24_000, holePackets: 2400, advance: 0 }]);
    assert.deepEqual(kernel.writes.map((w) => w.update.replay), [{ kind: 'legacy', oseq: 0, seq: 1289, bitmap: 1 }]);
    assert.match(takeoverText(takeoverAnswer(result, 7, receiver.lastApply)), /^applied  inet 192\.0\.2\.2 0x00001001 esp in inbound hole up to 2400 \(100\/s, 24\.0 s silent\)\n/);
  });

  it('a takeover within the grace (an ordinary failover) advances nothing', () => {
    const { kernel, receiver } = silentFor(4000, 5000);
    const result = receiver.takeover();
    assert.deepEqual(result.reports.map((r) => r.inbound), [{ ratePps: 100, silenceMs: 4000, holePackets: 400, advance: 0 }]);
    assert.deepEqual(kernel.writes.map((w) => w.update.replay), [{ kind: 'legacy', oseq: 0, seq: 1289, bitmap: 1 }]);
  });

  it('a live standby never advances, even when an SA appears during the silence', async () => {
    const kernel = new FakeKernel();
    let clock = 1_000_000;
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 'auto', maxSas: 10, inboundAdvanceGraceMs: 0, now: () => clock });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot([ae(0x1001, 0, 789)])]);
    for (let second = 1; second <= 5; second++) {
      clock += 1000;
      feed(receiver, [encodeUpdate('timer', ae(0x1001, 0, 789 + 100 * second), 1 + 1000 * second)]);
    }
    clock += 24_000;
    kernel.sas.set(0x1001, ae(0x1001, 0, 0));
    const saId = { daddr: DST, spi: 0x1001, family: 2, proto: 50 };
    receiver.onLocalSa({ change: 'new', saId, mark: undefined, esn: false, sa: createSa({ saId, saddr: Buffer.alloc(16) }), pid: 0 });
    await tick();
    assert.deepEqual(kernel.writes.map((w) => w.update.replay), [{ kind: 'legacy', oseq: 0, seq: 1289, bitmap: 1 }]);
    // The takeover then advances from there: 24 s at 100/s, no grace.
    receiver.takeover();
    assert.deepEqual(kernel.writes.map((w) => w.update.replay)[1], { kind: 'legacy', oseq: 0, seq: 1289 + 2400, bitmap: 0 });
  });

  it('a live standby whose stream went silent raises its outbound counters every second by the silence (never its inbound ones)', async () => {
    const kernel = new FakeKernel();
    kernel.add(0x1000);
    // The two nodes' clocks agree (the delay estimate is then the real one, 0 here).
    let clock = 1;
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 'auto', maxSas: 10, now: () => clock });
    receiver.loadLocalSas();
    // The peer sends 100 packets/s on its outbound SA, reported every second.
    feed(receiver, [hello, ...snapshot([ae(0x1000, 1000)])]);
    for (let second = 1; second <= 5; second++) {
      clock += 1000;
      feed(receiver, [encodeUpdate('timer', ae(0x1000, 1000 + 100 * second), clock)]);
    }
    await tick();
    const tick1 = (receiver as unknown as { onSilenceTick(): void }).onSilenceTick.bind(receiver);
    const oseq = (): number => (kernel.sas.get(0x1000)!.replay as { oseq: number }).oseq;
    const live = oseq();
    assert.ok(live >= 1500 + 128 && live < 1500 + 400, `live margin: ${live}`);
    clock += 1500; // one heartbeat and a half: not silent yet
    tick1();
    assert.equal(oseq(), live);
    clock += 8500; // 10 s without a record: about 1,000 more packets may have gone out
    tick1();
    assert.ok(oseq() >= 1500 + 1000, `after 10 s of silence: ${oseq()}`);
    const after10 = oseq();
    clock += 10_000;
    tick1();
    assert.ok(oseq() >= after10 + 1000, `after 20 s of silence: ${oseq()}`);
    assert.ok(kernel.writes.every((w) => (w.update.replay as { seq: number }).seq === 0), 'inbound never moved');
    receiver.stop();
  });

  it('status shows the hole while the stream is silent, and 0 once it delivers again', () => {
    const { status, heard } = silentFor(24_000, 5000);
    const down = status();
    assert.equal(down.inboundAdvanceGraceMs, 5000);
    assert.deepEqual(down.sas.map((sa) => sa.inbound), [{ ratePps: 100, silenceMs: 24_000, holePackets: 2400, advance: 1900 }]);
    assert.equal(
      syncStatusText(down).split('\n')[1],
      'pending  inet 192.0.2.2 0x00001001 esp ? age 24s rate 0/s margin 128 inbound hole up to 2400 (100/s, 24.0 s silent, a takeover now advances 1900)',
    );
    heard();
    const up = status();
    // The SA carried nothing for the 24 s: its rate falls (500 packets in 29 s of the sender's clock).
    assert.deepEqual(up.sas.map((sa) => sa.inbound), [{ ratePps: 17, silenceMs: 0, holePackets: 0, advance: 0 }]);
    assert.doesNotMatch(syncStatusText(up), /hole/);
  });
});

describe('command transport', () => {
  it('backs off exponentially up to the cap and starts again after healthy()', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 500 });
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [100, 200, 400, 500]);
    backoff.reset();
    assert.equal(backoff.next(), 100);
  });

  it('reconnects when the command exits, with growing delays, and delivers its output', async () => {
    const events: string[] = [];
    let data = '';
    await new Promise<void>((resolve) => {
      const transport = new CommandTransport(`printf '{"a":1}\\n'; exit 3`, 5000, { initialMs: 50, maxMs: 1000 }, {
        onConnect: (attempt) => events.push(`connect ${attempt}`),
        onData: (chunk) => (data += chunk.toString()),
        onDisconnect: (reason, retry) => {
          events.push(`${reason}, retry ${retry}`);
          if (events.length === 6) {
            transport.stop();
            resolve();
          }
        },
      });
      transport.start();
    });
    assert.deepEqual(events, [
      'connect 1', 'the command exited with status 3, retry 50',
      'connect 2', 'the command exited with status 3, retry 100',
      'connect 3', 'the command exited with status 3, retry 200',
    ]);
    assert.equal(data, '{"a":1}\n{"a":1}\n{"a":1}\n');
  });

  it('does not take a receiver busier than the timeout for a silent sender: data waiting in the pipe counts', async () => {
    let chunks = 0;
    const disconnects: string[] = [];
    await new Promise<void>((resolve) => {
      const transport = new CommandTransport('while :; do echo beat; sleep 0.05; done', 200, { initialMs: 5000, maxMs: 5000 }, {
        onConnect: () => undefined,
        onData: () => {
          // The first chunk blocks this process for 600 ms (an install of a large snapshot):
          // the sender kept writing into the pipe meanwhile.
          if (++chunks === 1) {
            const until = Date.now() + 600;
            while (Date.now() < until);
          }
          if (chunks === 5) {
            transport.stop();
            resolve();
          }
        },
        onDisconnect: (why) => {
          disconnects.push(why);
          transport.stop();
          resolve();
        },
      });
      transport.start();
    });
    assert.deepEqual(disconnects, []);
    assert.ok(chunks >= 5);
  });

  it('stops a command that goes silent, with its whole process group', async () => {
    let shellPid = 0;
    const reason = await new Promise<string>((resolve) => {
      const transport = new CommandTransport('echo $$; sleep 30; echo never', 300, { initialMs: 5000, maxMs: 5000 }, {
        onConnect: () => undefined,
        onData: (chunk) => (shellPid = Number(chunk.toString().trim())),
        onDisconnect: (why) => {
          transport.stop();
          resolve(why);
        },
      });
      transport.start();
    });
    assert.equal(reason, 'no data for 300 ms: stopped the command');
    assert.ok(shellPid > 0);
    assert.throws(() => process.kill(shellPid, 0), { code: 'ESRCH' });
  });
});

const TOTALS = {
  connected: true, role: 'standby' as const, sasByState: { applied: 3, missing: 1 }, records: 10, updates: 7, applied: 6, writeErrors: 0,
  streamErrors: 2, sasRefused: 0, reconnects: 1, lostEvents: 0, snapshots: 1, takeovers: 0, lastSnapshotAt: 1700000000123, lastHeardAt: undefined, delayMs: 12,
  policiesByState: {}, installedSas: 0, installedPolicies: 0, removedSas: 0, removedPolicies: 0, retiredSas: 0, replicasRefused: 0, installErrors: 0,
};

describe('control socket and metrics', () => {
  it('answers requests, refuses a second receiver, replaces a stale socket, and says when none runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xaev-sync-'));
    const path = join(dir, 'ctl.sock');
    try {
      await assert.rejects(controlRequest(path, 'status', 1000), (error: unknown) =>
        error instanceof ControlUnavailableError && error.message === `no sync receiver runs in this network namespace (nothing answers on ${path}): start \`xaev sync receive\` first`);
      writeFileSync(path, 'stale');
      const server = await startControlServer(path, (command) => ({ got: command }));
      assert.equal(await controlRequest(path, 'takeover', 1000), '{"got":"takeover"}');
      await assert.rejects(startControlServer(path, () => ({})), /a sync receiver already runs in this network namespace/);
      server.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drops its connections when closed: a silent client does not keep the receiver alive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xaev-sync-'));
    const path = join(dir, 'ctl.sock');
    try {
      const server = await startControlServer(path, (command) => ({ got: command }));
      const silent = createConnection(path);
      await new Promise((resolve) => silent.once('connect', resolve));
      const closed = new Promise<string>((resolve) => silent.once('close', () => resolve('closed')));
      server.close();
      const verdict = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('still open 2 s after close()'), 2000))]);
      silent.destroy();
      assert.equal(verdict, 'closed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders the totals in Prometheus text format', () => {
    const text = renderMetrics(TOTALS);
    assert.match(text, /^xaev_sync_sas\{state="missing"\} 1$/m);
    assert.match(text, /^xaev_sync_stream_errors_total 2$/m);
    assert.match(text, /^xaev_sync_last_snapshot_timestamp_seconds 1700000000\.123$/m);
    assert.match(text, /^xaev_sync_last_heard_timestamp_seconds NaN$/m);
    assert.match(text, /^# TYPE xaev_sync_applied_total counter$/m);
  });

  it('replaces the metrics file by a rename: a reader holding the old one reads it whole, and no temporary file stays', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xaev-sync-'));
    const path = join(dir, 'xaev.prom');
    try {
      writeMetricsFile(path, TOTALS);
      const first = readFileSync(path, 'utf8');
      assert.equal(first, renderMetrics(TOTALS));
      const reader = openSync(path, 'r');
      try {
        const next = { ...TOTALS, records: 11 };
        writeMetricsFile(path, next);
        // Written in place, the open file would now hold the new text (or half of it).
        assert.equal(readFileSync(reader, 'utf8'), first);
        assert.equal(readFileSync(path, 'utf8'), renderMetrics(next));
        assert.notEqual(fstatSync(reader).ino, statSync(path).ino);
      } finally {
        closeSync(reader);
      }
      assert.deepEqual(readdirSync(dir), ['xaev.prom']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
