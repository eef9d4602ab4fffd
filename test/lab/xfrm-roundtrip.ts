// xaev kernel lab: the SA and policy codecs against a real kernel (test/lab/xfrm-roundtrip.sh).
//
//   node dist/test/lab/xfrm-roundtrip.js capture --out FILE --ready FILE
//       joins the SA, policy, expire and acquire groups and appends every datagram, raw, to
//       FILE (what `ip xfrm monitor file` reads) until SIGTERM.
//   node dist/test/lab/xfrm-roundtrip.js reinstall --report FILE
//       dumps every SA and policy with xaev's decoders (not the kernel's own IPcomp tunnel
//       states), checks them (saProblems, policyProblems), deletes them all, and installs them again from the decoded values
//       with xaev's encoders (NEWSA with the current lifetime, NEWPOLICY with the index), in
//       reverse dump order so the kernel lists them as before, then decodes them again and
//       compares every field. FILE gets a JSON report: what was dumped (keys redacted), every
//       problem, refusal and difference; exit 1 on a refusal.
//   node dist/test/lab/xfrm-roundtrip.js pcpu
//       installs a per-CPU SA (6.13+) and prints what the kernel kept.
import { appendFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NetlinkError } from '../../src/netlink/errors.js';
import { NetlinkSocket } from '../../src/netlink/socket.js';
import { NETLINK_XFRM, XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRMNLGRP_POLICY, XFRMNLGRP_SA } from '../../src/xfrm/constants.js';
import { XfrmClient } from '../../src/xfrm/client.js';
import { isSocketPolicy, policyKeyOf } from '../../src/xfrm/policy-message.js';
import { createSa, hasRedactedKeys, isKernelTunnelState, saKeyOf, wipeSaKeys } from '../../src/xfrm/sa-message.js';
import { SecretKey } from '../../src/xfrm/secret-key.js';
import { policyProblems, saProblems } from '../../src/xfrm/validate.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string' }, ready: { type: 'string' }, report: { type: 'string' } },
});

function capture(out: string, ready: string | undefined): void {
  writeFileSync(out, '');
  const socket = NetlinkSocket.open(NETLINK_XFRM, { receiveBufferBytes: 4 * 1024 * 1024 });
  for (const group of [XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRMNLGRP_SA, XFRMNLGRP_POLICY]) socket.joinGroup(group);
  const save = (datagrams: Buffer[]): void => {
    for (const datagram of datagrams) appendFileSync(out, datagram);
  };
  socket.listen({
    onDatagrams: save,
    onTruncated: (_kept, bytes) => console.error(`capture: a datagram of ${bytes} bytes was cut`),
    onOverrun: (dropped) => console.error(`capture: ${dropped ?? 'some'} messages dropped`),
    onError: (error) => {
      console.error(`capture: ${error.message}`);
      process.exit(1);
    },
  });
  process.on('SIGTERM', () => {
    socket.stopListening();
    save(socket.receiveQueued());
    socket.close();
    process.exit(0);
  });
  if (ready) writeFileSync(ready, '');
}

/** Top-level fields whose values differ, keys compared by their bytes; ['missing'] when `after` is absent. */
function differingFields(before: object, after: object | undefined): string[] {
  if (!after) return ['missing'];
  const text = (value: unknown): string =>
    JSON.stringify(value, (_key, inner: unknown) => (inner instanceof SecretKey ? inner.hex() : typeof inner === 'bigint' ? inner.toString() : inner));
  return Object.keys(before).filter((field) => text((before as Record<string, unknown>)[field]) !== text((after as Record<string, unknown>)[field]));
}

