// Writes test/fixtures/xfrm.bin: SA, policy, expire, acquire, flush, report and default-policy
// messages as `ip xfrm monitor file` reads them, built from iproute2's own requests
// (test/fixtures/ip-requests.json, bodies written by ip, not by xaev) and an ACQUIRE the host
// kernel sent (test/fixtures/xfrm-acquire.bin), plus attributes ip cannot make (offload,
// security context, care-of address, direction, ESN bitmaps). Everything is laid out by hand
// here, never by xaev's encoders, so the golden test checks xaev's decoder and printer
// against ip on bytes neither came from.
//
//   node dist/test/support/make-xfrm-fixture.js > test/fixtures/xfrm.bin
//   ip xfrm monitor file test/fixtures/xfrm.bin > test/fixtures/xfrm.expected.txt
import { readFileSync } from 'node:fs';
import { FIXTURES } from './paths.js';

interface IpRequest {
  command: string;
  payload: string;
}

const USERSA_INFO = 224;
const USERPOLICY_INFO = 168;
const requests = (JSON.parse(readFileSync(`${FIXTURES}ip-requests.json`, 'utf8')) as IpRequest[]).map((entry) => Buffer.from(entry.payload, 'hex'));

function message(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(16 + payload.length, 0);
  header.writeUInt16LE(type, 4);
  const padding = Buffer.alloc((4 - (payload.length % 4)) % 4);
  return Buffer.concat([header, payload, padding]);
}

