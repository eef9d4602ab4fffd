// The bulk paths of src/netlink/pipeline.ts against the host kernel: the background forms
// (kernel's share on a worker thread) must hand over exactly what the in-thread forms do, in
// the same order, across many receive batches, and fail cleanly. Larval SAs in a throwaway
// namespace; 5,000 of them (256 bytes each in a dump) span two reads of 1 MiB and ten GETAE batches of 512.
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { readU16, readU32BE } from '../src/netlink/bytes.js';
import { NLMSG_HDRLEN } from '../src/netlink/constants.js';
import { NetlinkError } from '../src/netlink/errors.js';
import { BackgroundPipeline, dumpEach, dumpEachInBackground, pipelineEach, REQUESTS_PER_SEND } from '../src/netlink/pipeline.js';
import { NLMSG_TYPE_AT } from '../src/netlink/scan.js';
import { enterNetworkNamespace, enterNetworkNamespaceFile, NetlinkSocket, type Request } from '../src/netlink/socket.js';
import { encodeNewAe } from '../src/xfrm/aevent.js';
import { XfrmClient } from '../src/xfrm/client.js';
import { NETLINK_XFRM, XFRM_MSG_DELSA, XFRM_MSG_NEWAE, XFRM_MSG_NEWSA } from '../src/xfrm/constants.js';
import { encodeGetSa, encodeSaDump, keyOf, type SaEntry } from '../src/xfrm/sa-dump.js';
import { AEVENT_ID, fieldOffset, USERSA_INFO } from '../src/xfrm/struct-table.js';
import { addLarvalSas, encodeGetAes, hostKernelSkipReason, ip, makeNetns, type LarvalSa, type Netns } from './support/host.js';
import { runXaev } from './support/run.js';

const skip = hostKernelSkipReason();
const COUNT = 5000;
const ESRCH = 3;
const EINVAL = 22;
const SA_SPI_AT = NLMSG_HDRLEN + fieldOffset(USERSA_INFO, 'id', 'spi');
const AE_SPI_AT = NLMSG_HDRLEN + fieldOffset(AEVENT_ID, 'saId', 'spi');

