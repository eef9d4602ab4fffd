// The event API (src/xfrm/events.ts): one classifier for every message a NETLINK_XFRM
// listener or a saved stream holds, the filter, the streamed file reader, and a live
// subscription to the SA group on the host kernel.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeAttribute } from '../src/netlink/attributes.js';
import { DecodeError } from '../src/netlink/errors.js';
import { encodeMessage } from '../src/netlink/message.js';
import { parseAddress } from '../src/xfrm/address.js';
import { classifyDatagram, classifyMessage, eventMatches, readEventFile, type SaChangeEvent, type XfrmEvent } from '../src/xfrm/events.js';
import { hostKernelSkipReason, ip, makeNetns } from './support/host.js';
import { FIXTURES, REPO_ROOT } from './support/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'xaev-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const header = (type: number, seq = 0, pid = 0) => ({ type, flags: 0, seq, pid });
const classify = (type: number, ...parts: Buffer[]): XfrmEvent => classifyDatagram(encodeMessage(header(type), ...parts))[0]!;

/** struct xfrm_usersa_info: 10.0.0.1 -> 10.0.0.2, ESP, the SPI, replay_window and flags given. */
function usersaInfo(spi: number, replayWindow: number, flags: number): Buffer {
  const info = Buffer.alloc(224);
  Buffer.from([10, 0, 0, 2]).copy(info, 56);
  info.writeUInt32BE(spi, 72);
  info[76] = 50;
  Buffer.from([10, 0, 0, 1]).copy(info, 80);
  info.writeUInt32LE(9, 208);
  info.writeUInt16LE(2, 212);
  info[215] = replayWindow;
  info[216] = flags;
  return info;
}

const mark = (value: number, mask: number): Buffer => {
  const payload = Buffer.alloc(8);
  payload.writeUInt32LE(value, 0);
  payload.writeUInt32LE(mask, 4);
  return encodeAttribute(21, payload);
};

function esnReplay(window: number): Buffer {
  const words = Math.ceil(window / 32);
  const payload = Buffer.alloc(24 + 4 * words);
  payload.writeUInt32LE(words, 0);
  payload.writeUInt32LE(window, 20);
  return encodeAttribute(23, payload);
}

const legacyReplay = encodeAttribute(10, Buffer.alloc(12));

function saChange(event: XfrmEvent): SaChangeEvent {
  assert.equal(event.kind, 'sa', event.kind === 'malformed' ? event.error.message : event.kind);
  return event as SaChangeEvent;
}

