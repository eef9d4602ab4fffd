// `xaev set` checks its command line before any kernel request (a bad one exits 2 whether or
// not the SA exists), and says nothing about thresholds of 0 the kernel did not take. Host
// kernel, larval SAs in a throwaway namespace.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hostKernelSkipReason, ip, makeNetns, type Netns } from './support/host.js';
import { runXaev } from './support/run.js';

const skipHost = hostKernelSkipReason();

describe('host kernel: set checks its options before any request', { skip: skipHost }, () => {
  let a: Netns;

  before(() => {
    a = makeNetns('xaev-set');
    ip('netns', 'exec', a.name, 'sysctl', '-q', '-w', 'net.core.xfrm_aevent_rseqth=11', 'net.core.xfrm_aevent_etime=3');
    ip('-n', a.name, 'xfrm', 'state', 'allocspi', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'reqid', '1', 'min', '0x5000', 'max', '0x5000');
  });
  after(() => a?.remove());

  it('set --etime out of range exits 2 whether or not the SA exists', () => {
    const expected = 'xaev: --etime: 4294967295 ms is more than the 429496729 ms the kernel can report back at HZ=1000\n';
    for (const spi of ['0x7777', '0x5000']) {
      const result = runXaev(['-n', a.name, 'set', spi, '--etime', '4294967295', '--hz', '1000']);
      assert.deepEqual([result.status, result.stdout, result.stderr], [2, '', expected], spi);
    }
    const [missing, present] = ['0x7777', '0x5000'].map((spi) => runXaev(['-n', a.name, 'set', spi, '--etime', '4294967295']));
    assert.deepEqual([missing!.status, present!.status], [2, 2]);
    assert.equal(missing!.stderr, present!.stderr);
  });

  it('--bitmap syntax is checked before any request; a good one reaches the kernel', () => {
    for (const [bitmap, message] of [
      ['1,,2', 'xaev: --bitmap: word 1 is empty (give words like 0xffffffff,0x0, or all, or none)\n'],
      ['0x1ffffffff', 'xaev: --bitmap word 0: 0x1ffffffff is out of range (0 to 4294967295)\n'],
      ['ones', 'xaev: --bitmap word 0: "ones" is not a number (use decimal, or hex with 0x)\n'],
    ]) {
      const result = runXaev(['-n', a.name, 'set', '0x7777', '--bitmap', bitmap!]);
      assert.deepEqual([result.status, result.stderr], [2, message], bitmap);
    }
    assert.deepEqual(runXaev(['-n', a.name, 'set', '0x7777', '--bitmap', 'all']).stderr, 'xaev: no SA with SPI 0x7777\n');
  });

  it('no --etime 0 / --rthr 0 warning when the kernel refuses the write', () => {
    const result = runXaev(['-n', a.name, 'set', '0x5000', '--etime', '0', '--rthr', '0', '--hz', '100']);
    assert.deepEqual([result.status, result.stderr], [1, 'xaev: the kernel refused the request: SA must be in VALID state (EINVAL)\n']);
  });
});
