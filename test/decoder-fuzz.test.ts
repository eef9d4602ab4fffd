import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { FuzzRequest, FuzzResult } from './support/fuzz-worker.js';

/** A decode run must finish within this, or the test fails (a hang is a failure, not a stall). */
const TIME_LIMIT_MS = 20_000;

/** Run the fuzz loop in a worker; reject if it throws or outlives the time limit. */
function fuzz(request: FuzzRequest, limitMs = TIME_LIMIT_MS): Promise<FuzzResult> {
  const worker = new Worker(new URL('./support/fuzz-worker.js', import.meta.url), { workerData: request });
  return new Promise<FuzzResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`decoding did not finish within ${limitMs} ms (seed ${request.seed}): a decoder hangs`));
    }, limitMs);
    worker.once('message', (result: FuzzResult) => {
      clearTimeout(timer);
      resolve(result);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

describe('the event classifier never trusts input', () => {
  it('5000 mutated fixture streams classify without an exception or a hang', async () => {
    const result = await fuzz({ mode: 'mutate', seed: 0x5eed, iterations: 5000 });
    assert.ok(result.malformed > 500, `mutations should often be caught (${result.malformed})`);
    assert.ok((result.kinds.aevent ?? 0) > 1000, `most aevents should survive (${JSON.stringify(result.kinds)})`);
  });

  it('5000 random datagrams with plausible headers classify without an exception or a hang', async () => {
    const result = await fuzz({ mode: 'random', seed: 42, iterations: 5000 });
    assert.ok(result.malformed > 1000, JSON.stringify(result.kinds));
    for (const kind of ['sa', 'ignored', 'unknown']) assert.ok((result.kinds[kind] ?? 0) > 0, `no ${kind} event: ${JSON.stringify(result.kinds)}`);
  });

  it('the time limit fails a run that does not end (the guard itself can fail)', async () => {
    await assert.rejects(fuzz({ mode: 'mutate', seed: 1, iterations: Number.MAX_SAFE_INTEGER }, 500), /did not finish within 500 ms/);
  });
});