function attribute(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(4 + payload.length, 0);
  header.writeUInt16LE(type, 2);
  return Buffer.concat([header, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}

const u32 = (value: number): Buffer => {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value, 0);
  return out;
};


/** xfrm_usersa_id from a usersa_info: daddr, spi (id @56..76), family @212, proto @76. */
function saId(info: Buffer): Buffer {
  const id = Buffer.alloc(24);
  info.copy(id, 0, 56, 76);
  id.writeUInt16LE(info.readUInt16LE(212), 20);
  id[22] = info[76]!;
  return id;
}

/**
 * iproute2 sends XFRMA_REPLAY_ESN_VAL without its bitmap (NEWSA takes that as zeros); the
 * kernel's notifications carry the whole bitmap. This gives a request the notification's form.
 */
function asNotification(body: Buffer, fixed: number): Buffer {
  const parts: Buffer[] = [body.subarray(0, fixed)];
  for (let at = fixed; at < body.length; ) {
    const length = body.readUInt16LE(at);
    const type = body.readUInt16LE(at + 2);
    const payload = body.subarray(at + 4, at + length);
    if (type === 23 && payload.length === 24) parts.push(attribute(23, Buffer.concat([payload, Buffer.alloc(4 * payload.readUInt32LE(0))])));
    else parts.push(attribute(type, payload));
    at += (length + 3) & ~3;
  }
  return Buffer.concat(parts);
}

const states = requests.slice(0, 6).map((request) => asNotification(request, USERSA_INFO));
const policies = requests.slice(6);

const out: Buffer[] = [];
// NEWSA as ip asked for each, in the form the kernel notifies it.
for (const state of states) out.push(message(16, state));
// UPDSA; DELSA (usersa_id, XFRMA_SA, then the attributes); EXPIRE soft and hard.
out.push(message(26, states[1]!));
const deleted = states[3]!;
out.push(message(17, Buffer.concat([saId(deleted), attribute(6, deleted.subarray(0, USERSA_INFO)), deleted.subarray(USERSA_INFO)])));
const expire = (info: Buffer, hard: number, attributes: Buffer): Buffer => message(24, Buffer.concat([info.subarray(0, USERSA_INFO), Buffer.from([hard]), Buffer.alloc(7), attributes]));
out.push(expire(states[3]!, 0, Buffer.concat([attribute(21, Buffer.from('0500000000ff0000', 'hex')), attribute(31, u32(0x42))])));
out.push(expire(states[0]!, 1, Buffer.alloc(0)));
// Attributes ip cannot set: offload (lo, inbound), security context, care-of address,
// direction and per-CPU id (ip 6.1 prints neither), an ESN state with a 10-word bitmap.
const offload = Buffer.from('0100000002000000', 'hex');
const context = Buffer.concat([Buffer.from('1f0008000101' + '1700', 'hex'), Buffer.from('system_u:object_r:ipsec')]);
context.writeUInt16LE(8 + 23, 0);
const esnInfo = Buffer.from(states[1]!.subarray(0, USERSA_INFO));
const esn = Buffer.alloc(24 + 40);
esn.writeUInt32LE(10, 0);
esn.writeUInt32LE(0x1234, 4);
esn.writeUInt32LE(0x5678, 8);
esn.writeUInt32LE(1, 12);
esn.writeUInt32LE(2, 16);
esn.writeUInt32LE(320, 20);
for (let i = 0; i < 10; i++) esn.writeUInt32LE((0x01010101 * (i + 1)) >>> 0, 24 + 4 * i);
out.push(
  message(
    16,
    Buffer.concat([
      esnInfo,
      attribute(28, offload),
      attribute(8, context),
      attribute(14, Buffer.from('c0000263000000000000000000000000', 'hex')),
      attribute(33, Buffer.from([2])),
      attribute(35, u32(1)),
      attribute(23, esn),
    ]),
  ),
);
// NEWPOLICY as ip asked; UPDPOLICY; DELPOLICY (userpolicy_id, XFRMA_POLICY, attributes);
// POLEXPIRE hard; a socket policy (dir 3 + out) with an action and a flag ip has no name for.
for (const policy of policies) out.push(message(19, policy));
out.push(message(25, policies[1]!));
const userpolicyId = (info: Buffer): Buffer => {
  const id = Buffer.alloc(64);
  info.copy(id, 0, 0, 56);
  id.writeUInt32LE(info.readUInt32LE(156), 56);
  id[60] = info[160]!;
  return id;
};
out.push(message(20, Buffer.concat([userpolicyId(policies[1]!), attribute(7, policies[1]!.subarray(0, USERPOLICY_INFO)), policies[1]!.subarray(USERPOLICY_INFO)])));
out.push(message(27, Buffer.concat([policies[0]!.subarray(0, USERPOLICY_INFO), Buffer.from([1]), Buffer.alloc(7), policies[0]!.subarray(USERPOLICY_INFO)])));
const socketPolicy = Buffer.from(policies[0]!.subarray(0, USERPOLICY_INFO));
socketPolicy[160] = 4;
socketPolicy[161] = 2;
socketPolicy[162] = 4 | 1;
out.push(message(19, Buffer.concat([socketPolicy, attribute(16, Buffer.from('010000000000', 'hex')), attribute(8, context)])));
// The ACQUIRE the host kernel sent, its selector's interface made lo (1), so that every
// machine prints the same name.
const acquire = Buffer.from(readFileSync(`${FIXTURES}xfrm-acquire.bin`));
acquire.writeInt32LE(1, 16 + 40 + 48);
out.push(acquire);
// FLUSHSA of ESP and of every protocol; FLUSHPOLICY with and without a type; REPORT;
// GETDEFAULT.
out.push(message(28, Buffer.from([50, 0, 0, 0])));
out.push(message(28, Buffer.from([255, 0, 0, 0])));
out.push(message(29, attribute(16, Buffer.from('000000000000', 'hex'))));
out.push(message(29, Buffer.alloc(0)));
const report = Buffer.alloc(60);
report[0] = 43;
policies[2]!.copy(report, 4, 0, 56);
out.push(message(32, Buffer.concat([report, attribute(14, Buffer.from('20010db8000000000000000000000099', 'hex'))])));
out.push(message(40, Buffer.from([2, 1, 0, 0])));
process.stdout.write(Buffer.concat(out));
