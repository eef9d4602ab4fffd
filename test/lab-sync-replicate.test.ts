import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootOnce, describeOnLabKernels } from './lab/lab.js';

// SA and policy replication on every lab kernel (issue 19's first proof; docs/sync.md
// "Replicating SAs and policies"): test/lab/sync-replicate.sh. An active A whose SAs and
// policies were made by `ip xfrm` (tunnel and transport, AEAD and cbc(aes)+hmac, legacy and
// ESN, NAT-T, a mark, an if_id, time limits), a standby S with none of them but one SA and
// one policy of its own that conflict with A's, and a peer P. Then, booted with
// lockdown=confidentiality: test/lab/sync-lockdown.sh.

/** `ip -s xfrm state` (or `ip xfrm policy`) as blocks, one per SA or policy, each a list of lines. */
function blocks(text: string): string[][] {
  const out: string[][] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (!/^\s/.test(line)) out.push([line.trimEnd()]);
    else out.at(-1)?.push(line.trimEnd());
  }
  return out;
}

/**
 * An SA as both nodes must show it: everything `ip -s xfrm state` prints (keys, selector,
 * limits, add time) but the counters, which sync moves on with a margin, and the use time.
 */
function saText(block: string[]): string {
  return block
    .filter((line) => !/^\s*(anti-replay|seq-hi|replay_window|stats:|replay-window \d+ replay \d+ failed \d+|lastused)/.test(line))
    .filter((line) => !/^\s+\d+\(bytes\), \d+\(packets\)$/.test(line) && !/^\s+([0-9a-f]{8} ?)+$/.test(line))
    .map((line) => line.replace(/^(\s+add \S+ \S+) use .*$/, '$1'))
    .join('\n');
}

const sorted = (items: string[]): string[] => [...items].sort();
const states = (text: string): string[] => sorted(blocks(text).map(saText));
const policies = (text: string): string[] => sorted(blocks(text).map((b) => b.join('\n')));
const spiOf = (block: string): string => /spi (0x[0-9a-f]+)/.exec(block)?.[1] ?? '?';
const counted = (text: string): number => Number(/received=(\d+)/.exec(text)?.[1] ?? -1);
const stat = (text: string, name: string): number => Number(new RegExp(`^${name}\\s+(\\d+)$`, 'm').exec(text)?.[1] ?? -1);

