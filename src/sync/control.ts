// The receiver's control socket, both ends: `sync status`, `sync takeover` and `sync release`
// ask the running receiver over a unix socket, one JSON request line and one JSON answer line
// (the answers' types are status.ts's). There is one receiver per network namespace, so the
// socket is named after the namespace's inode.
import { chmodSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ReadU64, RefusedAnswer, ReleaseAnswer, StatusAnswer, TakeoverAnswer } from './status.js';
import { parseJsonExact } from './stream-decode.js';

export const CONTROL_DIR = '/run/xaev';
export type ControlCommand = 'status' | 'takeover' | 'release';
const COMMANDS: readonly ControlCommand[] = ['status', 'takeover', 'release'];
const MAX_REQUEST_BYTES = 4096;
/** A client that sends no request line within this time is disconnected. */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** No receiver answers: the message says how to start one. */
export class ControlUnavailableError extends Error {
  override readonly name = 'ControlUnavailableError';
}

/** Something answered that is not a sync receiver; `text` is its answer, untrusted. */
export class ForeignAnswerError extends Error {
  override readonly name = 'ForeignAnswerError';
  constructor(
    where: string,
    readonly text: string,
  ) {
    super(`${where} answered with something that is not a sync receiver's JSON answer`);
  }
}

/** The receiver answered, but refused the request. */
export class ControlRefusedError extends Error {
  override readonly name = 'ControlRefusedError';
}

/** What the receiver answers to each command, as the asker reads it. */
export interface ControlAnswers {
  status: StatusAnswer<ReadU64>;
  takeover: TakeoverAnswer;
  release: ReleaseAnswer;
}

/**
 * /run/xaev/sync-net<inode>.sock for a network namespace: the one named NAME (`ip netns`
 * bind-mounts it at /run/netns/NAME, with the namespace's own inode), else the one this
 * thread is in. Naming it by path lets `sync takeover -n NAME` find the socket without
 * entering the namespace (and without loading the native addon: it starts faster).
 */
export function controlSocketPath(netns?: string, directory = CONTROL_DIR): string {
  const inode = statSync(netns === undefined ? '/proc/thread-self/ns/net' : `/run/netns/${netns}`).ino;
  return join(directory, `sync-net${inode}.sock`);
}

function connectTo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Refuse to start a second receiver; remove the socket a dead one left behind. */
async function claim(path: string): Promise<void> {
  try {
    const socket = await connectTo(path);
    socket.destroy();
    throw new ControlUnavailableError(`a sync receiver already runs in this network namespace (it answers on ${path})`);
  } catch (error) {
    if (error instanceof ControlUnavailableError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED') unlinkSync(path);
    else if (code !== 'ENOENT') throw error;
  }
}

export type ControlHandler = (command: ControlCommand) => unknown;

function serve(socket: Socket, handler: ControlHandler): void {
  let request = '';
  socket.setEncoding('utf8');
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    request += chunk;
    if (request.length > MAX_REQUEST_BYTES) return socket.destroy();
    const newline = request.indexOf('\n');
    if (newline === -1) return;
    socket.removeAllListeners('data');
    socket.setTimeout(0);
    let answer: unknown;
    try {
      const parsed = JSON.parse(request.slice(0, newline)) as { command?: unknown };
      const command = COMMANDS.find((c) => c === parsed.command);
      answer = command ? handler(command) : { error: `unknown command ${String(parsed.command).slice(0, 40)}` };
    } catch (error) {
      answer = { error: error instanceof Error ? error.message : String(error) };
    }
    socket.end(`${typeof answer === 'string' ? answer : JSON.stringify(answer)}\n`);
  });
}

export interface ControlServer {
  /** Stop listening and drop every connection: a client that is silent, or does not read its answer, must not keep the receiver alive. */
  close(): void;
}

/** Listen on `path` (mode 0600: the socket can take a node over, so root only). */
export async function startControlServer(path: string, handler: ControlHandler): Promise<ControlServer> {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  await claim(path);
  const connections = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serve(socket, handler);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  server.unref();
  return {
    close: () => {
      server.close();
      for (const socket of connections) socket.destroy();
    },
  };
}

/** Ask the receiver; the answer is its JSON text, unparsed (u64 values stay exact). */
export async function controlRequest(path: string, command: ControlCommand, timeoutMs: number): Promise<string> {
  let socket: Socket;
  try {
    socket = await connectTo(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      throw new ControlUnavailableError(`no sync receiver runs in this network namespace (nothing answers on ${path}): start \`xaev sync receive\` first`);
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ControlUnavailableError(`permission denied on ${path}: the control socket can take the node over, so it is root's only (run as root)`);
    }
    throw new ControlUnavailableError(`cannot reach the sync receiver on ${path}: ${(error as Error).message}`);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlUnavailableError(`the sync receiver did not answer within ${timeoutMs} ms (${path})`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) socket.destroy(new Error(`its answer is longer than ${MAX_ANSWER_BYTES} bytes`));
      else chunks.push(chunk);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(new ControlUnavailableError(`the sync receiver on ${path} failed to answer: ${error.message}`));
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8').trim());
    });
    socket.write(`${JSON.stringify({ command })}\n`);
  });
}

/**
 * Ask the receiver and read its answer: `text` exactly as it came (what -j prints), `answer`
 * parsed with u64 values exact. Throws ControlUnavailableError when no receiver answers,
 * ForeignAnswerError for an answer that is not a JSON object, ControlRefusedError for a refusal.
 */
export async function askReceiver<C extends ControlCommand>(
  path: string,
  command: C,
  timeoutMs: number,
  where = path,
): Promise<{ text: string; answer: ControlAnswers[C] }> {
  const text = await controlRequest(path, command, timeoutMs);
  let answer: unknown;
  try {
    answer = parseJsonExact(text);
  } catch {
    answer = undefined;
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) throw new ForeignAnswerError(where, text);
  const refused = (answer as Partial<RefusedAnswer>).error;
  if (refused !== undefined) throw new ControlRefusedError(`the receiver refused: ${String(refused)}`);
  return { text, answer: answer as ControlAnswers[C] };
}
