// The one line splitter (src/line-reader.ts): lines as they arrive, across chunks, with
// memory bounded by the line limit; readLines() for command files, LineSplitter for the sync
// stream.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter, LineTooLongError, readLines } from '../src/line-reader.js';
import { MAX_STREAM_LINE_BYTES } from '../src/sync/stream.js';

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

async function collect(source: AsyncIterable<Buffer>, max?: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(source, max)) lines.push(`${line.number}:${line.text}`);
  return lines;
}

describe('readLines: command-file lines as they arrive, bounded', () => {
  it('joins lines split across chunks and keeps a last line without newline', async () => {
    assert.deepEqual(await collect(chunks('get 1\nse', 't 2 --rthr', ' 3\n\n', 'last')), ['1:get 1', '2:set 2 --rthr 3', '3:', '4:last']);
  });

  it('refuses a line above the limit, naming its number, before reading the rest', async () => {
    await assert.rejects(collect(chunks('ok\n', 'x'.repeat(6), 'y'.repeat(6)), 10), (error: unknown) => {
      assert.ok(error instanceof LineTooLongError);
      assert.equal(error.lineNumber, 2);
      return true;
    });
    assert.deepEqual(await collect(chunks('x'.repeat(10), '\n'), 10), [`1:${'x'.repeat(10)}`]);
  });

  it('hands over the lines before an oversized one in the same chunk, and none after it', async () => {
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const line of readLines(chunks(`a\n${'x'.repeat(20)}\nb\n`), 10)) seen.push(`${line.number}:${line.text}`);
      })(),
      (error: unknown) => error instanceof LineTooLongError && error.lineNumber === 2,
    );
    assert.deepEqual(seen, ['1:a']);
  });
});

describe('LineSplitter: stream lines with bounded memory', () => {
  it('delivers lines split across chunks and skips one over the limit without buffering it', () => {
    const lines: string[] = [];
    const oversize: number[] = [];
    const splitter = new LineSplitter(16, { onLine: (l) => lines.push(l), onOversize: (n) => oversize.push(n) });
    splitter.push(Buffer.from('{"a":'));
    splitter.push(Buffer.from('1}\nxxxxxxxxxx'));
    splitter.push(Buffer.from('xxxxxxxxxx'));
    assert.equal(splitter.incompleteBytes, 20);
    splitter.push(Buffer.concat([Buffer.from('xx\nok\n'), Buffer.from([0xff, 0x0a])]));
    assert.deepEqual(lines, ['{"a":1}', 'ok', '\ufffd']);
    assert.deepEqual(oversize, [22]);
  });

  it('keeps memory flat on a 100 MB line with no newline', () => {
    let skipped = 0;
    const splitter = new LineSplitter(MAX_STREAM_LINE_BYTES, { onLine: () => assert.fail('no line expected'), onOversize: (n) => (skipped = n) });
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 100; i++) splitter.push(chunk);
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024);
    splitter.push(Buffer.from('\n'));
    assert.equal(skipped, 100 * 1024 * 1024);
  });

  it('forgets a partial line on reset (a new connection)', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(16, { onLine: (l) => lines.push(l), onOversize: () => assert.fail('no oversize expected') });
    splitter.push(Buffer.from('{"cut'));
    splitter.reset();
    assert.equal(splitter.incompleteBytes, 0);
    splitter.push(Buffer.from('{"b":2}\n'));
    assert.deepEqual(lines, ['{"b":2}']);
  });
});
