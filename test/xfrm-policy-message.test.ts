// The policy codec (src/xfrm/policy-message.ts), the other notifications
// (src/xfrm/notifications.ts) and the checks before installing (src/xfrm/validate.ts), on
// bytes iproute2 wrote (test/fixtures/ip-requests.json) and bytes the kernel sent
// (test/fixtures/xfrm-acquire.bin), and a GETPOLICY dump of the host kernel.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseAttributes } from '../src/netlink/attributes.js';
import { DecodeError } from '../src/netlink/errors.js';
import { parseMessages, type NetlinkMessage } from '../src/netlink/message.js';
import { AF_INET, XFRM_MSG_DELPOLICY, XFRM_MSG_NEWPOLICY, XFRM_MSG_POLEXPIRE, XFRM_MSG_UPDPOLICY } from '../src/xfrm/constants.js';
import { decodeAcquire, decodePolicyDefaults, decodePolicyFlush, decodeSaFlush } from '../src/xfrm/notifications.js';
import { createPolicy, decodePolicyMessage, encodeDelPolicy, encodeNewPolicy, encodePolicyDump, isSocketPolicy, policyKeyOf, type XfrmPolicy } from '../src/xfrm/policy-message.js';
import { policyProblems } from '../src/xfrm/validate.js';
import { hostKernelSkipReason, ip, makeNetns } from './support/host.js';
import { FIXTURES, REPO_ROOT } from './support/paths.js';

interface IpRequest {
  command: string;
  payload: string;
}

const policyRequests = (JSON.parse(readFileSync(`${FIXTURES}ip-requests.json`, 'utf8')) as IpRequest[]).filter((request) => request.command.startsWith('ip xfrm policy'));
const asMessage = (type: number, payload: Buffer): NetlinkMessage => ({ type, flags: 0, seq: 0, pid: 0, payload });
const decodeIp = (index: number): XfrmPolicy => decodePolicyMessage(asMessage(XFRM_MSG_NEWPOLICY, Buffer.from(policyRequests[index]!.payload, 'hex'))).policy;

function attributeSet(body: Buffer, fixed: number): string[] {
  return parseAttributes(body, fixed)
    .map(({ type, payload }) => `${type}:${payload.toString('hex')}`)
    .sort();
}

describe('policy messages iproute2 wrote', () => {
  it('decode: selector, direction, priority, templates', () => {
    const policy = decodeIp(0);
    assert.deepEqual(
      [policy.selector.family, [...policy.selector.saddr.subarray(0, 4)], policy.selector.prefixlenS, policy.dir, policy.priority, policy.action, policy.index, policy.templates.length],
      [AF_INET, [10, 1, 0, 0], 16, 1, 100, 0, 0, 1],
    );
    const [template] = policy.templates;
    assert.deepEqual([template?.id.proto, template?.reqid, template?.mode, template?.family, [...template!.saddr.subarray(0, 4)]], [50, 1, 1, AF_INET, [192, 0, 2, 1]]);
  });

  it('decode: index, mark, if_id, two templates, an optional one', () => {
    const policy = decodeIp(1);
    assert.deepEqual([policy.dir, policy.index, policy.mark, policy.ifId, policy.templates.map((t) => [t.id.proto, t.optional])], [2, 0x20a, { value: 5, mask: 0xff }, 0x42, [[50, 1], [108, 0]]]);
    assert.deepEqual([policy.selector.proto, policy.selector.dport], [6, 22]);
  });

  policyRequests.forEach((request, index) => {
    it(`encodeNewPolicy writes what ip wrote: ${request.command.slice(0, 80)}`, () => {
      const sent = Buffer.from(request.payload, 'hex');
      const encoded = encodeNewPolicy(decodeIp(index));
      assert.deepEqual([encoded.type, encoded.completion], [XFRM_MSG_NEWPOLICY, 'ack']);
      const body = encoded.parts[0]!;
      assert.equal(body.subarray(0, 168).toString('hex'), sent.subarray(0, 168).toString('hex'));
      assert.deepEqual(attributeSet(body, 168), attributeSet(sent, 168));
    });
  });

  it('UPDPOLICY; DELPOLICY by index, or by selector with the mark and if_id', () => {
    const policy = decodeIp(1);
    assert.equal(encodeNewPolicy(policy, { update: true }).type, XFRM_MSG_UPDPOLICY);
    const byIndex = encodeDelPolicy(policyKeyOf(policy));
    assert.equal(byIndex.type, XFRM_MSG_DELPOLICY);
    const body = byIndex.parts[0]!;
    assert.deepEqual([body.readUInt32LE(56), body[60], body.subarray(0, 56).toString('hex')], [0x20a, 2, Buffer.from(policyRequests[1]!.payload, 'hex').subarray(0, 56).toString('hex')]);
    assert.deepEqual(attributeSet(body, 64), ['21:05000000ff000000', '31:42000000']);
    const bySelector = encodeDelPolicy({ ...policyKeyOf(policy), index: 0 }).parts[0]!;
    assert.equal(bySelector.readUInt32LE(56), 0);
  });

  it('the GETPOLICY dump request has no body', () => {
    assert.deepEqual(encodePolicyDump(), { type: 21, parts: [], completion: 'dump' });
  });
});

