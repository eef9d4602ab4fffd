// SIGINT and SIGTERM end xaev's long-running commands (monitor, sync send, sync receive) with
// status 0: the one place that listens for them. While a command listens, the signals no
// longer kill the process by default; the command ends itself, at once, even while stdout is
// blocked (output the reader has not taken is abandoned: stream-output.ts).

/** The first SIGINT or SIGTERM aborts `signal`; dispose() stops listening. */
export class StopSignals {
  private readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  private readonly onSignal = (): void => this.controller.abort();

  /** Listen from now on: install before anything others can see (a subscription, a socket), since they may signal at once. */
  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
