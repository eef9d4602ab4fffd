// `sync send` with a fake kernel and a fake event source: thresholds on every SA (also on SAs
// that appear later), own writes dropped by their nlmsg_pid, gone on delete, lost then a
// fresh snapshot. No root needed; the kernel side is in sync-host and lab-sync-apply.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { NetlinkError } from '../src/netlink/errors.js';
import type { AeMessage, AeUpdate, SaKey } from '../src/xfrm/aevent.js';
import type { XfrmClient } from '../src/xfrm/client.js';
import type { SaEntry } from '../src/xfrm/sa-dump.js';
import { createSa } from '../src/xfrm/sa-message.js';
import type { XfrmPolicy } from '../src/xfrm/policy-message.js';
import { samplePolicy } from './support/stream-corpus.js';
import { RECEIVER_WRITE_PID, SENDER_WRITE_PID } from '../src/sync/echo.js';
import type { EventIntake, IntakeHandlers } from '../src/sync/intake.js';
import { SyncSender } from '../src/sync/sender.js';
import { thresholdReadBack } from '../src/xfrm/timer-units.js';

const DST = Buffer.from([192, 0, 2, 2, ...new Array(12).fill(0)]);
const saId = (spi: number) => ({ daddr: DST, spi, family: 2, proto: 50 });

function ae(spi: number, oseq: number, flags = 16): AeMessage {
  return {
    id: { saId: saId(spi), saddr: Buffer.alloc(16), flags, reqid: 1 },
    replay: { kind: 'legacy', oseq, seq: 0, bitmap: 0 },
    lifetime: { bytes: 0n, packets: BigInt(oseq), addTime: 1n, useTime: 0n },
    replayThreshold: 256,
    timerThreshold100ms: 2,
    mark: undefined,
    ifId: undefined,
    direction: undefined,
    unknownAttributes: [],
  };
}

interface Kernel {
  /** The fake kernel's HZ: a timer written in jiffies reads back as floor(jiffies * 10 / HZ). */
  hz: number;
  /** /proc/config.gz or /boot/config-*: whether the kernel says its HZ. */
  saysHz: boolean;
}

/** Senders set up by the test that runs: stopped after it (their heartbeat timers). */
const running: SyncSender[] = [];
afterEach(() => {
  for (const sender of running.splice(0)) sender.stop();
});

