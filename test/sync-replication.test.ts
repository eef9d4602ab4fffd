// SA and policy replication in the receiver (src/sync/installer.ts, ledger.ts), on a fake
// kernel: what is installed and how, what is never touched, what is refused, what a restart
// remembers, how ownership passes to the IKE daemon, and when installed SAs retire. The same
// on real kernels, with traffic: test/lab-sync-replicate.test.ts.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NetlinkError } from '../src/netlink/errors.js';
import type { AeMessage, AeUpdate, SaKey } from '../src/xfrm/aevent.js';
import type { XfrmClient } from '../src/xfrm/client.js';
import type { NewSaOptions, XfrmSa } from '../src/xfrm/sa-message.js';
import type { PolicyKey, XfrmPolicy } from '../src/xfrm/policy-message.js';
import type { SaEntry } from '../src/xfrm/sa-dump.js';
import { SecretKey } from '../src/xfrm/secret-key.js';
import { RECEIVER_WRITE_PID } from '../src/sync/echo.js';
import { localSaInfo } from '../src/sync/identity.js';
import { Ledger, readLedger } from '../src/sync/ledger.js';
import { SyncReceiver } from '../src/sync/receiver.js';
import { decodeLine } from '../src/sync/stream-decode.js';
import { policyName } from '../src/sync/stream-replica.js';
import { encodeGone, encodeHello, encodePolicy, encodePolicyGone, encodeSnapshotBegin, encodeSnapshotEnd, encodeSnapshotSa } from '../src/sync/stream.js';
import { sampleAe, samplePolicy, sampleSa } from './support/stream-corpus.js';

const ip = (last: number): Buffer => Buffer.from([192, 0, 2, last, ...new Array<number>(12).fill(0)]);

/** The peer's SA `spi` towards 192.0.2.`dst`, as a dump and a GETAE show it. */
function peerSa(spi: number, overrides: Partial<XfrmSa> = {}): { ae: AeMessage; sa: XfrmSa } {
  const sa = sampleSa({ saId: { daddr: ip(2), spi, family: 2, proto: 50 }, ...overrides });
  const ae = sampleAe({
    id: { saId: sa.saId, saddr: sa.saddr, flags: sa.flags, reqid: sa.reqid },
    lifetime: { bytes: 1000n, packets: 10n, addTime: 1700000000n, useTime: 1700000001n },
    mark: sa.mark,
  });
  return { ae, sa };
}

const nameOf = (sa: XfrmSa): string => localSaInfo(sa.saId, sa.mark, false)!.name;

/** A kernel of SAs and policies by name; installs and deletes recorded with their pid and options. */
class FakeKernel {
  readonly sas = new Map<string, { sa: XfrmSa; ae: AeMessage }>();
  readonly policies = new Map<string, XfrmPolicy>();
  readonly installs: { name: string; pid: number; options: NewSaOptions; keyWiped: boolean }[] = [];
  readonly deletes: { name: string; pid: number }[] = [];
  readonly policyWrites: { name: string; pid: number; update: boolean }[] = [];
  readonly policyDeletes: string[] = [];
  /** Refuse NEWSA for these names (e.g. an algorithm this kernel lacks). */
  readonly refuse = new Set<string>();

  local(spi: number): void {
    const { sa, ae } = peerSa(spi);
    this.sas.set(nameOf(sa), { sa, ae });
  }