/** SAs with scattered SPIs and one destination each, as on a gateway with many peers. */
function manySas(count: number): LarvalSa[] {
  return Array.from({ length: count }, (_, i) => ({
    src: '192.0.2.1',
    dst: `10.${9 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    spi: (0x10000 + i * 0x9e37) >>> 0,
  }));
}

type Answer = [index: number, what: number | string];

describe('bulk requests: background forms against the in-thread ones (host kernel)', { skip }, () => {
  let ns: Netns;
  let sas: LarvalSa[];
  /** This thread's own namespace, held open to come back to. */
  let home: number;

  before(() => {
    ns = makeNetns('xaev-bulk');
    sas = manySas(COUNT);
    addLarvalSas(ns.name, sas);
    home = openSync('/proc/self/ns/net', 'r');
    enterNetworkNamespace(ns.name);
  });
  after(() => {
    if (home !== undefined) {
      enterNetworkNamespaceFile(`/proc/self/fd/${home}`);
      closeSync(home);
    }
    ns?.remove();
  });

  it('a dump read in the background visits the same entries in the same order, batch by batch', async () => {
    const spisOf = (): { spis: number[]; batches: number; visit: (buf: Buffer, at: number) => void; afterBatch: () => void } => {
      const result = {
        spis: [] as number[],
        batches: 0,
        visit: (buf: Buffer, at: number) => {
          assert.equal(readU16(buf, at + NLMSG_TYPE_AT), XFRM_MSG_NEWSA);
          result.spis.push(readU32BE(buf, at + SA_SPI_AT));
        },
        afterBatch: () => void result.batches++,
      };
      return result;
    };
    const inThread = spisOf();
    dumpEach(NetlinkSocket.open(NETLINK_XFRM), encodeSaDump(), inThread.visit, inThread.afterBatch);
    const background = spisOf();
    const socket = NetlinkSocket.open(NETLINK_XFRM);
    await dumpEachInBackground(socket, encodeSaDump(), background.visit, async () => {
      background.afterBatch();
      await new Promise((resolve) => setImmediate(resolve));
    });
    assert.equal(inThread.spis.length, COUNT);
    assert.deepEqual(background.spis, inThread.spis);
    assert.deepEqual(new Set(background.spis), new Set(sas.map((sa) => sa.spi)));
    assert.ok(background.batches >= 2, `${background.batches} batches`);
    socket.close();
  });

  it('pipelined GETAEs answered in the background come in request order, ESRCH where an SA is missing', async () => {
    // Every 7th request names an SA that does not exist (SPI 0): ESRCH at exactly those indexes.
    const keys = sas.map((sa, i) => ({ dst: sa.dst, spi: i % 7 === 3 ? 0x100 : sa.spi }));
    const requests = encodeGetAes(keys);
    const record = (answers: Answer[]) => ({
      onReply: (buf: Buffer, at: number, _length: number, index: number) => {
        assert.equal(readU16(buf, at + NLMSG_TYPE_AT), XFRM_MSG_NEWAE);
        answers.push([index, readU32BE(buf, at + AE_SPI_AT)]);
      },
      onError: (error: NetlinkError, index: number) => answers.push([index, error.errno]),
    });
    const inThread: Answer[] = [];
    const a = record(inThread);
    pipelineEach(NetlinkSocket.open(NETLINK_XFRM), Buffer.from(requests), requests.length, a.onReply, a.onError);
    const background: Answer[] = [];
    const b = record(background);
    const socket = NetlinkSocket.open(NETLINK_XFRM);
    const pipeline = new BackgroundPipeline(socket, b.onReply, b.onError);
    // In two uneven sends, the second starting mid-batch: indexes run on across sends.
    const split = 700 * (requests.length / COUNT);
    await pipeline.send(requests.subarray(0, split), split);
    await pipeline.send(Buffer.from(requests.subarray(split)), requests.length - split);
    await pipeline.finish();
    socket.close();
    const expected = keys.map((key, i): Answer => [i, key.spi === 0x100 ? ESRCH : key.spi]);
    assert.deepEqual(inThread, expected);
    assert.deepEqual(background, expected);
    assert.ok(COUNT > 5 * REQUESTS_PER_SEND);
  });

  it('a visitor that throws mid-way rejects the call with the socket idle again, and nothing is left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const requests = encodeGetAes(sas);
      const socket = NetlinkSocket.open(NETLINK_XFRM);
      let seen = 0;
      const pipeline = new BackgroundPipeline(
        socket,
        () => {
          if (++seen === 600) throw new Error('stop here');
        },
        () => assert.fail('no SA is missing'),
      );
      // The throw comes while the next batch is in flight on the worker thread; the socket is
      // handed back idle (a busy one would refuse even getsockopt, with EBUSY).
      await assert.rejects(pipeline.send(requests, requests.length), /stop here/);
      assert.ok(socket.receiveBufferBytes > 0);
      socket.close();
      const dumpSocket = NetlinkSocket.open(NETLINK_XFRM);
      let dumped = 0;
      await assert.rejects(
        dumpEachInBackground(dumpSocket, encodeSaDump(), () => {
          if (++dumped === 10) throw new Error('stop the dump');
        }),
        /stop the dump/,
      );
      assert.ok(dumpSocket.receiveBufferBytes > 0);
      dumpSocket.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('xaev list prints every SA once, in the kernel dump order, with and without --counters-only', () => {
    const dumpOrder = [...ip('-n', ns.name, 'xfrm', 'state').matchAll(/spi (0x[0-9a-f]+)/g)].map((m) => Number(m[1]));
    assert.equal(dumpOrder.length, COUNT);
    for (const args of [['-j', 'list'], ['-j', 'list', '--counters-only']]) {
      const result = runXaev(['-n', ns.name, ...args]);
      assert.equal(result.status, 0, result.stderr);
      const records = JSON.parse(result.stdout) as { spi: number; thresholds?: unknown }[];
      assert.deepEqual(records.map((r) => r.spi), dumpOrder);
      assert.ok(records.every((r) => (args.length === 2 ? JSON.stringify(r.thresholds) === '{"replay":0,"timerMs":0}' : !('thresholds' in r))));
    }
    const text = runXaev(['-n', ns.name, 'list']);
    assert.equal((text.stdout.match(/^src /gm) ?? []).length, COUNT);
    assert.equal((text.stdout.match(/^\taevent thresholds: replay 0 packets, timer 0 ms$/gm) ?? []).length, COUNT);
  });
});

describe('writes with one ack per datagram (host kernel)', { skip }, () => {
  // DELSA of a larval SA is answered by an ack alone, like NEWAE of a VALID one (which needs
  // the lab): the same path, with successes that can be counted afterwards in the dump.
  const COUNT_WRITTEN = 300;
  let ns: Netns;
  let socket: NetlinkSocket;
  let client: XfrmClient;

  before(() => {
    ns = makeNetns('xaev-writes');
    addLarvalSas(ns.name, manySas(COUNT_WRITTEN));
    const home = openSync('/proc/self/ns/net', 'r');
    try {
      enterNetworkNamespace(ns.name);
      socket = NetlinkSocket.open(NETLINK_XFRM);
      client = XfrmClient.open();
    } finally {
      enterNetworkNamespaceFile(`/proc/self/fd/${home}`);
      closeSync(home);
    }
  });
  after(() => {
    socket?.close();
    client?.close();
    ns?.remove();
  });

  it('every refusal comes back at its own index, in and across datagrams; the rest are done', () => {
    const entries = client.listSas();
    assert.equal(entries.length, COUNT_WRITTEN);
    // Missing SAs (ESRCH) first, last, and either side of the datagram boundary (128 a datagram);
    // a NEWAE on a larval SA is refused with the kernel's own text (EINVAL).
    const missing = new Set([0, 127, 128, 200, COUNT_WRITTEN - 1]);
    const larvalNewAe = 50;
    const requests = entries.map((entry, i): Request => {
      if (i === larvalNewAe) return encodeNewAe(keyOf(entry), { replayThreshold: 5 });
      const saId = missing.has(i) ? { ...entry.info.saId, spi: 0x100 } : entry.info.saId;
      return { ...encodeGetSa({ saId }), type: XFRM_MSG_DELSA, completion: 'ack' };
    });
    const results = socket.writeMany(requests);
    assert.equal(results.length, COUNT_WRITTEN);
    const refused = results.flatMap((error, i) => (error ? [[i, error.errno, error.kernelMessage ?? null]] : []));
    assert.deepEqual(refused, [
      [0, ESRCH, null],
      [larvalNewAe, EINVAL, 'SA must be in VALID state'],
      [127, ESRCH, null],
      [128, ESRCH, null],
      [200, ESRCH, null],
      [COUNT_WRITTEN - 1, ESRCH, null],
    ]);
    // Every DELSA that was not refused was done: left are the SAs no request deleted.
    const spiOf = (entry: SaEntry): number => entry.info.saId.spi;
    const kept = [...missing, larvalNewAe].map((i) => spiOf(entries[i]!));
    assert.deepEqual(client.listSas().map(spiOf).sort(), kept.sort());
  });
});
