// The stream session rules (src/sync/session.ts) without a kernel or a transport: the first
// record must be a hello, the first complete snapshot of a connection is said once and makes
// it healthy, bad lines are counted and reported at most every 10 s, a cut-off record counts
// as a bad line, an unknown version ends the receiver, the first --max-sas refusal is said.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AeMessage } from '../src/xfrm/aevent.js';
import type { XfrmClient } from '../src/xfrm/client.js';
import { SyncReceiver } from '../src/sync/receiver.js';
import { StreamSession } from '../src/sync/session.js';
import { encodeHeartbeat, encodeHello, encodeSnapshotBegin, encodeSnapshotEnd, encodeSnapshotSa } from '../src/sync/stream.js';

const DST = Buffer.from([192, 0, 2, 2, ...new Array(12).fill(0)]);

function ae(spi: number): AeMessage {
  return {
    id: { saId: { daddr: DST, spi, family: 2, proto: 50 }, saddr: Buffer.alloc(16), flags: 16, reqid: 1 },
    replay: { kind: 'legacy', oseq: 1, seq: 0, bitmap: 0 },
    lifetime: { bytes: 0n, packets: 1n, addTime: 1n, useTime: 0n },
    replayThreshold: undefined,
    timerThreshold100ms: undefined,
    mark: undefined,
    ifId: undefined,
    direction: undefined,
    unknownAttributes: [],
  };
}

const hello = encodeHello({ node: 'gw-a', software: 'xaev test', hz: 100, rthr: 256, etimeMs: 200, time: 1 });
const snapshot = (...spis: number[]): string =>
  encodeSnapshotBegin(1, 1) + spis.map((spi) => encodeSnapshotSa(1, ae(spi), 1)).join('') + encodeSnapshotEnd(1, spis.length, 1);

function setUp(maxSas = 10) {
  // Cache mode and no local SAs: nothing is applied, the session's rules are all that runs.
  const client = { listSas: () => [], getAeMany: () => [], newAeMany: () => [] } as unknown as XfrmClient;
  const receiver = new SyncReceiver(client, { mode: 'cache', margin: 'auto', maxSas });
  const notes: string[] = [];
  const fatal: string[] = [];
  let healthy = 0;
  let clock = 0;
  const session = new StreamSession(receiver, '-', { note: (m) => notes.push(m), fatal: (m) => fatal.push(m), healthy: () => healthy++ }, () => clock);
  const send = (text: string): void => session.onData(Buffer.from(text));
  return {
    receiver, session, notes, fatal, send,
    healthy: () => healthy,
    advance: (ms: number) => (clock += ms),
  };
}

describe('sync stream session', () => {
  it('refuses records before the hello, then follows the peer', () => {
    const { receiver, session, notes, send } = setUp();
    session.onConnect(1);
    send(encodeHeartbeat(5) + hello + snapshot(0x1000));
    assert.equal(session.streamErrors, 1);
    assert.equal(receiver.store.totals.records, 4); // hello, begin, sa, end: the heartbeat was refused
    assert.deepEqual(notes, [
      'refused a stream line: the stream does not start with a hello record (is the command `xaev sync send`?) (1 so far; see xaev sync status)',
      'following gw-a: snapshot of 1 SAs received',
    ]);
  });

  it('says the first complete snapshot once per connection, and it makes the connection healthy', () => {
    const { session, notes, send, healthy } = setUp();
    session.onConnect(1);
    send(hello + snapshot(0x1000) + snapshot(0x1000, 0x1001));
    session.onDisconnect('the command exited with status 255', 1000);
    session.onConnect(2);
    send(hello + snapshot(0x1000));
    assert.equal(healthy(), 2);
    assert.equal(session.reconnects, 1);
    assert.deepEqual(notes, [
      'following gw-a: snapshot of 1 SAs received',
      'sync stream ended: the command exited with status 255; reconnecting in 1.0 s',
      'following gw-a: snapshot of 1 SAs received',
    ]);
  });

  it('a new connection must start with a hello again, and forgets the last one\'s partial line', () => {
    const { session, send } = setUp();
    session.onConnect(1);
    send(hello + '{"type":"heart');
    session.onConnect(2);
    send(encodeHeartbeat(9));
    assert.equal(session.streamErrors, 1);
  });

  it('counts every bad line but reports them at most every 10 s', () => {
    const { session, notes, send, advance } = setUp();
    session.onConnect(1);
    send(hello + 'not json\n' + '{"type":"bogus"}\n');
    advance(9_999);
    send('[]\n');
    advance(1);
    send('{}\n');
    assert.equal(session.streamErrors, 4);
    assert.deepEqual(notes, [
      'refused a stream line: not a JSON value (1 so far; see xaev sync status)',
      'refused a stream line: unknown record type undefined (4 so far; see xaev sync status)',
    ]);
  });

  it('counts a record cut off by the end of the connection, and keeps the state when stdin ends', () => {
    const { session, notes, send } = setUp();
    session.onConnect(1);
    send(`${hello}{"type":"heartbeat","ti`);
    session.onDisconnect('end of standard input', undefined);
    assert.equal(session.streamErrors, 1);
    assert.deepEqual(session.link, { connected: false, lastDisconnect: 'end of standard input', command: '-' });
    assert.deepEqual(notes, [
      'refused a stream line: the stream ended inside a line (23 bytes without a newline) (1 so far; see xaev sync status)',
      'sync stream ended: end of standard input; state kept until takeover',
    ]);
  });

  it('ends on a stream version this xaev cannot read', () => {
    const { session, fatal, send } = setUp();
    session.onConnect(1);
    send('{"type":"hello","version":3}\n');
    assert.deepEqual(fatal, ['the sender speaks sync stream version 3, this xaev reads versions 1 and 2 only: run the same xaev version on both nodes']);
    assert.equal(session.streamErrors, 0);
  });

  it('says the first SA over --max-sas once', () => {
    const { session, notes, send } = setUp(1);
    session.onConnect(1);
    send(hello + snapshot(0x1000, 0x1001, 0x1002) + snapshot(0x1000, 0x1003));
    assert.deepEqual(notes, [
      'the peer has more SAs than --max-sas 1: the others are not synced and takeover will report it (raise --max-sas)',
      'following gw-a: snapshot of 3 SAs received',
    ]);
  });
});
