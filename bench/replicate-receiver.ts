// Diagnostic (not part of `npm run bench`): `sync receive --install`'s engine (the stream
// session, the receiver with its installer, ledger and live apply) on the host with a fake
// kernel, fed a replicating sender's snapshot of N SAs and N policies in 64 KiB chunks, as the
// pipe from `xaev sync send` delivers them. What it shows is how the receiver's own cost grows
// with the table: a cost paid per chunk that follows the table's size shows as a time per SA or
// policy that grows with N (bench/README.md, replication at scale). The kernel's share is not
// in it (the fake installs into a map).
//
//   npm run build:ts && node --expose-gc dist/bench/replicate-receiver.js [--sizes 10000,30000,60000,100000]
//
// The snapshot is the part-6 concentrator's (bench/replicate.sh): per peer an inbound and an
// outbound AEAD tunnel SA (ESN, window 128) and an out and an in policy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NetlinkError } from '../src/netlink/errors.js';
import type { AeMessage, SaKey } from '../src/xfrm/aevent.js';
import type { XfrmClient } from '../src/xfrm/client.js';
import { createPolicy, type XfrmPolicy } from '../src/xfrm/policy-message.js';
import { createSa, emptySelector, type XfrmSa } from '../src/xfrm/sa-message.js';
import { SecretKey } from '../src/xfrm/secret-key.js';
import { localSaInfo } from '../src/sync/identity.js';
import { SyncReceiver } from '../src/sync/receiver.js';
import { StreamSession } from '../src/sync/session.js';
import { policyName } from '../src/sync/stream-replica.js';
import { encodeHello, encodePolicy, encodeSnapshotBegin, encodeSnapshotEnd, encodeSnapshotSa } from '../src/sync/stream.js';
import { prng } from '../test/support/prng.js';

const CHUNK_BYTES = 65536;
const XFRM_STATE_ESN = 128;

/** An IPv4 address as the xfrm structs hold it (16 bytes). */
function ipv4(n: number): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeUInt32BE(n >>> 0, 0);
  return bytes;
}

const GATEWAY = (192 << 24) | (0 << 16) | (2 << 8) | 1;
const PEERS = (198 << 24) | (18 << 16);
const VIRTUAL = (100 << 24) | (64 << 16);

/** The state of an SA as GETAE shows it (a dump's fields, zero counters). */
function stateOf(sa: XfrmSa): AeMessage {
  return {
    id: { saId: sa.saId, saddr: sa.saddr, flags: sa.flags, reqid: sa.reqid },
    replay: sa.replay ?? { kind: 'esn', seq: 0, seqHi: 0, oseq: 0, oseqHi: 0, replayWindow: 128, bitmap: [0, 0, 0, 0] },
    lifetime: sa.current,
    replayThreshold: 256,
    timerThreshold100ms: 2,
    mark: undefined,
    ifId: undefined,
    direction: undefined,
    unknownAttributes: [],
  };
}

/** The sender's stream for `n` SAs and `n` policies: hello, snapshot, snapshot-end. */
function snapshotStream(n: number): Buffer {
  const random = prng(19);
  const word = (): number => Math.floor(random() * 2 ** 32);
  const used = new Set<number>();
  const spi = (): number => {
    let value: number;
    do value = 256 + Math.floor(random() * (2 ** 32 - 256));
    while (used.has(value));
    used.add(value);
    return value;
  };
  const key = (): SecretKey => {
    const bytes = Buffer.alloc(36);
    for (let at = 0; at < 36; at += 4) bytes.writeUInt32BE(word(), at);
    return SecretKey.copyOf(bytes);
  };
  const lines = [encodeHello({ node: 'A', software: 'xaev bench', hz: 250, rthr: 256, etimeMs: 200, replicate: ['sas', 'policies'], time: 1 }), encodeSnapshotBegin(1, 1)];
  const sa = (src: number, dst: number, peer: number): XfrmSa =>
    createSa({
      saId: { daddr: ipv4(dst), spi: spi(), family: 2, proto: 50 },
      saddr: ipv4(src),
      reqid: peer,
      mode: 1,
      flags: XFRM_STATE_ESN,
      aead: { name: 'rfc4106(gcm(aes))', keyBits: 288, icvBits: 128, key: key() },
      replay: { kind: 'esn', seq: 0, seqHi: 0, oseq: 0, oseqHi: 0, replayWindow: 128, bitmap: [0, 0, 0, 0] },
    });
  for (let peer = 1; peer <= n / 2; peer++) {
    for (const one of [sa(GATEWAY, PEERS + peer, peer), sa(PEERS + peer, GATEWAY, peer)]) lines.push(encodeSnapshotSa(1, stateOf(one), 1, one));
  }
  const template = (src: number, dst: number, peer: number): XfrmPolicy['templates'][number] => ({
    id: { daddr: ipv4(dst), spi: 0, proto: 50 },
    family: 2,
    saddr: ipv4(src),
    reqid: peer,
    mode: 1,
    share: 0,
    optional: 0,
    aalgos: 0xffffffff,
    ealgos: 0xffffffff,
    calgos: 0xffffffff,
  });
  const local = { ...emptySelector(), family: 2 };
  for (let peer = 1; peer <= n / 2; peer++) {
    const out = createPolicy({ selector: { ...local, saddr: ipv4(10 << 24), prefixlenS: 8, daddr: ipv4(VIRTUAL + peer), prefixlenD: 32 }, dir: 1, index: 8 * peer + 1, priority: 375423, templates: [template(GATEWAY, PEERS + peer, peer)] });
    const into = createPolicy({ selector: { ...local, saddr: ipv4(VIRTUAL + peer), prefixlenS: 32, daddr: ipv4(10 << 24), prefixlenD: 8 }, dir: 0, index: 8 * peer, priority: 375423, templates: [template(PEERS + peer, GATEWAY, peer)] });
    lines.push(encodePolicy(1, out, 1), encodePolicy(1, into, 1));
  }
  lines.push(encodeSnapshotEnd(1, n, 1, n));
  return Buffer.from(lines.join(''));
}