describe('DELPOLICY, POLEXPIRE, ACQUIRE, flushes, defaults', () => {
  const info = Buffer.from(policyRequests[0]!.payload, 'hex');
  const attribute = (type: number, payload: Buffer): Buffer => {
    const header = Buffer.alloc(4);
    header.writeUInt16LE(4 + payload.length, 0);
    header.writeUInt16LE(type, 2);
    return Buffer.concat([header, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
  };

  it('DELPOLICY: the policy from XFRMA_POLICY; without it, malformed', () => {
    const id = Buffer.alloc(64);
    const { kind, policy } = decodePolicyMessage(asMessage(XFRM_MSG_DELPOLICY, Buffer.concat([id, attribute(7, info.subarray(0, 168)), info.subarray(168)])));
    assert.deepEqual([kind, policy.priority, policy.templates.length], ['delete', 100, 1]);
    assert.throws(() => decodePolicyMessage(asMessage(XFRM_MSG_DELPOLICY, id)), /XFRM_MSG_DELPOLICY without XFRMA_POLICY/);
  });

  it('POLEXPIRE: hard', () => {
    const message = asMessage(XFRM_MSG_POLEXPIRE, Buffer.concat([info.subarray(0, 168), Buffer.from([1]), Buffer.alloc(7), info.subarray(168)]));
    assert.deepEqual([decodePolicyMessage(message).kind, decodePolicyMessage(message).hard], ['expire', true]);
  });

  it('a template attribute that is not whole templates is malformed', () => {
    const cut = Buffer.concat([info.subarray(0, 168), attribute(5, Buffer.alloc(65))]);
    assert.throws(() => decodePolicyMessage(asMessage(XFRM_MSG_NEWPOLICY, cut)), /XFRMA_TMPL: 65 bytes is not a whole number of 64-byte templates/);
  });

  it('ACQUIRE as the host kernel sent it: the flow, the policy and its template', () => {
    const [message] = parseMessages(readFileSync(`${FIXTURES}xfrm-acquire.bin`));
    const acquire = decodeAcquire(message!.payload);
    assert.deepEqual(
      [acquire.id.proto, [...acquire.id.daddr.subarray(0, 4)], acquire.selector.proto, acquire.selector.dport, acquire.policy.dir, acquire.policy.templates[0]?.reqid, acquire.policy.type],
      [50, [10, 5, 0, 2], 17, 9, 1, 9, 0],
    );
  });

  it('flushes and defaults; short bodies are malformed as ip finds them', () => {
    assert.deepEqual(decodeSaFlush(Buffer.from([50, 0, 0, 0])), { proto: 50 });
    assert.throws(() => decodeSaFlush(Buffer.from([50])), DecodeError);
    assert.deepEqual(decodePolicyFlush(attribute(16, Buffer.from('010000000000', 'hex'))), { type: 1 });
    assert.deepEqual(decodePolicyFlush(Buffer.alloc(0)), { type: undefined });
    assert.deepEqual(decodePolicyDefaults(Buffer.from([2, 1, 0, 0])), { in: 2, fwd: 1, out: 0 });
  });
});

describe('policyProblems refuses what must never be installed', () => {
  const fields = (policy: XfrmPolicy): string[] => policyProblems(policy).map((problem) => problem.field);

  it('the policies ip made pass', () => {
    assert.deepEqual(policyRequests.map((_, index) => fields(decodeIp(index))), [[], [], []]);
  });

  it('a socket policy, a bad direction, action, share, index, type, selector family and prefix', () => {
    const base = decodeIp(0);
    assert.deepEqual(fields({ ...base, dir: 4 }), ['dir']);
    assert.equal(isSocketPolicy({ dir: 4 }), true);
    assert.deepEqual(fields({ ...base, dir: 7 }), ['dir']);
    assert.deepEqual(fields({ ...base, action: 2, share: 9 }), ['action', 'share']);
    assert.deepEqual(fields({ ...base, index: 0x208 }), ['index']);
    assert.deepEqual(fields({ ...base, type: 5 }), ['type']);
    assert.deepEqual(fields({ ...base, selector: { ...base.selector, family: 7 } }), ['selector.family']);
    assert.deepEqual(fields({ ...base, selector: { ...base.selector, prefixlenD: 33 } }), ['selector.prefixlenD']);
    assert.deepEqual(fields({ ...base, unknownAttributes: [99] }), ['attributes']);
  });

  it('templates: a protocol that is not ESP, AH or IPcomp; a family; a mode; too many; optional tunnel outbound', () => {
    const base = decodeIp(0);
    const template = base.templates[0]!;
    const withTemplate = (changes: Partial<typeof template>): XfrmPolicy => ({ ...base, templates: [{ ...template, ...changes }] });
    const tcp = policyProblems(withTemplate({ id: { ...template.id, proto: 6 } }));
    assert.deepEqual(tcp, [{ field: 'templates[0].proto', message: 'template protocol 6 is not ESP (50), AH (51) or IPcomp (108)' }]);
    assert.deepEqual(fields(withTemplate({ family: 7 })), ['templates[0].family']);
    assert.deepEqual(fields(withTemplate({ mode: 9 })), ['templates[0].mode']);
    assert.deepEqual(fields(withTemplate({ optional: 1 })), ['templates[0].optional']);
    assert.deepEqual(fields({ ...base, templates: new Array(7).fill(template) }), ['templates']);
  });

  it('createPolicy gives what ip sends by default', () => {
    const policy = createPolicy({ selector: decodeIp(0).selector, dir: 0 });
    assert.deepEqual([policy.action, policy.index, policy.priority, policy.lifetime.hardByteLimit, policy.templates], [0, 0, 0, 0xffffffffffffffffn, []]);
  });
});

describe('on the host kernel', { skip: hostKernelSkipReason() }, () => {
  it('policies dumped with XfrmClient.dumpPolicies, deleted and installed again read back the same in ip xfrm policy', () => {
    const { name: netns, remove } = makeNetns('xaev-policy');
    try {
      ip('-n', netns, 'xfrm', 'policy', 'add', 'src', '10.1.0.0/16', 'dst', '10.2.0.0/16', 'dir', 'out', 'priority', '100', 'tmpl', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'reqid', '1', 'mode', 'tunnel');
      ip('-n', netns, 'xfrm', 'policy', 'add', 'src', '10.3.0.0/16', 'dst', '10.4.0.0/16', 'proto', 'tcp', 'dport', '22', 'dir', 'fwd', 'index', '0x20a', 'mark', '5', 'mask', '0xff', 'if_id', '0x42', 'tmpl', 'proto', 'esp', 'mode', 'transport', 'level', 'use');
      const before = ip('-n', netns, 'xfrm', 'policy');
      const script = `
        import { XfrmClient } from '${REPO_ROOT}dist/src/xfrm/client.js';
        import { policyKeyOf } from '${REPO_ROOT}dist/src/xfrm/policy-message.js';
        import { policyProblems } from '${REPO_ROOT}dist/src/xfrm/validate.js';
        const client = XfrmClient.open();
        const policies = client.dumpPolicies();
        for (const policy of policies) client.deletePolicy(policyKeyOf(policy));
        const left = client.dumpPolicies().length;
        for (const policy of [...policies].reverse()) client.addPolicy(policy);
        console.log(JSON.stringify({ count: policies.length, left, problems: policies.flatMap(policyProblems) }));`;
      const result = spawnSync('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(result.stderr, '');
      assert.deepEqual(JSON.parse(result.stdout), { count: 2, left: 0, problems: [] });
      assert.equal(ip('-n', netns, 'xfrm', 'policy'), before);
    } finally {
      remove();
    }
  });
});