function reinstall(reportFile: string): number {
  const client = XfrmClient.open();
  // The IPIP state of an IPcomp tunnel SA is the kernel's own: it goes and comes back with its SA.
  const tunnelStates = client.dumpSas().filter(isKernelTunnelState).length;
  const sas = client.dumpSas().filter((sa) => !isKernelTunnelState(sa));
  const policies = client.dumpPolicies().filter((policy) => !isSocketPolicy(policy));
  const problems = [
    ...sas.map((sa) => ({ spi: sa.saId.spi, problems: saProblems(sa) })).filter((entry) => entry.problems.length > 0),
    ...policies.map((policy) => ({ index: policy.index, problems: policyProblems(policy) })).filter((entry) => entry.problems.length > 0),
  ];
  const refusals: string[] = [];
  const attempt = (what: string, action: () => void): void => {
    try {
      action();
    } catch (error) {
      if (!(error instanceof NetlinkError)) throw error;
      refusals.push(`${what}: ${error.message}`);
    }
  };
  for (const policy of policies) attempt(`DELPOLICY ${policy.index}`, () => client.deletePolicy(policyKeyOf(policy)));
  for (const sa of sas) attempt(`DELSA 0x${sa.saId.spi.toString(16)}`, () => client.deleteSa(saKeyOf(sa)));
  const left = { sas: client.dumpSas().length, policies: client.dumpPolicies().length };
  for (const sa of [...sas].reverse()) attempt(`NEWSA 0x${sa.saId.spi.toString(16)}`, () => client.addSa(sa, { currentLifetime: true }));
  for (const policy of [...policies].reverse()) attempt(`NEWPOLICY ${policy.index}`, () => client.addPolicy(policy));
  // What ip does not print (the direction, 6.10+) must survive too: decode the table again
  // and compare every field, keys by their bytes (in memory only).
  const againSas = new Map(client.dumpSas().filter((sa) => !isKernelTunnelState(sa)).map((sa) => [sa.saId.spi, sa]));
  const againPolicies = new Map(client.dumpPolicies().map((policy) => [policy.index, policy]));
  const differences = [
    ...sas.map((sa) => ({ spi: sa.saId.spi, fields: differingFields(sa, againSas.get(sa.saId.spi)) })),
    // A reinstalled policy is added anew: only its add time differs.
    ...policies.map((policy) => ({ index: policy.index, fields: differingFields(policy, againPolicies.get(policy.index)).filter((field) => field !== 'current') })),
  ].filter((entry) => entry.fields.length > 0);
  const report = {
    sas: sas.length,
    tunnelStates,
    policies: policies.length,
    redacted: sas.filter(hasRedactedKeys).length,
    leftAfterDelete: left,
    differences,
    directions: sas.map((sa) => sa.direction).filter((direction) => direction !== undefined),
    problems,
    refusals,
    // Keys show as <redacted N bytes>: the report proves they never reach JSON.
    decoded: { sas, policies },
  };
  writeFileSync(reportFile, JSON.stringify(report, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2));
  sas.forEach(wipeSaKeys);
  againSas.forEach(wipeSaKeys);
  client.close();
  return refusals.length === 0 ? 0 : 1;
}

/**
 * A per-CPU SA (XFRMA_SA_PCPU, 6.13+; it needs a direction): SPI 0x1010, a copy of the
 * outbound SA 0x100e on CPU 0 (the guest has one; the kernel refuses a CPU it lacks), installed with xaev's encoder and read back. Prints what
 * the kernel kept ({ pcpu, direction }) or its refusal.
 */
function perCpu(): void {
  const client = XfrmClient.open();
  const template = client.dumpSas().find((sa) => sa.saId.spi === 0x100e);
  if (!template) throw new Error('SA 0x100e is missing');
  try {
    client.addSa(createSa({ ...template, saId: { ...template.saId, spi: 0x1010 }, pcpu: 0 }));
    const back = client.dumpSas().find((sa) => sa.saId.spi === 0x1010);
    console.log(JSON.stringify({ pcpu: back?.pcpu ?? null, direction: back?.direction ?? null }));
  } catch (error) {
    if (!(error instanceof NetlinkError)) throw error;
    console.log(JSON.stringify({ refused: error.message }));
  }
  client.close();
}

const [command] = positionals;
if (command === 'capture' && values.out) capture(values.out, values.ready);
else if (command === 'reinstall' && values.report) process.exitCode = reinstall(values.report);
else if (command === 'pcpu') perCpu();
else {
  console.error('usage: xfrm-roundtrip.js capture --out FILE [--ready FILE] | reinstall --report FILE | pcpu');
  process.exitCode = 2;
}