describeOnLabKernels('kernel lab: SAs and policies replicated to a standby that has none', { timeout: 300_000 }, (kernel) => {
  const { file } = bootOnce(kernel, 'sync-replicate.sh', { timeoutMs: 240_000 });
  /**
   * What S must hold at a phase: A's SAs and policies, except the two of A's that conflict
   * with S's own SA (SPI 0x2004) and policy (pair 4's inbound), which S keeps instead.
   */
  const expectS = (phase: string): { sas: string[]; policies: string[] } => {
    const ownPolicy = blocks(file('S-own-policy.txt')).map((b) => b.join('\n'));
    const ownSa = states(file(`${phase}-S-state.txt`)).find((b) => spiOf(b) === '0x00002004')!;
    const sas = states(file(`${phase}-A-state.txt`)).filter((b) => spiOf(b) !== '0x00002004');
    const conflicting = (p: string): boolean => p.includes('dport 5004') && p.includes('dir in');
    return {
      sas: sorted([...sas, ownSa]),
      policies: sorted([...policies(file(`${phase}-A-policy.txt`)).filter((p) => !conflicting(p)), ...ownPolicy]),
    };
  };

  it('after the snapshot S shows A\'s SAs (keys, selectors, limits, add times) and policies, its own conflicting ones kept', () => {
    const expected = expectS('snapshot');
    assert.deepEqual(states(file('snapshot-S-state.txt')), expected.sas);
    assert.deepEqual(policies(file('snapshot-S-policy.txt')), expected.policies);
    assert.equal(states(file('snapshot-S-state.txt')).length, 10);
    // S's own SA still has its own key and reqid 44; the replicated one next to it has A's.
    const own = states(file('snapshot-S-state.txt')).find((b) => spiOf(b) === '0x00002004')!;
    assert.match(own, /reqid 44\(0x0000002c\)/);
    assert.match(own, /0x0101010101010101010101010101010101010101010101010101010101010101c0ffee00/);
  });

  it('policies keep their index where it is free on S (net/xfrm/xfrm_policy.c: xfrm_gen_index())', () => {
    const indexes = (text: string): string[] => sorted(blocks(text).map((b) => `${b[0]} ${/dir \S+/.exec(b[1] ?? '')?.[0]} ${/index \d+/.exec(b.join(' '))?.[0]}`));
    const fromA = indexes(file('snapshot-A-policy-s.txt')).filter((p) => !(p.includes('dport 5004') && p.includes('dir in')));
    const onS = indexes(file('snapshot-S-policy-s.txt')).filter((p) => !(p.includes('dport 5004') && p.includes('dir in')));
    assert.equal(fromA.length, 8);
    // A's inbound 5001 policy has index 8, which S's own policy took first: the kernel gave the
    // replica the next index of the same direction (16 & 7 = 0, inbound); the others are A's.
    const taken = 'src 10.1.0.1/32 dst 10.2.0.1/32 proto udp dport 5001 uid 0 dir in index';
    assert.ok(indexes(file('snapshot-S-policy-s.txt')).includes('src 192.0.2.1/32 dst 192.0.2.10/32 proto udp dport 5004 uid 0 dir in index 8'));
    assert.deepEqual(onS, fromA.map((p) => (p === `${taken} 8` ? `${taken} 16` : p)));
  });

  it('status reports each SA and policy: installed, or the conflict kept', () => {
    const status = JSON.parse(file('snapshot-status.json')) as {
      sas: { sa: string; install: { state: string } | null }[];
      policies: { policy: string; state: string }[];
      totals: { installedSas: number; installedPolicies: number; replicasRefused: number; installErrors: number };
    };
    const installs = Object.fromEntries(status.sas.map((s) => [s.sa, s.install?.state]));
    assert.equal(installs['inet 192.0.2.10 0x00002004 esp mark 0x5/0xff'], 'conflict');
    assert.deepEqual(Object.values(installs).filter((s) => s === 'installed').length, 9);
    assert.deepEqual(sorted(status.policies.map((p) => p.state)), [...new Array<string>(1).fill('conflict'), ...new Array<string>(8).fill('installed')]);
    const { installedSas, installedPolicies, replicasRefused, installErrors } = status.totals;
    assert.deepEqual({ installedSas, installedPolicies, replicasRefused, installErrors }, { installedSas: 9, installedPolicies: 8, replicasRefused: 0, installErrors: 0 });
  });

  it("S's own sender, while S is the standby, sends only S's own SA and policy, none of those its receiver installed", () => {
    const records = file('S-send.ndjson').trim().split('\n').map((line) => JSON.parse(line) as { type: string; spi?: number; reqid?: number; dir?: string; priority?: number });
    assert.deepEqual(records.filter((r) => r.type === 'sa').map((r) => [r.spi, r.reqid]), [[0x2004, 44]]);
    assert.deepEqual(records.filter((r) => r.type === 'policy').map((r) => [r.dir, r.priority]), [['in', 7]]);
    assert.equal(file('S-send.status').trim(), '0');
  });

  it('a rekey on A (new SAs, then the old deleted) and a delete are followed on S', () => {
    const spis = sorted(states(file('rekey-S-state.txt')).map(spiOf));
    assert.deepEqual(spis, ['0x00001001', '0x00001003', '0x00001004', '0x00001012', '0x00002001', '0x00002003', '0x00002004', '0x00002012']);
    assert.deepEqual(states(file('rekey-S-state.txt')), expectS('rekey').sas);
    assert.deepEqual(policies(file('rekey-S-policy.txt')), expectS('rekey').policies);
    assert.ok(!file('rekey-S-policy.txt').includes('dport 5005'));
  });

  it('a receiver killed with SIGKILL and restarted leaves S with exactly A\'s table: no duplicate, no orphan', () => {
    // The ledger the killed receiver left still named pair 3, which A deleted meanwhile.
    assert.match(file('ledger-2.json'), /0x00001003/);
    assert.deepEqual(states(file('restart-S-state.txt')), expectS('restart').sas);
    assert.deepEqual(policies(file('restart-S-policy.txt')), expectS('restart').policies);
    assert.ok(!file('restart-S-state.txt').includes('spi 0x00001003'));
  });

  it('takeover completes (exit 0), reporting the conflicts it kept', () => {
    assert.equal(file('takeover.status').trim(), '0', file('takeover.err'));
    assert.match(file('takeover.txt'), /\[conflict\]/);
    assert.match(file('takeover.txt'), /^conflict policy in inet src 192\.0\.2\.1\/32 dst 192\.0\.2\.10\/32 proto 17 dport 5004\/0xffff mark 0x5\/0xff: /m);
    // Every SA was synced before: `current`, or `applied` where the adaptive margin of an
    // outbound SA that had traffic grew between its last update and the takeover (it grows
    // with the time since the peer was last heard; docs/sync.md, the margin).
    const summary = /^takeover complete: (\d+) current(?:, (\d+) applied)?; policies: 1 conflict, 6 installed in \d+ ms$/m.exec(file('takeover.txt'));
    assert.ok(summary, file('takeover.txt'));
    assert.equal(Number(summary[1]) + Number(summary[2] ?? 0), 6);
    for (const line of file('takeover.txt').split('\n').filter((l) => l.startsWith('applied '))) assert.match(line, / esp (out|mark 0x5\/0xff both) margin \d+/);
  });

  it('after the failover S carries P\'s traffic both ways on A\'s SAs, with no replay drop on either side', () => {
    for (const name of ['A-recv-5001.txt', 'A-recv-5002.txt', 'P-recv-5001-1.txt', 'P-recv-5002-1.txt']) assert.equal(counted(file(name)), 100, `${name}: ${file(name)}`);
    for (const name of ['S-recv-5001.txt', 'S-recv-5002.txt', 'P-recv-5001-2.txt', 'P-recv-5002-2.txt']) assert.equal(counted(file(name)), 100, `${name}: ${file(name)}`);
    for (const [node, text] of [['P', file('P-xfrm_stat-after.txt')], ['S', file('S-xfrm_stat-after.txt')]] as const) {
      assert.deepEqual([node, stat(text, 'XfrmInStateSeqError'), stat(text, 'XfrmInNoStates'), stat(text, 'XfrmInTmplMismatch')], [node, 0, 0, 0]);
    }
  });
});

