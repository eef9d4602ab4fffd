// xaev kernel lab: UDP traffic generator / receiver, run inside a UML netns:
//
//   ip netns exec left  node dist/test/lab/traffic.js --to 192.0.2.2 --port 5000 --count 5 [--interval-ms 100] [--size 64] [--from-port 4000]
//   ... --to 192.0.2.2 --to 192.0.2.2:5001 --to [2001:db8::2]:5000 --count 5   (several targets, one process)
//   ip netns exec right node dist/test/lab/traffic.js --listen 5000 --count 5 --timeout-ms 3000 [--ready-file F]
//
// Sender: sends --count datagrams at a steady rate (one every --interval-ms,
// scheduled against the start time so the rate does not drift), from a fixed
// source port (--from-port, default 4000) so port-restricted policies work.
// --to may be repeated and may carry its own port (ADDR:PORT, [V6]:PORT);
// every target gets --count datagrams, all targets in the same tick (node
// startup costs ~0.5-1.7 s inside UML, so one process for many flows is much
// cheaper than one process per flow). One udp4 and/or one udp6 socket, both
// bound to --from-port. Exits 0 once every datagram was handed to the kernel. Socket errors (e.g.
// ICMP port unreachable reported as ECONNREFUSED) are counted, not fatal.
// A send that the kernel refuses synchronously (e.g. EAGAIN while an SA is
// being resolved) is counted as failed; the sender still exits 0 unless
// --strict is given.
//
// Receiver: binds --listen PORT (dual-stack :: unless --bind is given), counts
// datagrams until --count arrived or --timeout-ms passed, prints
// `received=K expected=N` and exits 0 if K >= N, else 1.
//
// Output: one summary line `key=value ...` on stdout (easy to grep in scenarios).
// SO_MARK is not available from node: for marked traffic use lab_send_marked
// (topology.sh, perl).

import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';

interface Target {
  addr: string;
  port: number;
}

interface SendOptions {
  targets: Target[];
  count: number;
  intervalMs: number;
  size: number;
  fromPort: number;
  strict: boolean;
}

interface ListenOptions {
  port: number;
  count: number;
  timeoutMs: number;
  bind: string | undefined;
  readyFile: string | undefined;
}

function usage(msg?: string): never {
  if (msg) process.stderr.write(`traffic: ${msg}\n`);
  process.stderr.write(
    'usage: traffic.js --to ADDR[:PORT] [--to ...] --port P --count N [--interval-ms M] [--size B] [--from-port P] [--strict]\n' +
      '       traffic.js --listen P --count N --timeout-ms T [--bind ADDR] [--ready-file FILE]\n',
  );
  process.exit(2);
}

function int(name: string, value: string | undefined, def: number, min = 0): number {
  if (value === undefined) return def;
  if (!/^\d+$/.test(value)) usage(`--${name} must be a non-negative integer`);
  const n = Number(value);
  if (n < min) usage(`--${name} must be >= ${min}`);
  return n;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function bindSocket(type: 'udp4' | 'udp6', port: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type, reuseAddr: true, ipv6Only: type === 'udp6' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.once('listening', () => {
      sock.off('error', reject);
      resolve();
    });
    sock.bind({ port, exclusive: true });
  });
  return sock;
}

