// Tests of the C++ addon (native/netlink_socket.cc) through its raw JS interface. The kernel's
// XFRM netlink family serves as the peer: a GETAE request that is too short always earns an
// NLMSG_ERROR reply, which gives a reply on demand without touching any SA.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { callNative } from '../src/netlink/errors.js';
import { ADDON_PATH, EXPECTED_ADDON_ABI, type NativeAddon, type NativeNetlinkSocket } from '../src/netlink/native.js';

type Socket = NativeNetlinkSocket;

// The raw addon, loaded the way src/netlink/native.ts does, without its ABI check wrapper.
const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
const { NetlinkSocket, constants } = addon;

const NETLINK_XFRM = 6;
const XFRM_MSG_GETAE = 31;
const XFRMNLGRP_AEVENTS = 5;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST_ACK = 0x5;
const EINVAL = 22;

const notRoot = process.getuid?.() !== 0 ? 'needs root (CAP_NET_ADMIN)' : false;

/** A bare nlmsghdr: too short for GETAE, so the kernel answers with -EINVAL. */
function badGetae(seq: number): Buffer {
  const msg = Buffer.alloc(16);
  msg.writeUInt32LE(16, 0);
  msg.writeUInt16LE(XFRM_MSG_GETAE, 4);
  msg.writeUInt16LE(NLM_F_REQUEST_ACK, 6);
  msg.writeUInt32LE(seq, 8);
  return msg;
}

function parseError(datagram: Buffer): { type: number; seq: number; error: number } {
  assert.ok(datagram.length >= 20, `datagram too short: ${datagram.length}`);
  assert.equal(datagram.readUInt32LE(0), datagram.length);
  return { type: datagram.readUInt16LE(4), seq: datagram.readUInt32LE(8), error: datagram.readInt32LE(16) };
}

/** The addon's errors carry the number and the call; names are added in TypeScript. */
function assertSystemError(fn: () => unknown, errno: number, syscall?: string): void {
  assert.throws(fn, (error: NodeJS.ErrnoException) => {
    assert.ok(error instanceof Error);
    assert.equal(error.code, undefined);
    assert.equal(error.errno, errno);
    if (syscall !== undefined) {
      assert.equal(error.syscall, syscall);
      assert.match(error.message, new RegExp(`^${syscall}: `));
    }
    return true;
  });
}

/** Runs a CommonJS script in a fresh node, with the addon path as process.argv[1]. */
function runChild(script: string, timeout = 10_000): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['-e', script, ADDON_PATH], { encoding: 'utf8', timeout });
}

const CHILD_PRELUDE = `
  const { NetlinkSocket } = require(process.argv[1]);
  const request = Buffer.alloc(16);
  request.writeUInt32LE(16, 0); request.writeUInt16LE(${XFRM_MSG_GETAE}, 4);
  request.writeUInt16LE(${NLM_F_REQUEST_ACK}, 6); request.writeUInt32LE(7, 8);
`;

/** The one datagram expected within the timeout, or null. */
function receiveOne(socket: Socket, timeoutMs: number): Buffer | null {
  const datagrams = socket.receiveAll(timeoutMs);
  assert.ok(datagrams.length <= 1, `expected at most one datagram, got ${datagrams.length}`);
  return datagrams[0] ?? null;
}

function rcvbuf(socket: Socket): number {
  return socket.getSockOptInt(constants.SOL_SOCKET, constants.SO_RCVBUF);
}

function setRcvbuf(socket: Socket, bytes: number): number {
  socket.setSockOptInt(constants.SOL_SOCKET, constants.SO_RCVBUFFORCE, bytes);
  return rcvbuf(socket);
}

function withSocket(fn: (socket: Socket) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const socket = new NetlinkSocket(NETLINK_XFRM);
    try {
      await fn(socket);
    } finally {
      socket.close();
    }
  };
}