/** A sender on a fake kernel whose SAs take NEWAE as the kernel does (thresholds read back in 100 ms units). */
function setUp(spis: number[], options: { senderHz?: number; kernel?: Kernel; msPerSa?: number; slowDump?: { batches: number; msPerBatch: number }; readerBehind?: boolean; policies?: XfrmPolicy[]; pendingOutput?: { value: boolean }; listFails?: { value: boolean } } = {}) {
  /** What each SA of a request costs on the fake clock (a slow kernel; the lab's has no vDSO). */
  const msPerSa = options.msPerSa ?? 0;
  const kernel = options.kernel ?? { hz: 100, saysHz: true };
  const sas = new Map(spis.map((spi) => [spi, ae(spi, 10)]));
  const writes: { spi: number; update: AeUpdate; pid: number }[] = [];
  const write = (key: SaKey, update: AeUpdate, pid: number): NetlinkError | undefined => {
    const state = sas.get(key.saId.spi);
    if (!state) return new NetlinkError(3);
    writes.push({ spi: key.saId.spi, update, pid });
    if (update.timerJiffies !== undefined) sas.set(key.saId.spi, { ...state, timerThreshold100ms: thresholdReadBack(update.timerJiffies, kernel.hz) });
    return undefined;
  };
  const client = {
    listSas: (): SaEntry[] => {
      if (options.listFails?.value) throw new NetlinkError(105);
      return [...sas.keys()].map((spi) => ({ info: { saId: saId(spi), saddr: Buffer.alloc(16), reqid: 1, mode: 0, replayWindow: 32, flags: 0 }, mark: undefined, ifId: undefined }));
    },
    getAeMany: (keys: SaKey[]) => {
      time += msPerSa * keys.length;
      return keys.map((k) => sas.get(k.saId.spi) ?? new NetlinkError(3));
    },
    getAe: (k: SaKey) => {
      const state = sas.get(k.saId.spi);
      if (!state) throw new NetlinkError(3);
      return state;
    },
    newAe: (key: SaKey, update: AeUpdate, pid: number) => {
      const error = write(key, update, pid);
      if (error) throw error;
    },
    // With --replicate: dumps that take `slowDump` (their entries do not matter here).
    dumpSas: (_proto: unknown, afterBatch?: () => void) => {
      for (let i = 0; i < (options.slowDump?.batches ?? 0); i++) {
        time += options.slowDump!.msPerBatch;
        afterBatch?.();
      }
      return [];
    },
    dumpPolicies: () => options.policies ?? [],
    newAeMany: (list: { key: SaKey; update: AeUpdate }[], pid: number) => {
      time += msPerSa * list.length;
      return list.map(({ key, update }) => write(key, update, pid));
    },
  } as unknown as XfrmClient;
  let handlers: IntakeHandlers | undefined;
  const paused: boolean[] = [];
  const intake: EventIntake = { start: (h) => (handlers = h), stop: () => undefined, pause: () => paused.push(true), resume: () => paused.push(false) };
  const out: Record<string, unknown>[] = [];
  /** The fake clock at each write, and how many records it carried. */
  const written: { at: number; records: number }[] = [];
  let time = 1000;
  /** What the fake reader says after each write: true while it keeps up. */
  const drainWaiters: (() => void)[] = [];
  const reader = { keepsUp: !options.readerBehind, drain: () => drainWaiters.splice(0).forEach((resolve) => resolve()) };
  const warnings: string[] = [];
  const failures: string[] = [];
  const sender = new SyncSender(client, intake, {
    node: 'a', software: 'xaev test', rthr: 64, etimeMs: 500, hz: options.senderHz,
    ...(options.slowDump || options.policies ? { replicate: ['sas' as const, 'policies' as const] } : {}),
    configuredHz: () => (kernel.saysHz ? { hz: kernel.hz, source: 'config' } : undefined),
    write: (text) => {
      const records = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      out.push(...records);
      written.push({ at: time, records: records.length });
      return reader.keepsUp;
    },
    drained: () => new Promise<void>((resolve) => drainWaiters.push(resolve)),
    ...(options.pendingOutput ? { pending: () => options.pendingOutput!.value } : {}),
    warn: (m) => warnings.push(m),
    fail: (m) => {
      failures.push(m);
      sender.stop();
    },
    now: () => time++,
  });
  sender.start();
  running.push(sender);
  return { sas, writes, out, written, sender, events: handlers!, paused, reader, warnings, failures };
}

