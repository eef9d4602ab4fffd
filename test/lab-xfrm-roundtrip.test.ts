// The full SA and policy codecs against real kernels (test/lab/xfrm-roundtrip.sh): SAs and
// policies made by `ip`, dumped with xaev's decoders, deleted, installed again with xaev's
// encoders, must read back exactly as before in `ip -s xfrm state` and `ip -s xfrm policy`
// (keys included); and every SA and policy message of the run prints the same with
// `xaev monitor --file` as with `ip xfrm monitor file`.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bootOnce, describeOnLabKernels } from './lab/lab.js';

/** `ip -s xfrm policy` prints each policy's add time; a reinstalled policy is added anew. */
function withoutPolicyAddTimes(text: string): string {
  return text.replace(/^(\t {2}add )\S+ \S+( use .*)$/gm, '$1<time>$2');
}

/** The blocks of `ip xfrm state` / `policy` output (each starts at a line without indent), sorted. */
function blocks(text: string): string[] {
  return text
    .split(/\n(?=\S)/)
    .map((block) => block.trimEnd())
    .filter(Boolean)
    .sort();
}

describeOnLabKernels('kernel lab: SA and policy codecs round-trip', { timeout: 300_000 }, (kernel) => {
  const { file } = bootOnce(kernel, 'xfrm-roundtrip.sh', { timeoutMs: 240_000 });

  it('ip made every SA and policy of the scenario', () => {
    assert.equal(file('add.log'), '');
    assert.equal(file('add.status').trim(), '0');
  });

  it('xaev decoded, deleted and reinstalled every SA and policy without a problem or a refusal', () => {
    assert.equal(file('reinstall.status').trim(), '0', file('reinstall.log'));
    const report = JSON.parse(file('reinstall.json')) as { sas: number; policies: number; redacted: number; leftAfterDelete: object; problems: unknown[]; refusals: string[] };
    assert.deepEqual(
      { sas: report.sas, policies: report.policies, redacted: report.redacted, left: report.leftAfterDelete, problems: report.problems, refusals: report.refusals },
      { sas: 14, policies: 6, redacted: 0, left: { sas: 0, policies: 0 }, problems: [], refusals: [] },
    );
  });

  it('ip -s xfrm state reads the same before and after, keys, lifetimes and counters included', () => {
    const before = file('before-state.txt');
    assert.match(before, /aead rfc4106\(gcm\(aes\)\) 0x00112233445566778899aabbccddeeff01020304 128/);
    assert.equal(file('after-state.txt'), before);
  });

  it('ip -s xfrm policy reads the same before and after but for the add times', () => {
    const before = withoutPolicyAddTimes(file('before-policy.txt'));
    assert.match(before, /index 521 /);
    assert.deepEqual(blocks(withoutPolicyAddTimes(file('after-policy.txt'))), blocks(before));
  });

  it('no key reaches the JSON of a decoded SA: each shows as <redacted N bytes>', () => {
    const report = file('reinstall.json');
    assert.match(report, /"key": "<redacted 20 bytes>"/);
    assert.doesNotMatch(report, /00112233445566778899aabbccddeeff/);
    assert.doesNotMatch(report, /"data": \[\s*0,\s*17,\s*34/);
  });

  it('xaev monitor --file prints every captured message exactly as ip xfrm monitor file', () => {
    assert.equal(file('capture.status').trim(), '0', file('capture.log'));
    assert.equal(file('xaev-monitor.err'), '');
    assert.equal(file('xaev-monitor.status').trim(), '0');
    const ip = file('ip-monitor.txt');
    for (const expected of [/^Updated src/m, /^Deleted src/m, /^Expired src/m, /^acquire proto esp/m, /^Flushed state proto ah$/m, /^Flushed policy/m, /^\thard 1$/m]) {
      assert.match(ip, expected);
    }
    assert.equal(file('xaev-monitor.txt'), ip);
  });
});