describe('native netlink socket addon', () => {
  test('exports the interface version the loader expects, and the socket option numbers', () => {
    assert.equal(addon.abiVersion, EXPECTED_ADDON_ABI);
    assert.deepEqual(constants, {
      SOL_SOCKET: 1,
      SO_RCVBUF: 8,
      SO_RCVBUFFORCE: 33,
      SOL_NETLINK: 270,
      NETLINK_ADD_MEMBERSHIP: 1,
      NETLINK_EXT_ACK: 11,
      NETLINK_CAP_ACK: 10,
    });
    assert.equal(typeof addon.enterNetns, 'function');
    assert.equal(typeof NetlinkSocket, 'function');
  });

  test('a new socket is bound and has a port id', withSocket((socket) => {
    assert.ok(socket.portId > 0);
  }));

  test('rejects arguments of the wrong type', withSocket((socket) => {
    assert.throws(() => new NetlinkSocket('6' as unknown as number), TypeError);
    assert.throws(() => new NetlinkSocket(-1), RangeError);
    assert.throws(() => socket.send('abc' as unknown as Uint8Array), TypeError);
    assert.throws(() => socket.send(new Uint16Array(8) as unknown as Uint8Array), TypeError);
    assert.throws(() => socket.receiveAll(undefined as unknown as number), TypeError);
    assert.throws(() => socket.receiveAll(1.5), RangeError);
    assert.throws(() => socket.setSockOptInt(1, 8, 2 ** 33), RangeError);
    assert.throws(() => socket.startReceiving(1 as never, 2 as never), TypeError);
    assert.throws(() => addon.enterNetns(5 as unknown as string), TypeError);
  }));

  test('syscall failures carry errno and syscall; callNative adds the name', () => {
    assertSystemError(() => new NetlinkSocket(9999), 93, 'socket');
    assertSystemError(() => addon.enterNetns('/run/netns/does-not-exist'), 2, 'open');
    assert.throws(() => callNative(() => new NetlinkSocket(9999)), { code: 'EPROTONOSUPPORT', errno: 93, syscall: 'socket' });
  });

  test('sets and reads int socket options (the receive buffer)', { skip: notRoot }, withSocket((socket) => {
    const size = setRcvbuf(socket, 1 << 20);
    assert.equal(size, 2 << 20, 'the kernel doubles the request for its bookkeeping');
    // The kernel clamps tiny sizes to its minimum instead of failing.
    const minimum = setRcvbuf(socket, 1);
    assert.ok(minimum > 1 && minimum < 1 << 20, `got ${minimum}`);
  }));

  test('sends a request and receives the kernel error reply', { skip: notRoot }, withSocket((socket) => {
    assert.equal(socket.send(badGetae(1234)), 16);
    const reply = receiveOne(socket, 2000);
    assert.ok(reply);
    assert.deepEqual(parseError(reply), { type: NLMSG_ERROR, seq: 1234, error: -EINVAL });
    assert.equal(receiveOne(socket, 0), null);
  }));

  test('receiveInto packs queued datagrams into the caller buffer, 4-aligned', { skip: notRoot }, withSocket((socket) => {
    for (const seq of [1, 2, 3]) socket.send(badGetae(seq));
    const buffer = Buffer.alloc(1 << 17);
    // A bare addon socket has no EXT_ACK (the TypeScript side turns it on), so each reply is
    // nlmsghdr + nlmsgerr with the 16-byte request echoed: 36 bytes, padded to 36.
    assert.equal(socket.receiveInto(buffer, 2000), 3 * 36);
    assert.deepEqual([0, 36, 72].map((at) => parseError(buffer.subarray(at, at + 36)).seq), [1, 2, 3]);
    assert.equal(socket.receiveInto(buffer, 0), 0);
    assert.throws(() => socket.receiveInto(Buffer.alloc(1024), 0), TypeError);
  }));

  test('exchangeInto sends and receives on a worker thread; the socket is busy until it settles', { skip: notRoot }, withSocket(async (socket) => {
    const requests = Buffer.concat([badGetae(11), badGetae(12)]);
    const buffer = Buffer.alloc(1 << 17);
    const exchange = socket.exchangeInto(requests, buffer, 2000);
    assert.ok(exchange instanceof Promise);
    // One exchange at a time, and nothing beside it: every call that would use the fd is refused.
    for (const call of [() => socket.receiveAll(0), () => socket.send(badGetae(13)), () => socket.exchangeInto(requests, buffer, 0)]) {
      assertSystemError(call, 16);
    }
    // Both answers were queued inside sendto(), so the worker's one read has them.
    assert.equal(await exchange, 2 * 36);
    assert.deepEqual([0, 36].map((at) => parseError(buffer.subarray(at, at + 36))), [
      { type: NLMSG_ERROR, seq: 11, error: -EINVAL },
      { type: NLMSG_ERROR, seq: 12, error: -EINVAL },
    ]);
    // Nothing to send: only receive, and resolve 0 after the timeout.
    const start = performance.now();
    assert.equal(await socket.exchangeInto(new Uint8Array(0), buffer, 100), 0);
    assert.ok(performance.now() - start >= 90);
    assert.deepEqual(socket.receiveAll(0), []);
    await assert.rejects(async () => socket.exchangeInto(requests, Buffer.alloc(1024), 0), TypeError);
  }));

  test('close during an exchange closes the fd once the worker is done', { skip: notRoot }, async () => {
    const socket = new NetlinkSocket(NETLINK_XFRM);
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    const exchange = socket.exchangeInto(new Uint8Array(0), Buffer.alloc(1 << 16), 200);
    socket.close();
    assertSystemError(() => socket.receiveAll(0), 9);
    // Still open for the worker, which waits out its timeout on it.
    assert.equal(fds(), before);
    assert.equal(await exchange, 0);
    assert.equal(fds(), before - 1);
    socket.close();
  });

  test('accepts a Uint8Array as well as a Buffer', { skip: notRoot }, withSocket((socket) => {
    const request = badGetae(77);
    const padded = new Uint8Array(request.length + 8);
    padded.set(request, 4);
    assert.equal(socket.send(padded.subarray(4, 4 + request.length)), 16);
    const reply = receiveOne(socket, 2000);
    assert.ok(reply);
    assert.equal(parseError(reply).seq, 77);
  }));

  test('many queued datagrams are read several to a system call (recvmmsg), in order', { skip: notRoot }, withSocket((socket) => {
    setRcvbuf(socket, 1 << 20);
    const seqs = Array.from({ length: 40 }, (_, i) => 100 + i);
    for (const seq of seqs) socket.send(badGetae(seq));
    const buffer = Buffer.alloc(1 << 20);
    assert.equal(socket.receiveInto(buffer, 2000), 40 * 36);
    assert.deepEqual(seqs.map((_, i) => parseError(buffer.subarray(36 * i, 36 * i + 36)).seq), seqs);
    for (const seq of seqs) socket.send(badGetae(seq));
    assert.deepEqual(socket.receiveAll(2000).map((d) => parseError(d).seq), seqs);
    assert.deepEqual(socket.receiveAll(0), []);
  }));

  // Another socket (Python's AF_NETLINK) sends to ours: root may unicast between user sockets.
  const sendFromPython = (portId: number, sizes: number[]): void => {
    const script = 'import socket, sys\ns = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 6)\ns.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)\ns.bind((0, 0))\nfor n in sys.argv[2:]:\n    s.sendto(bytes([7]) * int(n), (int(sys.argv[1]), 0))';
    const result = spawnSync('python3', ['-c', script, String(portId), ...sizes.map(String)], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  };

  test('a datagram over 64 KiB is left out and said so: receiveInto keeps the others, then fails with EMSGSIZE', { skip: notRoot }, withSocket((socket) => {
    setRcvbuf(socket, 1 << 20);
    sendFromPython(socket.portId, [40, 70_000, 8]);
    const buffer = Buffer.alloc(1 << 20, 0xee);
    assert.equal(socket.receiveInto(buffer, 2000), 48);
    assert.ok(buffer.subarray(0, 48).every((byte) => byte === 7));
    assertSystemError(() => socket.receiveInto(buffer, 0), 90 /* EMSGSIZE */, 'recv');
    assert.equal(socket.receiveInto(buffer, 0), 0);
  }));

  test('startReceiving gives a cut datagram with its real size', { skip: notRoot }, withSocket(async (socket) => {
    setRcvbuf(socket, 1 << 20);
    const received = new Promise<[number[], number[] | undefined]>((resolve, reject) => {
      socket.startReceiving((datagrams: Buffer[], fullSizes?: number[]) => resolve([datagrams.map((d) => d.length), fullSizes]), (errno) => reject(new Error(`unexpected error ${errno}`)));
    });
    sendFromPython(socket.portId, [40, 70_000, 8]);
    assert.deepEqual(await received, [[40, 65536, 8], [40, 70_000, 8]]);
    socket.stopReceiving();
  }));

  test('receiveAll returns nothing after the timeout', withSocket((socket) => {
    const start = performance.now();
    assert.deepEqual(socket.receiveAll(150), []);
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 140 && elapsed < 1500, `took ${elapsed} ms`);
  }));

  test('receiveAll returns every queued datagram in order', { skip: notRoot }, withSocket((socket) => {
    for (const seq of [11, 12, 13]) socket.send(badGetae(seq));
    const datagrams = socket.receiveAll(2000);
    assert.deepEqual(datagrams.map((d) => parseError(d).seq), [11, 12, 13]);
    assert.ok(datagrams.every((d) => Buffer.isBuffer(d) && d.buffer === datagrams[0]?.buffer));
    assert.deepEqual(socket.receiveAll(50), []);
  }));

  test('startReceiving delivers datagrams on the event loop', { skip: notRoot }, withSocket(async (socket) => {
    const received = new Promise<Buffer[]>((resolve, reject) => {
      socket.startReceiving(resolve, (errno) => reject(new Error(`unexpected error ${errno}`)));
    });
    socket.send(badGetae(4321));
    const datagrams = await received;
    assert.equal(datagrams.length, 1);
    assert.deepEqual(parseError(datagrams[0]!), { type: NLMSG_ERROR, seq: 4321, error: -EINVAL });
    socket.stopReceiving();
    socket.stopReceiving();
    // Stopped, but still open: the next reply is there for a synchronous read.
    socket.send(badGetae(4322));
    assert.equal(parseError(receiveOne(socket, 2000)!).seq, 4322);
  }));

  test('startReceiving again replaces the callbacks', { skip: notRoot }, withSocket(async (socket) => {
    socket.startReceiving(() => assert.fail('old callback called'), () => assert.fail('old overrun'));
    const received = new Promise<Buffer[]>((resolve) => socket.startReceiving(resolve, () => {}));
    socket.send(badGetae(5));
    assert.equal(parseError((await received)[0]!).seq, 5);
  }));

  test('joins the XFRM aevents multicast group; group 0 is refused', { skip: notRoot }, withSocket((socket) => {
    socket.setSockOptInt(constants.SOL_NETLINK, constants.NETLINK_ADD_MEMBERSHIP, XFRMNLGRP_AEVENTS);
    assertSystemError(() => socket.setSockOptInt(constants.SOL_NETLINK, constants.NETLINK_ADD_MEMBERSHIP, 0), EINVAL, 'setsockopt');
  }));

  test('close is idempotent and later calls fail with EBADF', () => {
    const socket = new NetlinkSocket(NETLINK_XFRM);
    socket.close();
    socket.close();
    assert.ok(socket.portId > 0);
    socket.stopReceiving();
    const calls: Array<() => unknown> = [
      () => socket.send(badGetae(1)),
      () => socket.receiveAll(0),
      () => socket.setSockOptInt(constants.SOL_SOCKET, constants.SO_RCVBUF, 4096),
      () => socket.getSockOptInt(constants.SOL_SOCKET, constants.SO_RCVBUF),
      () => socket.startReceiving(() => {}, () => {}),
      () => socket.receiveInto(Buffer.alloc(1 << 16), 0),
      () => socket.exchangeInto(badGetae(1), Buffer.alloc(1 << 16), 0),
    ];
    for (const call of calls) assertSystemError(call, 9);
  });

  test('close from inside the datagram callback is safe', { skip: notRoot }, async () => {
    const socket = new NetlinkSocket(NETLINK_XFRM);
    await new Promise<void>((resolve, reject) => {
      socket.startReceiving(() => {
        socket.close();
        resolve();
      }, (errno) => reject(new Error(`unexpected error ${errno}`)));
      socket.send(badGetae(1));
      socket.send(badGetae(2));
    });
    assertSystemError(() => socket.receiveAll(0), 9);
  });

  test('receiveAll throws ENOBUFS after an overrun, then works again', { skip: notRoot }, withSocket((socket) => {
    setRcvbuf(socket, 1);
    for (let seq = 1; seq <= 2000; seq++) socket.send(badGetae(seq));
    assertSystemError(() => socket.receiveAll(1000), 105, 'recv');
    // The replies queued before the overrun are still there, oldest first.
    const queued = socket.receiveAll(1000);
    assert.ok(queued.length > 0);
    assert.equal(parseError(queued[0]!).seq, 1);
    socket.send(badGetae(9999));
    assert.equal(parseError(receiveOne(socket, 2000)!).seq, 9999);
  }));

  test('startReceiving reports an overrun as errno ENOBUFS and keeps receiving', { skip: notRoot }, withSocket(async (socket) => {
    setRcvbuf(socket, 1);
    for (let seq = 1; seq <= 2000; seq++) socket.send(badGetae(seq));
    const events: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; events: ${events.join(' ')}`)), 5000);
      socket.startReceiving(
        (datagrams) => {
          for (const datagram of datagrams) {
            const { seq } = parseError(datagram);
            events.push(String(seq));
            if (seq === 9999) {
              clearTimeout(timer);
              resolve();
            }
          }
          // Ask for a fresh reply only once the backlog is gone.
          if (events.includes('overrun') && !events.includes('sent')) {
            events.push('sent');
            socket.send(badGetae(9999));
          }
        },
        (errno) => events.push(errno === 105 ? 'overrun' : `errno ${errno}`),
      );
    });
    assert.equal(events.filter((e) => e === 'overrun').length, 1);
    assert.ok(events.indexOf('overrun') < events.indexOf('9999'));
    assert.ok(events.includes('1'), 'replies queued before the overrun are delivered');
  }));

  test('a receiving socket keeps the process alive until it stops', () => {
    const child = runChild(`${CHILD_PRELUDE}
      const socket = new NetlinkSocket(${NETLINK_XFRM});
      socket.startReceiving(() => {}, () => {});
      setTimeout(() => { console.log('still alive'); socket.stopReceiving(); }, 300);
    `);
    assert.equal(child.signal, null, 'the child had to be killed');
    assert.equal(child.status, 0, String(child.stderr));
    assert.equal(String(child.stdout).trim(), 'still alive');
  });

  test('a throwing callback reaches process uncaughtException', { skip: notRoot }, () => {
    const child = runChild(`${CHILD_PRELUDE}
      const socket = new NetlinkSocket(${NETLINK_XFRM});
      let calls = 0;
      process.on('uncaughtException', (error) => {
        console.log('caught ' + error.message);
        if (++calls === 2) socket.close();
        else socket.send(request);
      });
      socket.startReceiving(() => { throw new Error('boom'); }, () => {});
      socket.send(request);
    `);
    assert.equal(child.signal, null, String(child.stderr));
    assert.equal(child.status, 0, String(child.stderr));
    assert.equal(String(child.stdout), 'caught boom\ncaught boom\n');
  });

  test('an unhandled callback exception exits like any uncaught error', { skip: notRoot }, () => {
    const child = runChild(`${CHILD_PRELUDE}
      const socket = new NetlinkSocket(${NETLINK_XFRM});
      socket.startReceiving(() => { throw new Error('boom'); }, () => {});
      socket.send(request);
    `);
    assert.equal(child.signal, null, 'not an abort');
    assert.equal(child.status, 1);
    assert.match(String(child.stderr), /Error: boom/);
  });

  test('a garbage-collected socket closes cleanly', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', '-e', `${CHILD_PRELUDE}
      for (let i = 0; i < 200; i++) {
        const socket = new NetlinkSocket(${NETLINK_XFRM});
        if (i % 2) { socket.startReceiving(() => {}, () => {}); socket.stopReceiving(); }
      }
      const fds = () => require('fs').readdirSync('/proc/self/fd').length;
      setTimeout(() => { globalThis.gc(); setTimeout(() => { globalThis.gc(); console.log(fds()); }, 50); }, 10);
    `, ADDON_PATH], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(child.status, 0, String(child.stderr));
    assert.ok(Number(child.stdout) < 100, `fds left open: ${child.stdout}`);
  });

  test('enterNetns moves the main thread into the namespace', { skip: notRoot }, (t) => {
    const name = `xaevtest-${process.pid}`;
    const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
    if (add.error || add.status !== 0) {
      t.skip(`ip netns add failed: ${add.error?.message ?? add.stderr}`);
      return;
    }
    try {
      const child = runChild(`
        const { enterNetns } = require(process.argv[1]);
        enterNetns('/run/netns/${name}');
        console.log(require('fs').statSync('/proc/self/ns/net').ino);
      `);
      assert.equal(child.status, 0, String(child.stderr));
      assert.equal(Number(child.stdout), statSync(`/run/netns/${name}`).ino);
      assert.notEqual(Number(child.stdout), statSync('/proc/self/ns/net').ino);
    } finally {
      spawnSync('ip', ['netns', 'del', name]);
    }
  });
});