describe('sync sender', () => {
  it('sets rthr and etime (in jiffies) on every SA, stamped with its own pid, then sends the snapshot', () => {
    const { writes, out, warnings } = setUp([0x1000, 0x1001]);
    assert.deepEqual(warnings, []);
    assert.deepEqual(writes, [
      { spi: 0x1000, update: { replayThreshold: 64, timerJiffies: 50 }, pid: SENDER_WRITE_PID },
      { spi: 0x1001, update: { replayThreshold: 64, timerJiffies: 50 }, pid: SENDER_WRITE_PID },
    ]);
    assert.deepEqual(out.map((r) => r.type), ['hello', 'snapshot-begin', 'sa', 'sa', 'snapshot-end']);
    assert.deepEqual(out.map((r) => r.spi).filter(Boolean), [0x1000, 0x1001]);
  });

  it('writes a large snapshot in parts, giving the event loop turns: changes meanwhile follow its end in order, its own CU events are dropped as they come', async () => {
    // 5,000 SAs at 0.2 ms per SA and request (about the lab's pace). Built in one go, the
    // stream was silent 2 s here and stdout could not take more than the pipe's 64 KiB.
    const spis = Array.from({ length: 5000 }, (_, i) => 0x10000 + i);
    const { sas, out, written, sender, events, paused } = setUp(spis, { msPerSa: 0.2 });
    // start() returned after the first part (205 ms on this clock): the rest follows on later turns.
    assert.equal(sender.writingSnapshot, true);
    // What the intake delivers meanwhile: a new SA, traffic on one SA (twice), the CU events
    // of its own threshold writes, and a loss.
    sas.set(0x30000, ae(0x30000, 0));
    events.onSa({ change: 'new', saId: saId(0x30000), mark: undefined, esn: false, sa: createSa({ saId: saId(0x30000), saddr: Buffer.alloc(16) }), pid: 0 });
    events.onAevent(ae(0x10000, 40, 16), 0);
    for (const spi of spis.slice(0, 100)) events.onAevent(ae(spi, 10, 64), SENDER_WRITE_PID);
    events.onAevent(ae(0x10000, 50, 16), 0);
    events.onLost(3, 'overrun');
    assert.equal(sender.counters.ownWritesDropped, 100);
    let turns = 0;
    while (sender.deferring) {
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
    }
    sender.stop();
    assert.ok(turns >= 18, `${turns} turns (two snapshots)`);
    assert.deepEqual(paused, [], 'the intake was never paused');
    const gaps = written.slice(1).map((w, i) => w.at - written[i]!.at);
    // One part: 512 thresholds and 512 states at 0.2 ms each, and the fake clock's ticks.
    assert.ok(Math.max(...gaps) <= 2 * 512 * 0.2 + 10, `longest silence ${Math.max(...gaps)} ms`);
    const types = out.map((r) => r.type);
    const firstEnd = types.indexOf('snapshot-end');
    assert.deepEqual(types.slice(0, firstEnd + 1), ['hello', 'snapshot-begin', ...new Array(5000).fill('sa'), 'snapshot-end']);
    assert.deepEqual(out.slice(2, 5002).map((r) => r.spi), spis);
    assert.equal(out[firstEnd]!.count, 5000);
    assert.deepEqual(written.map((w) => w.records).slice(0, 12), [1, 1, ...new Array(9).fill(512), 5000 - 9 * 512]);
    // After the end, in order: the new SA, the loss and its snapshot. The SA's counters that
    // came meanwhile are older than the second snapshot's reading of it: not sent.
    const after = out.slice(firstEnd + 1).filter((r) => r.type !== 'sa');
    assert.deepEqual(
      after.map((r) => [r.type, r.cause ?? null, r.spi ?? null]),
      [['update', 'added', 0x30000], ['lost', null, null], ['snapshot-begin', null, null], ['snapshot-end', null, null]],
    );
    assert.equal(after[3]!.count, 5001);
  });

  it('pauses the intake once 65,536 changes wait for a snapshot\'s end, and resumes it after them', async () => {
    const spis = Array.from({ length: 2000 }, (_, i) => 0x10000 + i);
    const { sender, events, paused } = setUp(spis, { msPerSa: 0.2 });
    assert.equal(sender.writingSnapshot, true);
    const policy = samplePolicy();
    for (let i = 0; i < 65_535; i++) events.onPolicy?.({ change: 'update', policy, pid: 0 });
    assert.deepEqual(paused, []);
    events.onPolicy?.({ change: 'update', policy, pid: 0 });
    assert.deepEqual(paused, [true]);
    while (sender.deferring) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(paused, [true, false]);
  });

  it('a snapshot starts once the reader has taken what was written before it: its dumps hold the event loop', () => {
    const pendingOutput = { value: false };
    const { out, events, reader } = setUp([0x1000], { pendingOutput });
    out.length = 0;
    pendingOutput.value = true;
    events.onLost(2, 'overrun');
    events.onLost(1, 'overrun'); // one snapshot is enough
    assert.deepEqual(out.map((r) => r.type), ['lost', 'lost']);
    pendingOutput.value = false;
    reader.drain();
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      assert.deepEqual(out.map((r) => r.type), ['lost', 'lost', 'snapshot-begin', 'sa', 'snapshot-end']);
    });
  });

  it('a snapshot that waited for the reader and then fails ends the sender with one failure line, no unhandled rejection', async () => {
    const pendingOutput = { value: false };
    const listFails = { value: false };
    const { out, events, reader, failures, sender } = setUp([0x1000], { pendingOutput, listFails });
    out.length = 0;
    pendingOutput.value = true;
    events.onLost(2, 'overrun');
    listFails.value = true;
    pendingOutput.value = false;
    reader.drain();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(out.map((r) => r.type), ['lost']);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!, /ENOBUFS|No buffer space/);
    assert.equal(sender.deferring, false);
  });

  it('sends after a snapshot only counters newer than its reading: an aevent before its SA\'s part is dropped, one after it follows the end', async () => {
    const spis = Array.from({ length: 2048 }, (_, i) => 0x10000 + i);
    const { out, sender, events } = setUp(spis);
    assert.equal(out.filter((r) => r.type === 'sa').length, 512);
    events.onAevent(ae(0x10000, 40, 16), 0); // its part was read: newer
    events.onAevent(ae(0x10000 + 2000, 99, 16), 0); // its part comes later: older than that reading
    while (sender.deferring) await new Promise((resolve) => setImmediate(resolve));
    const end = out.findIndex((r) => r.type === 'snapshot-end');
    assert.deepEqual(out.slice(end + 1).map((r) => [r.type, r.spi, (r.replay as { oseq: number }).oseq]), [['update', 0x10000, 40]]);
    assert.equal((out.find((r) => r.type === 'sa' && r.spi === 0x10000 + 2000)!.replay as { oseq: number }).oseq, 10);
  });

  it('an SA added during a snapshot goes out as read when its notice is handled, not with older counters after it', async () => {
    const spis = Array.from({ length: 1024 }, (_, i) => 0x10000 + i);
    const { sas, out, sender, events } = setUp(spis);
    sas.set(0x30000, ae(0x30000, 7));
    events.onSa({ change: 'new', saId: saId(0x30000), mark: undefined, esn: false, sa: createSa({ saId: saId(0x30000), saddr: Buffer.alloc(16) }), pid: 0 });
    events.onAevent(ae(0x30000, 5, 16), 0);
    while (sender.deferring) await new Promise((resolve) => setImmediate(resolve));
    const end = out.findIndex((r) => r.type === 'snapshot-end');
    assert.deepEqual(out.slice(end + 1).map((r) => [r.type, r.cause, r.spi, (r.replay as { oseq: number }).oseq]), [['update', 'added', 0x30000, 7]]);
  });

  it('catches up after a snapshot 512 changes a turn, and what comes meanwhile waits behind them', async () => {
    const spis = Array.from({ length: 1024 }, (_, i) => 0x10000 + i);
    const { sas, out, sender, events, writes } = setUp(spis);
    const added = Array.from({ length: 1300 }, (_, i) => 0x40000 + i);
    for (const spi of added) {
      sas.set(spi, ae(spi, 0));
      events.onSa({ change: 'new', saId: saId(spi), mark: undefined, esn: false, sa: createSa({ saId: saId(spi), saddr: Buffer.alloc(16) }), pid: 0 });
    }
    while (sender.writingSnapshot) await new Promise((resolve) => setImmediate(resolve));
    const addedNow = () => out.filter((r) => r.type === 'update' && r.cause === 'added').length;
    const perTurn: number[] = [addedNow()];
    let aeventSent = false;
    while (sender.deferring) {
      if (!aeventSent) {
        events.onAevent(ae(0x10001, 77, 16), 0); // during the catch-up: after every deferred notice
        aeventSent = true;
      }
      await new Promise((resolve) => setImmediate(resolve));
      perTurn.push(addedNow());
    }
    assert.deepEqual(perTurn, [512, 1024, 1300]);
    const last = out.at(-1)!;
    assert.deepEqual([last.type, last.spi, (last.replay as { oseq: number }).oseq], ['update', 0x10001, 77]);
    // Each added SA got its thresholds once.
    assert.equal(writes.filter((w) => w.spi >= 0x40000).length, 1300);
  });

  it('a snapshot that a loss starts and ends within a catch-up turn does not start a second catch-up: still 512 changes a turn, in order', async () => {
    const spis = Array.from({ length: 600 }, (_, i) => 0x10000 + i);
    const { out, sender, events } = setUp(spis, { policies: [] });
    assert.equal(sender.writingSnapshot, true);
    const policy = samplePolicy();
    for (let i = 0; i < 1000; i++) events.onPolicy?.({ change: 'update', policy, pid: 0 });
    events.onLost(1, 'overrun');
    for (let i = 0; i < 1000; i++) events.onPolicy?.({ change: 'update', policy, pid: 0 });
    while (sender.writingSnapshot) await new Promise((resolve) => setImmediate(resolve));
    const policiesNow = () => out.filter((r) => r.type === 'policy').length;
    const perTurn = [policiesNow()];
    while (sender.deferring) {
      await new Promise((resolve) => setImmediate(resolve));
      perTurn.push(policiesNow() - perTurn.reduce((a, b) => a + b, 0));
    }
    // The loss is the 489th change of the second turn; its snapshot (600 SAs configured
    // already, no policy in the fake dump) is written at once.
    assert.deepEqual(perTurn, [512, 511, 512, 465]);
    const types = out.map((r) => r.type);
    const lost = types.indexOf('lost');
    assert.equal(types.slice(0, lost).filter((t) => t === 'policy').length, 1000);
    assert.deepEqual(types.slice(lost, lost + 2), ['lost', 'snapshot-begin']);
  });

  it('gives the loop a turn once a part\'s worth of thresholds were set, however fast: their CU events must be read before more come', async () => {
    const spis = Array.from({ length: 2048 + 88 }, (_, i) => 0x10000 + i);
    const { out, sender } = setUp(spis);
    let turns = 0;
    const sasAfterTurn: number[] = [out.filter((r) => r.type === 'sa').length];
    while (sender.writingSnapshot) {
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
      sasAfterTurn.push(out.filter((r) => r.type === 'sa').length);
    }
    // A turn after each full part; the short last one (88 writes) and the end need none.
    assert.deepEqual(sasAfterTurn, [512, 1024, 1536, 2048, 2136]);
    assert.equal(turns, 4);
  });

  it('a snapshot waits for a reader that is behind before its next part: the text waiting stays bounded', async () => {
    const spis = Array.from({ length: 2000 }, (_, i) => 0x10000 + i);
    const { out, sender, paused, reader } = setUp(spis, { msPerSa: 0.2, readerBehind: true });
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    await turns(5);
    // The hello was not taken: behind from the first write, one part and no more.
    assert.deepEqual(out.map((r) => r.type), ['hello', 'snapshot-begin', ...new Array(512).fill('sa')]);
    assert.deepEqual(paused, [true]);
    for (let part = 2; sender.writingSnapshot && part < 10; part++) {
      reader.drain(); // took everything, and is behind again at once
      await turns(5);
      assert.equal(out.filter((r) => r.type === 'sa').length, Math.min(2000, 512 * part), `after ${part - 1} drains`);
    }
    reader.keepsUp = true;
    reader.drain();
    await turns(5);
    sender.stop();
    assert.equal(sender.writingSnapshot, false);
    assert.deepEqual(out.at(-1)!.type, 'snapshot-end');
    // Paused while the reader was behind, after each drain too: resumed at the end.
    assert.deepEqual(paused, paused.map((_, i) => i % 2 === 0));
    assert.equal(paused.at(-1), false);
  });

  it('after stop() nothing follows: events the closing intake still delivers are dropped, no snapshot starts', () => {
    const { out, sender, events } = setUp([0x1000]);
    const before = out.length;
    sender.stop();
    events.onLost(5, 'overrun');
    events.onAevent(ae(0x1000, 20, 1), 0);
    events.onFlush?.('sa');
    assert.equal(out.length, before);
    assert.equal(sender.writingSnapshot, false);
  });

  it('writes a heartbeat during a dump once nothing went out for a heartbeat interval', () => {
    // --replicate: the dump of every SA with its keys, 6 batches of 400 ms, before the first part.
    const { out, written } = setUp([0x1000, 0x1001], { slowDump: { batches: 6, msPerBatch: 400 } });
    assert.deepEqual(out.map((r) => r.type), ['hello', 'snapshot-begin', 'heartbeat', 'heartbeat', 'sa', 'sa', 'snapshot-end']);
    const gaps = written.slice(1).map((w, i) => w.at - written[i]!.at);
    assert.ok(Math.max(...gaps) < 1000 + 400 + 10, `longest silence ${Math.max(...gaps)} ms`);
  });

  it('drops the CU events of sync writes, keeps every other event', () => {
    const { out, events, sender } = setUp([0x1000]);
    out.length = 0;
    events.onAevent(ae(0x1000, 11, 64), RECEIVER_WRITE_PID);
    events.onAevent(ae(0x1000, 11, 64), SENDER_WRITE_PID);
    events.onAevent(ae(0x1000, 12, 64), 0); // xaev set by hand
    events.onAevent(ae(0x1000, 13, 16), RECEIVER_WRITE_PID); // a CR event's pid means nothing
    events.onAevent(ae(0x1000, 14, 32), 12345);
    assert.deepEqual(out.map((r) => [r.type, r.cause, (r.replay as { oseq: number }).oseq]), [
      ['update', 'update', 12],
      ['update', 'replay', 13],
      ['update', 'timer', 14],
    ]);
    assert.equal(sender.counters.ownWritesDropped, 2);
  });

  it('configures and sends an SA that appears later (a rekey), and announces a deleted one', () => {
    const { sas, writes, out, events } = setUp([0x1000]);
    out.length = 0;
    writes.length = 0;
    sas.set(0x2000, ae(0x2000, 0));
    events.onSa({ change: 'new', saId: saId(0x2000), mark: undefined, esn: false, sa: createSa({ saId: saId(0x2000), saddr: Buffer.alloc(16) }), pid: 0 });
    assert.deepEqual(writes, [{ spi: 0x2000, update: { replayThreshold: 64, timerJiffies: 50 }, pid: SENDER_WRITE_PID }]);
    events.onSa({ change: 'delete', saId: saId(0x1000), mark: undefined, esn: undefined, sa: createSa({ saId: saId(0x1000), saddr: Buffer.alloc(16) }), pid: 0 });
    assert.deepEqual(out.map((r) => [r.type, r.cause ?? null, r.spi]), [['update', 'added', 0x2000], ['gone', null, 0x1000]]);
  });

  it('never sends back what this node\'s receiver installed, even before any ledger exists (its pid says so)', () => {
    const { sas, out, events } = setUp([0x1000]);
    out.length = 0;
    sas.set(0x2000, ae(0x2000, 0));
    events.onSa({ change: 'new', saId: saId(0x2000), mark: undefined, esn: false, sa: createSa({ saId: saId(0x2000), saddr: Buffer.alloc(16) }), pid: RECEIVER_WRITE_PID });
    events.onSa({ change: 'delete', saId: saId(0x1000), mark: undefined, esn: undefined, sa: createSa({ saId: saId(0x1000), saddr: Buffer.alloc(16) }), pid: RECEIVER_WRITE_PID });
    assert.deepEqual(out, []);
  });

  it('does not replicate a policy with a security context (it would arrive as one for all traffic), and says so once', () => {
    const labeled = samplePolicy({ index: 0x3010, securityContext: { alg: 1, doi: 1, context: Buffer.from('system_u:object_r:ipsec_spd_t:s0') } });
    const { out, warnings, events } = setUp([0x1000], { policies: [samplePolicy(), labeled] });
    assert.deepEqual(out.filter((r) => r.type === 'policy').map((r) => r.index), [samplePolicy().index]);
    assert.equal(out.find((r) => r.type === 'snapshot-end')!.policies, 1);
    events.onPolicy?.({ change: 'new', policy: labeled, pid: 0 });
    assert.equal(out.filter((r) => r.type === 'policy').length, 1);
    assert.deepEqual(warnings, ['policies with a security context (labeled IPsec) are not replicated: the stream does not carry contexts']);
  });

  it('after lost events says how many and sends a fresh snapshot, configuring only new SAs', () => {
    const { sas, writes, out, events } = setUp([0x1000]);
    out.length = 0;
    writes.length = 0;
    sas.set(0x3000, ae(0x3000, 0));
    events.onLost(17, 'overrun');
    assert.deepEqual(out.map((r) => r.type), ['lost', 'snapshot-begin', 'sa', 'sa', 'snapshot-end']);
    assert.deepEqual([out[0]!.count, out[0]!.reason, out[1]!.snapshot], [17, 'overrun', 2]);
    assert.deepEqual(writes.map((w) => w.spi), [0x3000]);
  });

  it('pauses the events while the reader is behind, and resumes them once it has caught up', async () => {
    const { out, events, paused, reader } = setUp([0x1000]);
    reader.keepsUp = false;
    events.onAevent(ae(0x1000, 20, 1), 0);
    events.onAevent(ae(0x1000, 30, 1), 0); // already queued by the kernel: written, no second pause
    assert.deepEqual(paused, [true]);
    assert.equal(out.filter((r) => r.type === 'update').length, 2);
    reader.keepsUp = true;
    reader.drain();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(paused, [true, false]);
  });

  it('probes HZ through the sender on a kernel that hides it, stamping the probe\'s writes with the sender\'s pid', () => {
    // Measured on the uml-6.12 lab kernel (HZ=250, no /proc/config.gz): unstamped, the probe's
    // CU events went out as two `update` records of the probed SA.
    const { writes, out, warnings } = setUp([0x1000, 0x1001], { kernel: { hz: 250, saysHz: false } });
    assert.deepEqual(writes, [
      { spi: 0x1000, update: { timerJiffies: 3000 }, pid: SENDER_WRITE_PID },
      { spi: 0x1000, update: { timerJiffies: 50 }, pid: SENDER_WRITE_PID },
      { spi: 0x1000, update: { replayThreshold: 64, timerJiffies: 125 }, pid: SENDER_WRITE_PID },
      { spi: 0x1001, update: { replayThreshold: 64, timerJiffies: 125 }, pid: SENDER_WRITE_PID },
    ]);
    assert.equal(out[0]!.hz, 250);
    assert.deepEqual(warnings, []);
  });

  it('says once when the thresholds it set read back another period (a wrong HZ)', () => {
    const { out, warnings } = setUp([0x1000, 0x1001], { senderHz: 100, kernel: { hz: 250, saysHz: true } });
    assert.equal(out[0]!.hz, 100);
    assert.deepEqual(warnings, [
      "thresholds on inet 192.0.2.2 0x00001000 esp: the timer reads back 200 ms, not the 500 ms asked for: the kernel's HZ is not 100; events come at another period than --etime",
    ]);
  });
});