describeOnLabKernels('kernel lab: replication from a kernel locked down (confidentiality)', { timeout: 180_000 }, (kernel) => {
  const { file } = bootOnce(kernel, 'sync-lockdown.sh', { timeoutMs: 120_000, cmdline: ['lockdown=confidentiality'] });
  const status = (): { sas: { sa: string; install: { state: string; note: string | null } | null; synced: { seq: number; oseq: number }; local: { seq: number; oseq: number } }[]; policies: { state: string }[] } =>
    JSON.parse(file('status.json'));

  describe(kernel.lockdown ? 'the lockdown LSM is built in: keys read as zeros' : 'no lockdown LSM: the parameter changes nothing', () => {
    it('the kernel says whether it locked itself down', () => {
      assert.equal(/locked down from command line/.test(file('lockdown.txt')), kernel.lockdown, file('lockdown.txt'));
    });

    it(kernel.lockdown ? 'the sender replicates no SA (all reported redacted, said once) and S installs nothing' : 'the same SAs on both nodes are conflicts, kept', () => {
      const installs = status().sas.map((s) => [s.sa, s.install?.state, s.install?.note]);
      if (kernel.lockdown) {
        const note = 'not replicated by the peer: the kernel redacted its keys (lockdown in confidentiality mode)';
        assert.deepEqual(sorted(installs.map((i) => JSON.stringify(i))), sorted([
          JSON.stringify(['inet 192.0.2.1 0x00001001 esp', 'redacted', note]),
          JSON.stringify(['inet 192.0.2.2 0x00001000 esp', 'redacted', note]),
        ]));
        assert.equal(file('receive.err').match(/SAs are not replicated: the kernel redacted its keys/g)?.length, 1, file('receive.err'));
      } else {
        assert.deepEqual(installs.map((i) => i[1]), ['conflict', 'conflict']);
      }
      assert.deepEqual(states(file('standby-after.txt')), states(file('standby-before.txt')));
      assert.deepEqual(status().policies.map((p) => p.state), ['present', 'present']);
    });

    it('counters are still synced: the standby\'s inbound windows are the active\'s', () => {
      const list = (name: string): { spi: number; replay: { seq: number; oseq: number } }[] => JSON.parse(file(name));
      const right = list('right-list.json');
      const standby = list('standby-list.json');
      assert.equal(right.find((s) => s.spi === 0x1000)!.replay.seq, 50);
      assert.equal(standby.find((s) => s.spi === 0x1000)!.replay.seq, 50);
      assert.equal(right.find((s) => s.spi === 0x1001)!.replay.oseq, 40);
      assert.ok(standby.find((s) => s.spi === 0x1001)!.replay.oseq >= 40 + 128);
      assert.equal(file('receive.status').trim(), '0');
    });
  });
});
