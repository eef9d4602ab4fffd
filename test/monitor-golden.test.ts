import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FIXTURES } from './support/paths.js';
import { runXaev } from './support/run.js';

// fixtures/*.bin are NEWAE (and other XFRM) messages; *.expected.txt is what
// `ip xfrm monitor file X.bin` (iproute2 6.1) printed for them. xfrm.bin holds SA, policy,
// expire, acquire, flush, report and default-policy messages (test/support/make-xfrm-fixture.ts).
describe('monitor text is byte-identical to ip xfrm monitor', () => {
  for (const name of ['ae', 'misc', 'xfrm']) {
    it(`fixtures/${name}.bin`, () => {
      const result = runXaev(['monitor', '--file', `${FIXTURES}${name}.bin`]);
      assert.equal(result.stderr, '');
      assert.equal(result.status, 0);
      assert.equal(result.stdout, readFileSync(`${FIXTURES}${name}.expected.txt`, 'utf8'));
    });
  }

  it('--json gives one object per event with exact counters', () => {
    const result = runXaev(['-j', 'monitor', '--file', `${FIXTURES}ae.bin`]);
    assert.equal(result.status, 0);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 7);
    assert.equal(
      lines[0],
      '{"event":"timer","flags":32,"src":"10.0.0.1","dst":"10.0.0.2","family":"inet","proto":"esp","spi":4660,"reqid":1,"mark":null,"ifId":null,' +
        '"replay":{"kind":"legacy","seq":5,"oseq":7,"bitmap":31},"lifetime":{"bytes":1000,"packets":10,"addTime":1700000000,"useTime":1700000100}}',
    );
    assert.deepEqual(
      lines.map((line) => {
        const event = JSON.parse(line) as { event: string; flags: number; family: string; proto: string | number };
        return [event.event, event.flags, event.family, event.proto];
      }),
      [
        ['timer', 32, 'inet', 'esp'],
        ['replay', 16, 'inet', 'esp'],
        ['update', 64, 'inet', 'ah'],
        ['unknown', 0, 'inet', 'comp'],
        ['replay', 127, 'inet', 'esp'],
        ['unknown', 12, 'inet6', 'esp'],
        ['timer', 32, 'inet', 200],
      ],
    );
  });

  it('--json prints aevents only: SA and policy messages are text-only', () => {
    const result = runXaev(['-j', 'monitor', '--file', `${FIXTURES}xfrm.bin`]);
    assert.deepEqual([result.status, result.stdout, result.stderr], [0, '', '']);
  });

  it('a filter keeps the SA messages of its SPI and drops policies, which name no SA', () => {
    const result = runXaev(['monitor', '--file', `${FIXTURES}xfrm.bin`, '--spi', '0x1008']);
    assert.equal(
      result.stdout,
      'src 192.0.2.1 dst 192.0.2.2\n\tproto comp spi 0x00001008 reqid 8 mode tunnel\n\treplay-window 0 \n\tcomp deflate \n',
    );
  });

  it('filters and --count', () => {
    const bySpi = runXaev(['monitor', '--file', `${FIXTURES}ae.bin`, '--spi', '0xdeadbeef']);
    assert.equal(bySpi.stdout, 'Async event  (0xc) \n\tsrc 2001:db8::1 dst 2001:db8::2  reqid 0x2a protocol esp  SPI 0xdeadbeef\n');
    const byProto = runXaev(['monitor', '--file', `${FIXTURES}ae.bin`, '--proto', 'ah', '--details']);
    assert.equal(
      byProto.stdout,
      'Async event  (0x40)  policy updated \n\tsrc 10.0.0.1 dst 10.0.0.2  reqid 0x0 protocol ah  SPI 0x1\n' +
        '\tanti-replay context: seq 0x5, oseq 0x7, bitmap 0x0000001f\n\tlifetime current:\n\t  1000(bytes), 10(packets)\n' +
        `\t  add ${localTime(1700000000)} use ${localTime(1700000100)}\n`,
    );
    const counted = runXaev(['monitor', '--file', `${FIXTURES}ae.bin`, '--count', '2', '--dst', '10.0.0.2']);
    assert.equal(counted.stdout.split('\n').length - 1, 4);
  });
});

function localTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