describe('classifyMessage decides by type, like ip xfrm_accept_msg()', () => {
  it('an aevent keeps its header seq and pid, and its cause from the first set bit', () => {
    const [message] = classifyDatagram(Buffer.from(readFileSync(`${FIXTURES}ae.bin`).subarray(0, 132)));
    assert.equal(message?.kind, 'aevent');
    const raw = Buffer.from(readFileSync(`${FIXTURES}ae.bin`).subarray(0, 132));
    raw.writeUInt32LE(0xabcdef, 8);
    raw.writeUInt32LE(4242, 12);
    raw.writeUInt32LE(0x30, 16 + 40);
    const event = classifyDatagram(raw)[0]!;
    assert.ok(event.kind === 'aevent');
    assert.deepEqual([event.message.seq, event.message.pid, event.cause, event.ae.id.saId.spi], [0xabcdef, 4242, 'replay', 0x1234]);
  });

  it('NEWSA of an ESN SA: id, mark, ESN, the window from REPLAY_ESN_VAL', () => {
    const event = saChange(classify(16, usersaInfo(0x1000, 0, 128), esnReplay(128), mark(7, 0xff)));
    assert.deepEqual(
      [event.change, event.saId.spi, event.saId.family, event.saId.proto, [...event.saId.daddr.subarray(0, 4)]],
      ['new', 0x1000, 2, 50, [10, 0, 0, 2]],
    );
    assert.deepEqual(event.mark, { value: 7, mask: 0xff });
    assert.deepEqual([event.esn, event.replayWindow, event.replayFlavour, event.hard], [true, 128, 'esn', undefined]);
  });

  it('UPDSA of a legacy SA: window from usersa_info, no mark', () => {
    const event = saChange(classify(26, usersaInfo(0x2000, 32, 0), legacyReplay));
    assert.deepEqual([event.change, event.saId.spi, event.mark, event.esn, event.replayWindow, event.replayFlavour], ['update', 0x2000, undefined, false, 32, 'legacy']);
  });

  it('DELSA: the id from xfrm_usersa_id, the rest from XFRMA_SA', () => {
    const id = usersaInfo(0x3000, 0, 0).subarray(56, 80);
    const event = saChange(classify(17, id, encodeAttribute(6, usersaInfo(0x3000, 64, 128)), mark(1, 1)));
    assert.deepEqual([event.change, event.saId.spi, event.info?.reqid, event.esn, event.replayWindow, event.mark], ['delete', 0x3000, 9, true, 64, { value: 1, mask: 1 }]);
  });

  it('EXPIRE: hard or soft', () => {
    const expire = (hard: number): Buffer => Buffer.concat([usersaInfo(0x4000, 0, 0), Buffer.from([hard]), Buffer.alloc(7)]);
    assert.equal(saChange(classify(24, expire(1))).hard, true);
    assert.equal(saChange(classify(24, expire(0))).hard, false);
  });

  it('control messages are ignored, other types unknown, short bodies malformed', () => {
    assert.deepEqual([1, 2, 3].map((type) => classify(type, Buffer.alloc(20)).kind), ['ignored', 'ignored', 'ignored']);
    assert.equal(classify(99, Buffer.alloc(8)).kind, 'unknown');
    const short = classify(16, Buffer.alloc(100));
    assert.equal(short.kind, 'malformed');
    if (short.kind !== 'malformed') return;
    assert.equal(short.message?.type, 16);
    assert.ok(short.error instanceof DecodeError, String(short.error));
    assert.equal(classifyMessage({ ...header(38), payload: Buffer.alloc(64) }).kind, 'mapping');
  });

  it('bytes after the last whole message end a datagram as one malformed event', () => {
    const events = classifyDatagram(Buffer.concat([readFileSync(`${FIXTURES}ae.bin`).subarray(0, 132), Buffer.from('junk')]));
    assert.deepEqual(events.map((e) => e.kind), ['aevent', 'malformed']);
    assert.ok(events[1]!.kind === 'malformed' && events[1]!.message === undefined);
  });
});

describe('eventMatches', () => {
  const [timer] = classifyDatagram(Buffer.from(readFileSync(`${FIXTURES}ae.bin`).subarray(0, 132)));
  const noop = classify(1);

  it('filters by SPI, protocol and destination; events about no SA pass only an empty filter', () => {
    assert.ok(timer);
    assert.equal(eventMatches(timer, {}), true);
    assert.equal(eventMatches(timer, { spi: 0x1234, proto: 50, dst: parseAddress('10.0.0.2') }), true);
    assert.equal(eventMatches(timer, { spi: 0x1235 }), false);
    assert.equal(eventMatches(timer, { dst: parseAddress('10.0.0.3') }), false);
    assert.equal(eventMatches(noop, {}), true);
    assert.equal(eventMatches(noop, { spi: 0x1234 }), false);
  });
});

describe('readEventFile', () => {
  it('streams a file across chunk boundaries in order, and names the file offset of an error', async () => {
    const one = readFileSync(`${FIXTURES}ae.bin`).subarray(0, 132);
    const events = Array.from({ length: 1000 }, (_, i) => {
      const copy = Buffer.from(one);
      copy.writeUInt32BE(i, 32);
      return copy;
    });
    const path = join(dir, 'thousand.bin');
    writeFileSync(path, Buffer.concat([...events, Buffer.from([1, 2, 3])]));
    const spis: number[] = [];
    let batches = 0;
    await assert.rejects(async () => {
      for await (const batch of readEventFile(path)) {
        batches++;
        for (const event of batch) if (event.kind === 'aevent') spis.push(event.ae.id.saId.spi);
      }
    }, /truncated netlink header: 3 bytes left at offset 132000/);
    assert.deepEqual(spis, Array.from({ length: 1000 }, (_, i) => i));
    assert.ok(batches >= 3, `${batches} batches for 132 kB in 64 KiB chunks`);
  });
});