  asClient(): XfrmClient {
    const entry = ({ sa }: { sa: XfrmSa }): SaEntry => ({
      info: { saId: sa.saId, saddr: sa.saddr, reqid: sa.reqid, mode: sa.mode, replayWindow: 0, flags: sa.flags },
      mark: sa.mark,
      ifId: undefined,
    });
    const byKey = (key: SaKey): string => localSaInfo(key.saId, key.mark, false)!.name;
    return {
      listSas: () => [...this.sas.values()].map(entry),
      getAeMany: (keys: SaKey[]) => keys.map((key) => this.sas.get(byKey(key))?.ae ?? new NetlinkError(3)),
      newAeMany: (writes: { key: SaKey; update: AeUpdate }[]) =>
        writes.map(({ key, update }) => {
          const current = this.sas.get(byKey(key));
          if (!current) return new NetlinkError(3);
          current.ae = { ...current.ae, replay: update.replay ?? current.ae.replay, lifetime: update.lifetime ?? current.ae.lifetime };
          return undefined;
        }),
      addSas: (sas: XfrmSa[], options: NewSaOptions, pid: number) =>
        sas.map((sa) => {
          const name = nameOf(sa);
          if (this.refuse.has(name)) return new NetlinkError(22, 'unknown algorithm');
          if (this.sas.has(name)) return new NetlinkError(17);
          this.installs.push({ name, pid, options, keyWiped: sa.aead?.key.wiped ?? false });
          this.sas.set(name, { sa, ae: sampleAe({ id: { saId: sa.saId, saddr: sa.saddr, flags: sa.flags, reqid: sa.reqid }, mark: sa.mark, lifetime: sa.current }) });
          return undefined;
        }),
      deleteSas: (keys: SaKey[], pid: number) =>
        keys.map((key) => {
          const name = byKey(key);
          if (!this.sas.delete(name)) return new NetlinkError(3);
          this.deletes.push({ name, pid });
          return undefined;
        }),
      dumpPolicies: () => [...this.policies.values()],
      addPolicies: (policies: XfrmPolicy[], options: { update?: boolean }, pid: number) =>
        policies.map((policy) => {
          const name = policyName(policy);
          if (!options.update && this.policies.has(name)) return new NetlinkError(17);
          this.policyWrites.push({ name, pid, update: options.update ?? false });
          this.policies.set(name, policy);
          return undefined;
        }),
      deletePolicies: (keys: PolicyKey[]) =>
        keys.map((key) => {
          const name = policyName({ ...key, mark: key.mark, ifId: key.ifId, type: key.type });
          if (!this.policies.delete(name)) return new NetlinkError(2);
          this.policyDeletes.push(name);
          return undefined;
        }),
    } as unknown as XfrmClient;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function feed(receiver: SyncReceiver, texts: string[]): void {
  for (const text of texts) for (const line of text.trim().split('\n')) receiver.take(decodeLine(line));
}

const hello = encodeHello({ node: 'gw-a', software: 'xaev 0.3.0', hz: 250, rthr: 256, etimeMs: 200, replicate: ['sas', 'policies'], time: 1 });

/** A full snapshot of these SAs (with their configuration) and policies. */
function snapshot(id: number, sas: { ae: AeMessage; sa: XfrmSa }[], policies: XfrmPolicy[] = []): string[] {
  return [
    encodeSnapshotBegin(id, 2),
    ...sas.map(({ ae, sa }) => encodeSnapshotSa(id, ae, 2, sa)),
    ...policies.map((p) => encodePolicy(id, p, 2)),
    encodeSnapshotEnd(id, sas.length, 2, policies.length),
  ];
}

describe('replication: installing the peer\'s SAs and policies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xaev-replication-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let ledgers = 0;
  const receiverOn = (kernel: FakeKernel, ledger = join(dir, `ledger-${++ledgers}.json`), retireAfterMs = 5000): { receiver: SyncReceiver; ledger: string; now: { ms: number } } => {
    const now = { ms: 1_000_000 };
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 10, maxSas: 100, install: { ledger, retireAfterMs }, now: () => now.ms });
    receiver.loadLocalSas();
    return { receiver, ledger, now };
  };

  it('installs what the standby lacks, stamped as the receiver\'s, with the peer\'s add time, and names it in the ledger first', async () => {
    const kernel = new FakeKernel();
    const { receiver, ledger } = receiverOn(kernel);
    const policy = samplePolicy();
    feed(receiver, [hello, ...snapshot(1, [peerSa(0x1000), peerSa(0x1001)], [policy])]);
    await tick();
    assert.deepEqual(
      kernel.installs.map((i) => [i.name, i.pid, i.options.currentLifetime]),
      [
        ['inet 192.0.2.2 0x00001000 esp mark 0x10/0xff', RECEIVER_WRITE_PID, true],
        ['inet 192.0.2.2 0x00001001 esp mark 0x10/0xff', RECEIVER_WRITE_PID, true],
      ],
    );
    const installed = kernel.sas.get('inet 192.0.2.2 0x00001000 esp mark 0x10/0xff')!.sa;
    assert.deepEqual([installed.current.addTime, installed.current.packets, installed.aead?.name, installed.aead?.key.hex()], [1700000000n, 10n, 'rfc4106(gcm(aes))', sampleSa().aead!.key.hex()]);
    assert.deepEqual(kernel.policyWrites, [{ name: policyName(policy), pid: RECEIVER_WRITE_PID, update: false }]);
    const view = readLedger(ledger)!;
    assert.deepEqual([view.role, [...view.sas].sort(), [...view.policies]], ['standby', ['inet 192.0.2.2 0x00001000 esp mark 0x10/0xff', 'inet 192.0.2.2 0x00001001 esp mark 0x10/0xff'], [policyName(policy)]]);
    assert.ok(!readFileSync(ledger, 'utf8').includes(sampleSa().aead!.key.hex()), 'no key in the ledger');
    assert.equal(receiver.totals.installedSas, 2);
    assert.equal(receiver.takeover().ok, true);
    receiver.stop();
  });