/** A kernel of SAs and policies in maps: what the receiver needs to install and apply. */
function fakeKernel(): XfrmClient {
  const sas = new Map<string, AeMessage>();
  const policies = new Map<string, XfrmPolicy>();
  const nameOf = (key: SaKey): string => localSaInfo(key.saId, key.mark, false)!.name;
  return {
    listSas: () => [],
    getAeMany: (keys: SaKey[]) => keys.map((key) => sas.get(nameOf(key)) ?? new NetlinkError(3)),
    newAeMany: (writes: unknown[]) => writes.map(() => undefined),
    addSas: (list: XfrmSa[]) =>
      list.map((sa) => {
        const name = nameOf({ saId: sa.saId, mark: sa.mark });
        if (sas.has(name)) return new NetlinkError(17);
        sas.set(name, stateOf(sa));
        return undefined;
      }),
    deleteSas: (keys: SaKey[]) => keys.map(() => undefined),
    dumpPolicies: () => [],
    addPolicies: (list: XfrmPolicy[]) =>
      list.map((policy) => {
        policies.set(policyName(policy), policy);
        return undefined;
      }),
    deletePolicies: (keys: unknown[]) => keys.map(() => undefined),
  } as unknown as XfrmClient;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function measure(n: number, ledgerDir: string): Promise<string> {
  const stream = snapshotStream(n);
  const receiver = new SyncReceiver(fakeKernel(), { mode: 'live', margin: 'auto', maxSas: 10 * n, install: { ledger: join(ledgerDir, `ledger-${n}.json`) } });
  const session = new StreamSession(receiver, 'bench', { note: () => undefined, fatal: (message) => { throw new Error(message); }, healthy: () => undefined });
  receiver.loadLocalSas();
  session.onConnect(1);
  const started = performance.now();
  // One chunk per turn of the event loop, as a pipe's reads come: the install passes and
  // applies the chunks schedule run in between.
  for (let at = 0; at < stream.length; at += CHUNK_BYTES) {
    session.onData(stream.subarray(at, at + CHUNK_BYTES));
    await tick();
  }
  await tick();
  const ms = performance.now() - started;
  const totals = receiver.totals;
  (globalThis as { gc?: () => void }).gc?.();
  const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
  receiver.stop();
  const ok = totals.installedSas === n && totals.installedPolicies === n && totals.installErrors === 0;
  return `| ${n} + ${n} | ${(stream.length / 2 ** 20).toFixed(1)} MiB | ${(ms / 1000).toFixed(2)} s | ${((1000 * ms) / (2 * n)).toFixed(1)} | ${heapMb.toFixed(0)} MiB${typeof (globalThis as { gc?: unknown }).gc === 'function' ? '' : ' (no --expose-gc)'} | ${ok ? 'yes' : `no: ${totals.installedSas} SAs, ${totals.installedPolicies} policies, ${totals.installErrors} errors`} |`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,30000,60000,100000' } } });
  const sizes = values.sizes.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n % 2 !== 0)) throw new Error('--sizes: even numbers of SAs (as many policies), comma-separated');
  const dir = mkdtempSync(join(tmpdir(), 'xaev-bench-receiver-'));
  try {
    process.stdout.write('| SAs + policies | stream | receiver | us per SA or policy | heap after | all installed |\n| --- | --- | --- | --- | --- | --- |\n');
    for (const n of sizes) process.stdout.write(`${await measure(n, dir)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/replicate-receiver: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
