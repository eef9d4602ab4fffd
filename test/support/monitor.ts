import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunningProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started = new Set<ChildProcess>();

/** Kill whatever a test started and left running (after a failed assertion). */
export function killStragglers(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
}

export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  const child = spawn(command, args, { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  started.add(child);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** NETLINK_XFRM sockets in a namespace subscribed to the aevent group (bit 0x10 of Groups). */
export function aeventListeners(netns: string): number {
  const text = execFileSync('ip', ['netns', 'exec', netns, 'cat', '/proc/net/netlink'], { encoding: 'utf8' });
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === '6' && (parseInt(fields[3] ?? '0', 16) & 0x10) !== 0).length;
}

/**
 * Start listeners and wait until each has joined the aevent group, so nothing sent is missed.
 * Counts against the listeners present before, which may still be closing.
 */
export async function startListeners(netns: string, start: () => RunningProcess[]): Promise<RunningProcess[]> {
  const baseline = aeventListeners(netns);
  const processes = start();
  await waitForListeners(netns, baseline + processes.length);
  return processes;
}

function waitForListeners(netns: string, count: number): Promise<void> {
  return until(() => aeventListeners(netns) >= count, 10_000, `${count} aevent listener(s) in ${netns}`);
}

/** Poll `condition` every 20 ms until it holds; fail after `timeoutMs`, naming what was awaited. */
export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Multicast netlink messages to XFRMNLGRP_AEVENTS from userspace, as the kernel would. A
 * CAP_NET_ADMIN sender may send to a netlink group; the kernel's own copy of the datagram
 * is ignored because the messages lack NLM_F_REQUEST. This lets the host kernel, which has
 * no ESP, exercise the live monitor path. Python's socket module speaks AF_NETLINK natively.
 */
export function injectAevents(netns: string, datagrams: Buffer[]): void {
  const script =
    'import socket,sys\n' +
    's=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,6)\n' +
    's.bind((0,0))\n' +
    'data=sys.stdin.buffer.read()\n' +
    'i=0\n' +
    'while i<len(data):\n' +
    '  n=int.from_bytes(data[i:i+4],"little"); s.sendto(data[i+4:i+4+n],(0,0x10)); i+=4+n\n';
  const framed = Buffer.concat(
    datagrams.flatMap((d) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(d.length);
      return [length, d];
    }),
  );
  execFileSync('ip', ['netns', 'exec', netns, 'python3', '-c', script], { input: framed });
}