  it('never touches a local SA or policy of the same name: a conflict, kept, and kept when the peer deletes it', async () => {
    const kernel = new FakeKernel();
    kernel.local(0x1000);
    const local = samplePolicy({ priority: 1 });
    kernel.policies.set(policyName(local), local);
    const { receiver } = receiverOn(kernel);
    feed(receiver, [hello, ...snapshot(1, [peerSa(0x1000)], [samplePolicy()])]);
    await tick();
    assert.deepEqual([kernel.installs, kernel.policyWrites], [[], []]);
    assert.deepEqual(receiver.store.sas.get('inet 192.0.2.2 0x00001000 esp mark 0x10/0xff')!.install?.state, 'conflict');
    assert.deepEqual(receiver.store.policies.get(policyName(local))!.state, 'conflict');
    feed(receiver, [encodeGone({ family: 'inet', dst: '192.0.2.2', spi: 0x1000, proto: 'esp', mark: { value: 0x10, mask: 0xff } }, 3), encodePolicyGone(samplePolicy(), 3)]);
    await tick();
    assert.deepEqual([kernel.deletes, kernel.policyDeletes, kernel.sas.size, kernel.policies.size], [[], [], 1, 1]);
    receiver.stop();
  });

  it('refuses and counts what must not be installed, and installs the rest', async () => {
    const kernel = new FakeKernel();
    const { receiver } = receiverOn(kernel);
    const wrongLength = peerSa(0x1000, { aead: undefined, crypt: { name: 'cbc(aes)', keyBits: 100, key: SecretKey.copyOf(Buffer.alloc(13, 1)) }, auth: { name: 'hmac(sha256)', keyBits: 256, truncBits: 128, key: SecretKey.copyOf(Buffer.alloc(32, 2)) } });
    const unknown = peerSa(0x1001, { aead: { name: 'rfc4106(gcm(blowfish))', keyBits: 288, icvBits: 128, key: SecretKey.copyOf(Buffer.alloc(36, 3)) } });
    const redacted = peerSa(0x1002, { aead: { name: 'rfc4106(gcm(aes))', keyBits: 288, icvBits: 128, key: SecretKey.copyOf(Buffer.alloc(36, 0)) } });
    feed(receiver, [hello, ...snapshot(1, [wrongLength, unknown, redacted, peerSa(0x1003)], [samplePolicy({ templates: [{ ...samplePolicy().templates[0]!, mode: 9 }] })])]);
    await tick();
    assert.deepEqual(kernel.installs.map((i) => i.name), ['inet 192.0.2.2 0x00001003 esp mark 0x10/0xff']);
    const install = (spi: number): unknown => receiver.store.sas.get(`inet 192.0.2.2 0x0000${spi.toString(16)} esp mark 0x10/0xff`)!.install;
    assert.deepEqual(install(0x1000), { state: 'refused', note: 'not installed: crypt.key: key of 100 bits for cbc(aes), which takes 128, 192 or 256 bits' });
    assert.deepEqual(install(0x1001), { state: 'refused', note: 'not installed: aead.name: unknown aead algorithm "rfc4106(gcm(blowfish))": not one Linux offers for IPsec' });
    assert.equal((install(0x1002) as { state: string }).state, 'redacted');
    assert.equal(receiver.store.policies.get(policyName(samplePolicy()))!.state, 'refused');
    assert.equal(receiver.totals.replicasRefused, 4);
    const verdict = receiver.takeover();
    assert.equal(verdict.ok, false);
    assert.match(verdict.reason!, /^outbound policies missing, so the traffic they cover would leave this node unencrypted: out inet src 10\.1\.0\.0\/16 dst 10\.2\.0\.0\/24; not every synced SA was applied$/);
    receiver.stop();
  });

