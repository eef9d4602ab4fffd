// The bytes of a path as they arrive, without ever blocking a thread: a regular file, a FIFO
// whose writer has not come yet or sits idle, `/dev/stdin` fed by a slow producer, a
// terminal. A blocking open() or read() would sit in one of libuv's pool threads, and Node's
// exit joins those threads, so not even process.exit() could end such a process: SIGINT and
// SIGTERM must stay able to end it at once (`monitor --file`, as `ip xfrm monitor file`).
//
// The path is opened with O_NONBLOCK (open(2) of a FIFO then returns without a writer);
// pipes and sockets are read through libuv's event loop, terminals through a tty stream;
// only what never blocks for long (regular files, block and other character devices) is
// read on the thread pool. A FIFO opened without a writer reads as waiting, not as its end,
// until a writer has come and gone (fs/pipe.c: fifo_open() and pipe_poll() report EPOLLHUP
// only once a writer has been seen), so it behaves as a blocking open() would.
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';

/**
 * The chunks of `path` (at most `chunkBytes` each from a regular file; pipes give what each
 * read returned), until its end. Stopping the iteration early closes the file. Errors keep
 * Node's `code` (ENOENT, EISDIR ...).
 */
export async function* readFileChunks(path: string, chunkBytes: number): AsyncGenerator<Buffer, void, undefined> {
  // Loaded here, not at the top: these modules cost every other command start-up time.
  // require(), not import(): the CLI bundle runs as a vm.Script (bin/code-cache.cjs), where
  // import() has no loader.
  const require = createRequire(import.meta.url);
  const fs = require('node:fs') as typeof import('node:fs');
  const fd = await new Promise<number>((resolve, reject) =>
    fs.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, (error, opened) => (error ? reject(error) : resolve(opened))),
  );
  let stream: Readable | undefined;
  try {
    const stats = fs.fstatSync(fd);
    if (stats.isFIFO() || stats.isSocket()) {
      const { Socket } = require('node:net') as typeof import('node:net');
      stream = new Socket({ fd, readable: true, writable: false });
    } else if ((require('node:tty') as typeof import('node:tty')).isatty(fd)) {
      const { ReadStream } = require('node:tty') as typeof import('node:tty');
      stream = new ReadStream(fd);
    }
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  if (stream) {
    // The stream owns the descriptor from here on and closes it when destroyed.
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } finally {
      stream.destroy();
    }
    return;
  }
  try {
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const bytesRead = await new Promise<number>((resolve, reject) =>
        fs.read(fd, chunk, 0, chunkBytes, null, (error, count) => (error ? reject(error) : resolve(count))),
      );
      if (bytesRead === 0) return;
      yield chunk.subarray(0, bytesRead);
    }
  } finally {
    fs.closeSync(fd);
  }
}