async function send(o: SendOptions): Promise<number> {
  let asyncErrors = 0;
  let lastError = '';
  const sockets = new Map<'udp4' | 'udp6', dgram.Socket>();
  for (const t of o.targets) {
    const type = isIPv6(t.addr) ? 'udp6' : 'udp4';
    if (sockets.has(type)) continue;
    const sock = await bindSocket(type, o.fromPort);
    // ICMP errors arrive as 'error' events (on connected sockets): never fatal here.
    sock.on('error', (e) => {
      asyncErrors++;
      lastError = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    sockets.set(type, sock);
  }
  const payload = Buffer.alloc(o.size);
  const start = Date.now();
  let sent = 0;
  let failed = 0;
  for (let i = 0; i < o.count; i++) {
    if (i > 0 && o.intervalMs > 0) {
      const due = start + i * o.intervalMs;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    }
    if (payload.length >= 4) payload.writeUInt32BE(i + 1, 0);
    const results = await Promise.all(
      o.targets.map(
        (t) =>
          new Promise<Error | null>((resolve) => {
            const sock = sockets.get(isIPv6(t.addr) ? 'udp6' : 'udp4')!;
            try {
              sock.send(payload, t.port, t.addr, (e) => resolve(e ?? null));
            } catch (e) {
              resolve(e as Error);
            }
          }),
      ),
    );
    for (const err of results) {
      if (err) {
        failed++;
        lastError = (err as NodeJS.ErrnoException).code ?? err.message;
      } else {
        sent++;
      }
    }
  }
  const ms = Date.now() - start;
  // Give late ICMP errors a moment to be counted, then close.
  await sleep(10);
  for (const s of sockets.values()) s.close();
  const to = o.targets.map((t) => (isIPv6(t.addr) ? `[${t.addr}]:${t.port}` : `${t.addr}:${t.port}`)).join(',');
  process.stdout.write(
    `sent=${sent} failed=${failed} errors=${asyncErrors} to=${to} count=${o.count} from_port=${o.fromPort} ms=${ms}` +
      (lastError ? ` last_error=${lastError}` : '') +
      '\n',
  );
  return o.strict && sent < o.count * o.targets.length ? 1 : 0;
}

/** ADDR, ADDR:PORT or [V6ADDR]:PORT; bare addresses get defaultPort. */
function parseTarget(spec: string, defaultPort: number): Target {
  let addr = spec;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const v4 = /^([^:]+):(\d+)$/.exec(spec);
  if (v6) {
    addr = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if (v4) {
    addr = v4[1]!;
    port = Number(v4[2]);
  }
  if (port < 1 || port > 65535) usage(`bad port in --to ${spec}`);
  return { addr, port };
}

async function listen(o: ListenOptions): Promise<number> {
  const type = o.bind !== undefined && !isIPv6(o.bind) ? 'udp4' : 'udp6';
  const sock = dgram.createSocket({ type, reuseAddr: true, ipv6Only: false });
  let received = 0;
  let bytes = 0;
  const start = Date.now();
  let firstMs = -1;
  let lastMs = -1;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, o.timeoutMs);
    sock.on('message', (msg) => {
      received++;
      bytes += msg.length;
      const t = Date.now() - start;
      if (firstMs < 0) firstMs = t;
      lastMs = t;
      if (o.count > 0 && received >= o.count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  sock.on('error', (e) => {
    process.stderr.write(`traffic: socket error: ${e.message}\n`);
  });
  await new Promise<void>((resolve) => {
    sock.once('listening', resolve);
    sock.bind({ port: o.port, address: o.bind ?? '::' });
  });
  if (o.readyFile) writeFileSync(o.readyFile, `${process.pid}\n`);
  await done;
  sock.close();
  process.stdout.write(
    `received=${received} expected=${o.count} bytes=${bytes} port=${o.port} first_ms=${firstMs} last_ms=${lastMs}\n`,
  );
  return received >= o.count ? 0 : 1;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        to: { type: 'string', multiple: true },
        port: { type: 'string' },
        count: { type: 'string' },
        'interval-ms': { type: 'string' },
        size: { type: 'string' },
        'from-port': { type: 'string' },
        strict: { type: 'boolean' },
        listen: { type: 'string' },
        'timeout-ms': { type: 'string' },
        bind: { type: 'string' },
        'ready-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) usage();
  if (values.listen !== undefined) {
    return listen({
      port: int('listen', values.listen, 0, 1),
      count: int('count', values.count, 1),
      timeoutMs: int('timeout-ms', values['timeout-ms'], 5000),
      bind: values.bind,
      readyFile: values['ready-file'],
    });
  }
  if (values.to === undefined || values.to.length === 0) usage('--to or --listen is required');
  const port = int('port', values.port, 5000, 1);
  return send({
    targets: values.to.map((t) => parseTarget(t, port)),
    count: int('count', values.count, 1),
    intervalMs: int('interval-ms', values['interval-ms'], 0),
    size: int('size', values.size, 64),
    fromPort: int('from-port', values['from-port'], 4000),
    strict: values.strict ?? false,
  });
}

// `node --test dist/test/` loads every .js file below a `test` directory as a
// test file; without arguments under the test runner, do nothing.
if (process.env.NODE_TEST_CONTEXT && process.argv.length <= 2) process.exit(0);

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`traffic: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