  it('deletes what it installed when the peer no longer has it (gone, policy-gone, absent from a snapshot), and only that', async () => {
    const kernel = new FakeKernel();
    const { receiver } = receiverOn(kernel);
    const second = samplePolicy({ dir: 0, index: 0x3008 });
    feed(receiver, [hello, ...snapshot(1, [peerSa(0x1000), peerSa(0x1001), peerSa(0x1002)], [samplePolicy(), second])]);
    await tick();
    feed(receiver, [encodeGone({ family: 'inet', dst: '192.0.2.2', spi: 0x1000, proto: 'esp', mark: { value: 0x10, mask: 0xff } }, 3), encodePolicyGone(second, 3)]);
    await tick();
    feed(receiver, snapshot(2, [peerSa(0x1002)], [samplePolicy()]));
    await tick();
    assert.deepEqual(kernel.deletes, [
      { name: 'inet 192.0.2.2 0x00001000 esp mark 0x10/0xff', pid: RECEIVER_WRITE_PID },
      { name: 'inet 192.0.2.2 0x00001001 esp mark 0x10/0xff', pid: RECEIVER_WRITE_PID },
    ]);
    assert.deepEqual(kernel.policyDeletes, [policyName(second)]);
    assert.deepEqual([...kernel.sas.keys()], ['inet 192.0.2.2 0x00001002 esp mark 0x10/0xff']);
    receiver.stop();
  });

  it('a restarted receiver neither installs twice nor leaves behind: the ledger says what is its own', async () => {
    const kernel = new FakeKernel();
    kernel.local(0x2000); // the IKE daemon's own
    const first = receiverOn(kernel);
    feed(first.receiver, [hello, ...snapshot(1, [peerSa(0x1000), peerSa(0x1001)], [samplePolicy()])]);
    await tick();
    first.receiver.stop(); // as after SIGKILL: nothing is cleaned up
    kernel.installs.length = 0;
    const second = receiverOn(kernel, first.ledger);
    feed(second.receiver, [hello, ...snapshot(1, [peerSa(0x1001), peerSa(0x2000)], [samplePolicy()])]);
    await tick();
    assert.deepEqual(kernel.installs, []);
    assert.deepEqual(kernel.deletes.map((d) => d.name), ['inet 192.0.2.2 0x00001000 esp mark 0x10/0xff']);
    assert.deepEqual([...kernel.sas.keys()].sort(), ['inet 192.0.2.2 0x00001001 esp mark 0x10/0xff', 'inet 192.0.2.2 0x00002000 esp mark 0x10/0xff']);
    assert.equal(second.receiver.store.sas.get('inet 192.0.2.2 0x00002000 esp mark 0x10/0xff')!.install?.state, 'conflict');
    assert.deepEqual([...readLedger(first.ledger)!.sas], ['inet 192.0.2.2 0x00001001 esp mark 0x10/0xff']);
    second.receiver.stop();
  });

  it('an SA or policy of its own that the IKE daemon replaces becomes the daemon\'s: never deleted by the receiver', async () => {
    const kernel = new FakeKernel();
    const { receiver, ledger } = receiverOn(kernel);
    const policy = samplePolicy();
    feed(receiver, [hello, ...snapshot(1, [peerSa(0x1000)], [policy])]);
    await tick();
    // charon's UPDPOLICY over ours (strongSwan retries a refused NEWPOLICY so): another pid.
    const daemons = samplePolicy({ priority: 2 });
    kernel.policies.set(policyName(daemons), daemons);
    receiver.onLocalPolicy({ change: 'update', policy: daemons, pid: 4242 });
    await tick();
    assert.deepEqual([...readLedger(ledger)!.policies], []);
    feed(receiver, [encodePolicyGone(policy, 3)]);
    await tick();
    assert.deepEqual(kernel.policyDeletes, []);
    assert.equal(kernel.policies.get(policyName(policy))!.priority, 2);
    receiver.stop();
  });