describe('EventSubscription on the host kernel', { skip: hostKernelSkipReason() }, () => {
  it('with saChanges, a deleted SA arrives as a DELSA event with its id and the deleter seq', async () => {
    const ns = makeNetns('xaev-struct-events');
    try {
      ip('-n', ns.name, 'xfrm', 'state', 'allocspi', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'reqid', '7', 'min', '0x3000', 'max', '0x3000');
      const script = `
        import { EventSubscription } from '${REPO_ROOT}dist/src/xfrm/events.js';
        const subscription = EventSubscription.open({
          saChanges: true,
          onEvents: (events) => {
            for (const e of events) console.log(JSON.stringify({ kind: e.kind, change: e.change, spi: e.saId?.spi, proto: e.saId?.proto, family: e.saId?.family, reqid: e.info?.reqid, esn: e.esn, window: e.replayWindow, flavour: e.replayFlavour, type: e.message?.type, seq: e.message?.seq }));
            subscription.close();
          },
          onLoss: (loss) => console.log(JSON.stringify(loss)),
          onError: (error) => { console.error(error.message); process.exit(1); },
        });
        console.log('ready');`;
      const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const exited = once(child, 'exit');
      while (!out.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 20));
      ip('-n', ns.name, 'xfrm', 'state', 'delete', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'spi', '0x3000');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code] = await exited;
      clearTimeout(timer);
      assert.equal(code, 0);
      const event = JSON.parse(out.split('\n')[1]!) as Record<string, unknown>;
      assert.ok(typeof event.seq === 'number' && event.seq > 0, 'ip numbers its requests: the DELSA carries its seq');
      assert.deepEqual(
        { ...event, seq: 0 },
        { kind: 'sa', change: 'delete', spi: 0x3000, proto: 50, family: 2, reqid: 7, esn: false, window: 0, flavour: 'legacy', type: 17, seq: 0 },
      );
    } finally {
      ns.remove();
    }
  });

  it('with policyChanges, a policy added, updated, deleted and flushed arrives as policy and flush events', async () => {
    const ns = makeNetns('xaev-policy-events');
    try {
      const script = `
        import { EventSubscription } from '${REPO_ROOT}dist/src/xfrm/events.js';
        let seen = 0;
        const subscription = EventSubscription.open({
          policyChanges: true,
          onEvents: (events) => {
            for (const e of events) {
              console.log(JSON.stringify({ kind: e.kind, change: e.change, what: e.what, dir: e.policy?.dir, priority: e.policy?.priority, templates: e.policy?.templates.map((t) => t.reqid) }));
              if (++seen === 5) subscription.close();
            }
          },
          onLoss: (loss) => console.log(JSON.stringify(loss)),
          onError: (error) => { console.error(error.message); process.exit(1); },
        });
        console.log('ready');`;
      const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const exited = once(child, 'exit');
      while (!out.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 20));
      const selector = ['src', '10.1.0.0/16', 'dst', '10.2.0.0/16', 'dir', 'out'];
      ip('-n', ns.name, 'xfrm', 'policy', 'add', ...selector, 'priority', '10', 'tmpl', 'proto', 'esp', 'reqid', '3', 'mode', 'transport');
      ip('-n', ns.name, 'xfrm', 'policy', 'update', ...selector, 'priority', '20', 'tmpl', 'proto', 'esp', 'reqid', '4', 'mode', 'transport');
      ip('-n', ns.name, 'xfrm', 'policy', 'delete', ...selector);
      ip('-n', ns.name, 'xfrm', 'policy', 'add', ...selector);
      ip('-n', ns.name, 'xfrm', 'policy', 'flush');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code] = await exited;
      clearTimeout(timer);
      assert.equal(code, 0);
      assert.deepEqual(
        out.trim().split('\n').slice(1).map((line) => JSON.parse(line) as unknown),
        [
          { kind: 'policy', change: 'new', dir: 1, priority: 10, templates: [3] },
          { kind: 'policy', change: 'update', dir: 1, priority: 20, templates: [4] },
          { kind: 'policy', change: 'delete', dir: 1, priority: 20, templates: [4] },
          { kind: 'policy', change: 'new', dir: 1, priority: 0, templates: [] },
          { kind: 'flush', what: 'policy' },
        ],
      );
    } finally {
      ns.remove();
    }
  });
});
