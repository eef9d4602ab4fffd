// Where the stream comes from: the stdout of a command (typically `ssh peer xaev sync send`),
// restarted with exponential backoff when it exits or goes silent for longer than the
// heartbeat timeout; or this process's stdin. Bytes go to the caller, which splits lines.
import { spawn, type ChildProcess } from 'node:child_process';

export interface TransportHandlers {
  /** A new connection: the previous one's partial line must be discarded. */
  onConnect(attempt: number): void;
  onData(chunk: Buffer): void;
  /** The connection ended; `retryInMs` is undefined when there will be no retry (stdin). */
  onDisconnect(reason: string, retryInMs: number | undefined): void;
}

export interface Transport {
  start(): void;
  stop(): void;
  /** The stream proved good (a full snapshot arrived): the next failure starts the backoff afresh. */
  healthy(): void;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** `sync receive --from CMD` restarts CMD after 1 s, then 2, 4 ... up to 30 s between tries. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };

/** Exponential backoff: initial, 2x, 4x ... capped; reset by reset(). */
export class Backoff {
  private failures = 0;
  constructor(private readonly options: BackoffOptions) {}
  next(): number {
    const delay = Math.min(this.options.maxMs, this.options.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return delay;
  }
  reset(): void {
    this.failures = 0;
  }
}

/**
 * Silence allowed before the first byte of a connection: ssh may take seconds to connect, and
 * node to start on a loaded or slow host, before the sender's first heartbeat.
 */
const CONNECT_TIMEOUT_MS = 30_000;
/** How long a killed command may take to exit before it gets SIGKILL. */
const KILL_GRACE_MS = 2000;

export class CommandTransport implements Transport {
  private child: ChildProcess | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempt = 0;
  /** The current child was killed for silence. */
  private silenced = false;
  private armedMs = 0;
  /** Chunks read from the command so far (the watchdog's evidence of life). */
  private chunks = 0;
  private readonly backoff: Backoff;

  constructor(
    private readonly command: string,
    private readonly heartbeatTimeoutMs: number,
    backoff: BackoffOptions,
    private readonly handlers: TransportHandlers,
  ) {
    this.backoff = new Backoff(backoff);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  healthy(): void {
    this.backoff.reset();
  }

  private connect(): void {
    this.attempt++;
    // Its own process group, so that a timeout ends the whole pipeline (sh, ssh, ...).
    const child = spawn('/bin/sh', ['-c', this.command], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    this.child = child;
    this.handlers.onConnect(this.attempt);
    let ended = false;
    const end = (reason: string): void => {
      if (ended) return;
      ended = true;
      this.disconnected(child, reason);
    };
    this.arm(child, Math.max(CONNECT_TIMEOUT_MS, this.heartbeatTimeoutMs));
    child.stdout!.on('data', (chunk: Buffer) => {
      this.chunks++;
      this.arm(child, this.heartbeatTimeoutMs);
      this.handlers.onData(chunk);
    });
    child.on('error', (error) => end(`cannot run the command: ${error.message}`));
    child.on('exit', (code, signal) => end(signal ? `the command was killed by ${signal}` : `the command exited with status ${code}`));
  }

  /**
   * (Re)start the silence watchdog: heartbeats arrive every second from a live sender. When it
   * fires, the verdict waits for this turn's reads: the timer is late when this process was
   * busy (installing a snapshot of 40,000 SAs took the lab's receiver more than 5 s), and what
   * the sender wrote meanwhile waits in the pipe, read only after the timers (the event loop's
   * poll phase comes after them, setImmediate's check phase after that).
   */
  private arm(child: ChildProcess, timeoutMs: number): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.armedMs = timeoutMs;
    const chunksBefore = this.chunks;
    this.watchdog = setTimeout(() => {
      setImmediate(() => {
        if (this.stopped || this.chunks !== chunksBefore || this.child !== child) return;
        this.silenced = true;
        this.kill(child);
      });
    }, timeoutMs);
  }

  private kill(child: ChildProcess): void {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    setTimeout(() => {
      try {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }, KILL_GRACE_MS).unref();
  }

  private disconnected(child: ChildProcess, reason: string): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    child.stdout?.destroy();
    if (this.child === child) this.child = undefined;
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.handlers.onDisconnect(this.silenced ? `no data for ${this.armedMs} ms: stopped the command` : reason, delay);
    this.silenced = false;
    this.retry = setTimeout(() => this.connect(), delay);
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.watchdog) clearTimeout(this.watchdog);
    if (this.child) this.kill(this.child);
  }
}

/** `--from -`: one connection, this process's stdin; at its end the state is kept (no retry). */
export class StdinTransport implements Transport {
  constructor(private readonly handlers: TransportHandlers) {}

  start(): void {
    this.handlers.onConnect(1);
    process.stdin.on('data', (chunk: Buffer) => this.handlers.onData(chunk));
    process.stdin.on('end', () => this.handlers.onDisconnect('end of standard input', undefined));
    process.stdin.on('error', (error) => this.handlers.onDisconnect(`standard input: ${error.message}`, undefined));
  }

  healthy(): void {}

  stop(): void {
    process.stdin.destroy();
  }
}