  it('after a takeover, retires an installed SA once the IKE daemon has its own for that peer and it carried nothing for --retire-after', async () => {
    const kernel = new FakeKernel();
    const { receiver, now } = receiverOn(kernel, undefined, 3000);
    feed(receiver, [hello, ...snapshot(1, [peerSa(0x1000)])]);
    await tick();
    const ours = kernel.sas.get('inet 192.0.2.2 0x00001000 esp mark 0x10/0xff')!;
    assert.equal(receiver.takeover().ok, true);
    const retire = (): void => (receiver as unknown as { installer: { retire(now: number): void } }).installer.retire(now.ms);
    const carry = (packets: bigint): void => {
      ours.ae = { ...ours.ae, lifetime: { ...ours.ae.lifetime!, packets } };
    };
    retire(); // first look: its packet count
    now.ms += 10_000;
    retire();
    assert.deepEqual(kernel.deletes, [], 'no SA of the daemon for that peer yet: kept however idle');
    // The daemon's own SA for the same peer and direction (another SPI) appears.
    const daemon = peerSa(0x2000);
    kernel.sas.set(nameOf(daemon.sa), daemon);
    receiver.onLocalSa({ change: 'new', saId: daemon.sa.saId, mark: daemon.sa.mark, esn: true, sa: daemon.sa, pid: 4242 });
    carry(20n);
    now.ms += 2000;
    retire();
    now.ms += 2000;
    retire();
    assert.deepEqual(kernel.deletes, [], 'it carried packets 2 s ago: kept');
    now.ms += 1000;
    retire();
    assert.deepEqual(kernel.deletes, [{ name: 'inet 192.0.2.2 0x00001000 esp mark 0x10/0xff', pid: RECEIVER_WRITE_PID }]);
    assert.equal(receiver.totals.retiredSas, 1);
    // Back to standby: the retired SA is not installed again from what the peer said before
    // the takeover, only once the peer sends it anew.
    kernel.installs.length = 0;
    receiver.release();
    await tick();
    assert.equal(kernel.installs.length, 0);
    feed(receiver, snapshot(2, [peerSa(0x1000)]));
    await tick();
    assert.deepEqual(kernel.installs.map((i) => i.name), ['inet 192.0.2.2 0x00001000 esp mark 0x10/0xff']);
    receiver.stop();
  });

  it('installs an SA whose record has no counters without the peer\'s add time (0 would expire it at once under an add-time limit)', async () => {
    const kernel = new FakeKernel();
    const { receiver } = receiverOn(kernel);
    const bare = peerSa(0x1001);
    feed(receiver, [hello, ...snapshot(1, [peerSa(0x1000), { ...bare, ae: { ...bare.ae, lifetime: undefined } }])]);
    await tick();
    assert.deepEqual(
      kernel.installs.map((i) => [i.name, i.options.currentLifetime ?? false]),
      [
        ['inet 192.0.2.2 0x00001000 esp mark 0x10/0xff', true],
        ['inet 192.0.2.2 0x00001001 esp mark 0x10/0xff', false],
      ],
    );
    receiver.stop();
  });

  it('a snapshot past --max-sas sweeps nothing: the ledger\'s SAs missing from the store may be among those it could not track', async () => {
    const kernel = new FakeKernel();
    const first = receiverOn(kernel);
    feed(first.receiver, [hello, ...snapshot(1, [peerSa(0x1000), peerSa(0x1001), peerSa(0x1002)])]);
    await tick();
    first.receiver.stop();
    const second = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 10, maxSas: 2, install: { ledger: first.ledger, retireAfterMs: 5000 } });
    second.loadLocalSas();
    feed(second, [hello, ...snapshot(1, [peerSa(0x1000), peerSa(0x1001), peerSa(0x1002)])]);
    await tick();
    assert.deepEqual([kernel.deletes, kernel.sas.size], [[], 3]);
    second.stop();
  });

  it('a ledger it cannot write: nothing is installed, and the names leave the ledger again', async () => {
    const kernel = new FakeKernel();
    const errors: string[] = [];
    // The ledger's directory cannot be made: a regular file has its name.
    const blocker = join(dir, 'not-a-directory');
    appendFileSync(blocker, '');
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 10, maxSas: 100, install: { ledger: join(blocker, 'ledger.json'), retireAfterMs: 5000 }, onError: (m) => errors.push(m) });
    receiver.loadLocalSas();
    feed(receiver, [hello, ...snapshot(1, [peerSa(0x1000)])]);
    await tick();
    assert.deepEqual(kernel.installs, []);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^installing replicated SAs and policies failed: EEXIST: file already exists, mkdir /);
    const ledger = (receiver as unknown as { installer: { ledger: Ledger } }).installer.ledger;
    assert.deepEqual([...ledger.sas], []);
    receiver.stop();
  });

  it('without --install holds no key and installs nothing, and says so once', async () => {
    const kernel = new FakeKernel();
    const notices: string[] = [];
    const receiver = new SyncReceiver(kernel.asClient(), { mode: 'live', margin: 10, maxSas: 100, onNotice: (message) => notices.push(message) });
    receiver.loadLocalSas();
    const records = [hello, ...snapshot(1, [peerSa(0x1000), peerSa(0x1001)], [samplePolicy()])].flatMap((text) => text.trim().split('\n')).map((line) => decodeLine(line));
    for (const record of records) receiver.take(record);
    await tick();
    assert.deepEqual([kernel.installs, kernel.policyWrites, receiver.store.policies.size], [[], [], 0]);
    assert.equal(receiver.store.sas.get('inet 192.0.2.2 0x00001000 esp mark 0x10/0xff')!.replica, undefined);
    const keys = records.flatMap((r) => (r.type === 'sa' && r.replica && 'config' in r.replica ? [r.replica.config.aead!.key] : []));
    assert.deepEqual(keys.map((key) => key.wiped), [true, true]);
    assert.deepEqual(notices, ['the peer replicates its SAs and policies; this receiver runs without --install, so it installs none and syncs counters only']);
    receiver.stop();
  });
});

describe('replication: the ledger is a journal (a flush writes what changed, not the whole ledger)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xaev-ledger-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n');
  const view = (path: string): [string, string[], string[]] | undefined => {
    const v = readLedger(path);
    return v && [v.role, [...v.sas].sort(), [...v.policies].sort()];
  };

  it('rewrites the file at its first flush, then appends one line per change', () => {
    const path = join(dir, `ledger-${++files}.json`);
    const ledger = new Ledger(path);
    ledger.addSa('sa-a');
    ledger.addPolicy('policy-p');
    ledger.flush();
    const first = '{"version":1,"role":"standby","sas":["sa-a"],"policies":["policy-p"]}';
    assert.deepEqual(lines(path), [first, '']);
    ledger.addSa('sa-b');
    ledger.removeSa('sa-a');
    ledger.setRole('active');
    ledger.flush();
    assert.deepEqual(lines(path), [first, '["add","sa","sa-b"]', '["remove","sa","sa-a"]', '["role","active"]', '']);
    assert.deepEqual(view(path), ['active', ['sa-b'], ['policy-p']]);
  });

  it('drops a last line without its newline (a write cut short), and a new receiver rewrites the file before appending', () => {
    const path = join(dir, `ledger-${++files}.json`);
    const first = new Ledger(path);
    first.addSa('sa-a');
    first.flush();
    first.addSa('sa-b');
    first.flush();
    // Cut just before its newline: the line parses, but its change was never made.
    appendFileSync(path, '["add","sa","sa-c"]');
    assert.deepEqual(view(path), ['standby', ['sa-a', 'sa-b'], []]);
    const second = new Ledger(path);
    second.load();
    second.addSa('sa-d');
    second.flush();
    assert.deepEqual(lines(path), ['{"version":1,"role":"standby","sas":["sa-a","sa-b","sa-d"],"policies":[]}', '']);
    second.removeSa('sa-a');
    second.flush();
    assert.deepEqual(view(path), ['standby', ['sa-b', 'sa-d'], []]);
  });

  it('rewrites the file when the changes outnumber the names (and 1,024), so it stays within twice the ledger', () => {
    const path = join(dir, `ledger-${++files}.json`);
    const ledger = new Ledger(path);
    ledger.addSa('kept');
    ledger.flush();
    let longest = 0;
    for (let i = 0; i < 3000; i++) {
      ledger.addSa(`sa-${i}`);
      ledger.flush();
      ledger.removeSa(`sa-${i}`);
      ledger.flush();
      longest = Math.max(longest, lines(path).length - 2);
    }
    assert.equal(longest, 1024);
    assert.deepEqual(view(path), ['standby', ['kept'], []]);
  });

  it('rewrites a file someone removed instead of appending to nothing', () => {
    const path = join(dir, `ledger-${++files}.json`);
    const ledger = new Ledger(path);
    ledger.addSa('sa-a');
    ledger.flush();
    rmSync(path);
    ledger.addSa('sa-b');
    ledger.flush();
    assert.deepEqual(lines(path), ['{"version":1,"role":"standby","sas":["sa-a","sa-b"],"policies":[]}', '']);
  });
});
