/**
 * Copying image data in-process: no `cp` child that could outlive a killed agent, all-zero blocks left as
 * holes (a raw image's unused space costs no disk), and the content checksum (and, when asked, the plain
 * SHA-256 of the file) computed in the same pass. Data comes as a byte stream (a download, a source
 * file) or as data extents (an upload from the CLI, which sends a sparse file's data only).
 */
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { finished, Readable } from 'node:stream';
import {
  alignedBuffer,
  CONTENT_BLOCK,
  ContentHasher,
  type DataPiece,
  DIRECT_IO_ALIGNMENT,
  ExtentsParser,
  keepFreedHeap,
} from '@stratus/util';

/** Size of the blocks checked for zeros, in bytes (a multiple of every common filesystem block size). */
export const SPARSE_BLOCK = CONTENT_BLOCK;
const ZERO = Buffer.alloc(SPARSE_BLOCK);
/**
 * The most bytes written by one write: consecutive blocks with data go to the file together (one awaited
 * write per 64 KiB block made a 512 MiB upload 8,192 thread-pool round trips in a row).
 */
const WRITE_RUN = 1024 * 1024;
/**
 * Runs waiting to be hashed or written (the one being written included) above which a writer asks its
 * feeder to wait.
 */
const QUEUED_RUNS = 4;
/**
 * Bytes written through the page cache (where direct I/O is not available) after which the data so far
 * is flushed to the disk while writing goes on (fdatasync in the thread pool): the kernel would start
 * writing back only after 30 s or gigabytes of dirty pages, so the disk idled during a transfer and the
 * final fsync of 512 MiB waited 0.45 s for all of it.
 */
const FLUSH_EVERY = 32 * 1024 * 1024;

/** What {@link writeSparse} or {@link writeExtents} wrote. */
export interface WrittenData {
  /** Bytes of the file (holes included). */
  sizeBytes: number;
  /** Stratus's content checksum of the file (see `@stratus/util` sparse.ts), lower-case hex. */
  checksum: string;
  /** SHA-256 of the file's bytes (holes as zeros), lower-case hex; only when asked for. */
  sha256?: string;
  /** The upload check of the file (`@stratus/util` {@link ContentCrc32}); only when asked for. */
  contentCrc32?: string;
}

/** Options of {@link writeExtents} and {@link writeSparse}. */
export interface WriteOptions {
  /** File mode of the new file (default 0600). */
  mode?: number;
  /** Also compute the plain SHA-256 of the file (costs a pass over the holes' zeros too). */
  sha256?: boolean;
  /** Also compute the upload check (for data a client uploaded, which compares it with its own). */
  contentCrc32?: boolean;
  /**
   * Write to the disk directly (O_DIRECT) where possible: the default. False: through the page cache,
   * for data that is read again right away.
   */
  direct?: boolean;
}

/**
 * A new sparse file written from data handed over in increasing offset order, synchronously: each
 * {@link write} copies the bytes into their place in a run of up to 1 MiB of consecutive blocks (and
 * feeds the plain SHA-256, when asked). A full run is hashed in the thread pool (`@stratus/util`
 * {@link ContentHasher}: the content checksum, the upload check when asked) and then written, its
 * all-zero blocks left out as holes, while the caller goes on. Runs go to the disk directly (O_DIRECT,
 * `@stratus/util` memory.ts) where the filesystem and the native helper allow it, else through the page
 * cache. Like a Node Writable, {@link write} answers false once {@link QUEUED_RUNS} runs wait, and the
 * feeder then waits for {@link drain}.
 */
export class SparseWriter {
  private readonly hasher: ContentHasher;
  private readonly plain: Hash | null;
  private plainAt = 0;
  /** The block being filled: its place in the run. */
  private block: Buffer = Buffer.alloc(0);
  private blockStart = -1; // offset of the block being filled; -1: none
  private filledTo = 0; // bytes of the block given so far (gaps before them zeroed)
  private next = 0; // no byte may come before this
  private run: Buffer;
  private runStart = 0; // file offset of the run being gathered
  private runLength = 0;
  private readonly spare: Buffer[] = [];
  /** Runs to write, the one being written first; `present`: which blocks hold data, once hashed. */
  private readonly queue: Array<{ buf: Buffer; length: number; at: number; present: Promise<Uint8Array> }> =
    [];
  private writing: Promise<void> | null = null;
  private flushing: Promise<void> | null = null;
  private unflushed = 0; // bytes written since the last flush began
  private failure: { error: unknown } | null = null;
  private drained: Array<() => void> = [];

  private constructor(
    private fh: FileHandle,
    private direct: boolean,
    private readonly path: string,
    private readonly mode: number,
    opts: WriteOptions,
  ) {
    this.plain = opts.sha256 ? createHash('sha256') : null;
    this.hasher = new ContentHasher({ crc32: opts.contentCrc32 === true });
    this.run = this.runBuffer();
  }

  /**
   * Creates the file `path` (with `opts.mode`, default 0600; refused when it exists) to write into; for
   * direct I/O unless `opts.direct` is false, where the filesystem takes it (else buffered).
   */
  static async create(path: string, opts: WriteOptions = {}): Promise<SparseWriter> {
    const mode = opts.mode ?? 0o600;
    if (opts.direct !== false && alignedBuffer(DIRECT_IO_ALIGNMENT)) {
      const { O_WRONLY, O_CREAT, O_EXCL, O_DIRECT } = constants;
      try {
        const fh = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, mode);
        return new SparseWriter(fh, true, path, mode, opts);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      }
    }
    return new SparseWriter(await open(path, 'wx', mode), false, path, mode, opts);
  }

  /** Whether runs go to the disk directly (O_DIRECT) rather than through the page cache. */
  get writesDirectly(): boolean {
    return this.direct;
  }

  /**
   * Takes `data`, the file's bytes at `offset` (bytes skipped since earlier data are zeros). Answers
   * false when the caller should wait for {@link drain} before handing over more. Throws a RangeError for
   * data before earlier data, or the error of a failed write.
   */
  write(offset: number, data: Uint8Array): boolean {
    this.throwIfFailed();
    if (offset < this.next) throw new RangeError(`data at ${offset} comes after data up to ${this.next}`);
    let off = 0;
    while (off < data.length) {
      const at = offset + off;
      const start = at - (at % SPARSE_BLOCK);
      if (start !== this.blockStart) {
        this.endBlock(SPARSE_BLOCK); // a block followed by later data is whole
        this.beginBlock(start);
      }
      const inBlock = at - start;
      const n = Math.min(SPARSE_BLOCK - inBlock, data.length - off);
      if (inBlock > this.filledTo) this.block.fill(0, this.filledTo, inBlock);
      this.block.set(data.subarray(off, off + n), inBlock);
      this.filledTo = inBlock + n;
      off += n;
    }
    this.next = offset + data.length;
    return this.queue.length < QUEUED_RUNS;
  }

  /** Resolves once fewer than {@link QUEUED_RUNS} runs wait for the disk; rejects if a write failed. */
  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.queue.length < QUEUED_RUNS) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.drained.push(() => (this.failure ? reject(this.failure.error) : resolve())),
    );
  }

  /**
   * Ends the file at `size` bytes (trailing holes included), waits for its writes and fsyncs it. Throws
   * a RangeError when `size` is before the data, or the error of a failed write.
   */
  async end(size: number): Promise<WrittenData> {
    this.throwIfFailed();
    if (!Number.isSafeInteger(size) || size < this.next)
      throw new RangeError(`size ${size} is before data up to ${this.next}`);
    if (this.blockStart >= 0) this.endBlock(Math.min(SPARSE_BLOCK, size - this.blockStart));
    this.queueRun();
    await this.writing;
    await this.flushing;
    this.throwIfFailed();
    this.zerosTo(size);
    // Trailing holes: the size is set explicitly, as nothing was written there.
    await this.fh.truncate(size);
    await this.fh.chmod(this.mode);
    await this.fh.sync();
    return {
      sizeBytes: size,
      ...(await this.hasher.digest(size)),
      ...(this.plain ? { sha256: this.plain.digest('hex') } : {}),
    };
  }

  /** Closes the file once the write in flight settled; safe to call more than once. */
  async close(): Promise<void> {
    this.failure ??= { error: new Error('the writer was closed') };
    this.queue.splice(1);
    await this.writing;
    await this.flushing;
    await this.fh.close().catch(() => undefined);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** The plain SHA-256 takes the zeros of holes up to `end`. */
  private zerosTo(end: number): void {
    while (this.plain && this.plainAt < end) {
      const n = Math.min(SPARSE_BLOCK, end - this.plainAt);
      this.plain.update(ZERO.subarray(0, n));
      this.plainAt += n;
    }
  }

  /**
   * Starts the block at file offset `start` in its place in the run: the run is queued first when the
   * block does not follow it or would not fit. Data is copied once, straight into the run.
   */
  private beginBlock(start: number): void {
    if (
      this.runLength > 0 &&
      (this.runStart + this.runLength !== start || this.runLength + SPARSE_BLOCK > WRITE_RUN)
    )
      this.queueRun();
    if (this.runLength === 0) this.runStart = start;
    this.block = this.run.subarray(this.runLength, this.runLength + SPARSE_BLOCK);
    this.blockStart = start;
  }

  /** Ends the block being filled at `len` bytes (the rest zeros) in its run. */
  private endBlock(len: number): void {
    if (this.blockStart < 0) return;
    const start = this.blockStart;
    this.block.fill(0, this.filledTo, len);
    if (this.plain) {
      this.zerosTo(start);
      this.plain.update(this.block.subarray(0, len));
      this.plainAt = start + len;
    }
    this.blockStart = -1;
    this.filledTo = 0;
    this.runLength += len;
  }

  /**
   * Queues the run gathered so far to be hashed and then written, and starts the writes if none is going
   * on.
   */
  private queueRun(): void {
    if (this.runLength === 0) return;
    const present = this.hasher.add(this.runStart, this.run.subarray(0, this.runLength));
    present.catch(() => undefined); // awaited in its turn; a writer closed early leaves it
    this.queue.push({ buf: this.run, length: this.runLength, at: this.runStart, present });
    this.run = this.spare.pop() ?? this.runBuffer();
    this.runLength = 0;
    this.writing ??= this.writeQueued();
  }

  /** A buffer for a run: aligned for direct I/O when writing directly. */
  private runBuffer(): Buffer {
    return (this.direct && alignedBuffer(WRITE_RUN)) || Buffer.allocUnsafe(WRITE_RUN);
  }

  /**
   * Writes the queued runs in order, once each is hashed: each stretch of consecutive blocks with data
   * whole (a short write goes on where it stopped), the all-zero blocks between left as holes. A direct
   * write that does not end on an alignment boundary (the file's last block) is padded with zeros to
   * one: {@link end} truncates the file to its size.
   */
  private async writeQueued(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const r = this.queue[0]!;
        const present = await r.present;
        for (let i = 0; i < present.length; ) {
          if (!present[i]) {
            i++;
            continue;
          }
          const from = i * SPARSE_BLOCK;
          while (present[i]) i++;
          const to = Math.min(i * SPARSE_BLOCK, r.length);
          const pad = this.direct ? -to & (DIRECT_IO_ALIGNMENT - 1) : 0;
          r.buf.fill(0, to, to + pad);
          await this.writeAll(r.buf.subarray(from, to + pad), r.at + from);
        }
        this.queue.shift();
        this.spare.push(r.buf);
        if (!this.direct) this.unflushed += r.length;
        if (this.unflushed >= FLUSH_EVERY && !this.flushing) {
          this.unflushed = 0;
          // A failure is kept: Linux reports a writeback error to one fsync only, so the final one
          // might not see it again.
          this.flushing = this.fh.datasync().then(
            () => {
              this.flushing = null;
            },
            (e: unknown) => {
              this.failure ??= { error: e };
              this.flushing = null;
            },
          );
        }
        if (this.queue.length < QUEUED_RUNS) this.wake();
      }
    } catch (e) {
      this.failure ??= { error: e };
      this.queue.length = 0;
      this.wake();
    } finally {
      this.writing = null;
    }
  }

  /**
   * Writes all of `bytes` at file offset `at`, going on after a short write where it stopped. A direct
   * write the filesystem refuses (EINVAL) goes through the page cache instead, from then on.
   */
  private async writeAll(bytes: Buffer, at: number): Promise<void> {
    for (let done = 0; done < bytes.length; ) {
      let bytesWritten: number;
      try {
        ({ bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, at + done));
      } catch (e) {
        if (!this.direct || (e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        await this.buffered();
        continue;
      }
      if (bytesWritten === 0) throw new Error(`writing at ${at + done} wrote nothing`);
      done += bytesWritten;
    }
  }

  /** Goes on writing through the page cache: the file opened again without O_DIRECT. */
  private async buffered(): Promise<void> {
    const fh = await open(this.path, 'r+');
    await this.fh.close();
    this.fh = fh;
    this.direct = false;
  }

  private wake(): void {
    const waiting = this.drained;
    this.drained = [];
    for (const w of waiting) w();
  }
}

/**
 * Feeds the chunks of `body` to `take` as they come: a Node stream by its `data` events (no promise per
 * chunk), paused while the promise `take` answers is pending; any other iterable through a stream made of
 * it. Rejects with what `take` throws or rejects with, or the stream's error (also a body that closed
 * before its end: a client that went away). The freed heap is kept meanwhile (`@stratus/util`
 * keepFreedHeap): each socket read is a new buffer.
 */
function feed(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  take: (chunk: Uint8Array) => Promise<void> | undefined,
): Promise<void> {
  const stream = body instanceof Readable ? body : Readable.from(body, { objectMode: false });
  const released = keepFreedHeap();
  const done = new Promise<void>((resolve, reject) => {
    let failed = false;
    let waiting: Promise<void> | undefined;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      stream.off('data', onData);
      stream.destroy();
      reject(e);
    };
    const onData = (chunk: Uint8Array) => {
      try {
        waiting = take(chunk);
      } catch (e) {
        return fail(e);
      }
      if (!waiting) return;
      stream.pause();
      waiting.then(() => {
        waiting = undefined;
        if (!failed) stream.resume();
      }, fail);
    };
    stream.on('data', onData);
    finished(stream, (e) => {
      if (e) return fail(e);
      (waiting ?? Promise.resolve()).then(() => {
        if (!failed) resolve();
      }, fail);
    });
  });
  return done.finally(released);
}

/**
 * Writes the data of `body`, in the extents wire form (an upload from the CLI; see `@stratus/util`
 * sparse.ts), to a new file `path` with a {@link SparseWriter}. Throws a RangeError on a malformed body,
 * and what {@link SparseWriter} throws. The file is not removed on failure: the caller owns `path` (a
 * temporary it removes, or that the agent sweeps at its next start).
 */
export function writeExtentsBody(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  path: string,
  opts: WriteOptions = {},
): Promise<WrittenData> {
  return writing(path, opts, async (w) => {
    let more = true;
    const parser = new ExtentsParser((offset, data) => {
      if (!w.write(offset, data)) more = false;
    });
    await feed(body, (chunk) => {
      more = true;
      parser.push(chunk);
      return more ? undefined : w.drain();
    });
    return w.end(parser.end());
  });
}

/** Fills a new {@link SparseWriter} on `path` with `fill`, and closes it whatever happens. */
async function writing(
  path: string,
  opts: WriteOptions,
  fill: (w: SparseWriter) => Promise<WrittenData>,
): Promise<WrittenData> {
  const w = await SparseWriter.create(path, opts);
  try {
    return await fill(w);
  } finally {
    await w.close();
  }
}

/**
 * Writes data extents to a new file `path` with a {@link SparseWriter}: `pieces` in increasing offset
 * order, then `{size}` last, the file's size. Throws as {@link SparseWriter} does, and when the pieces end
 * without the size. The caller owns `path` as with {@link writeExtentsBody}.
 */
export function writeExtents(
  pieces: AsyncIterable<DataPiece | { size: number }> | Iterable<DataPiece | { size: number }>,
  path: string,
  opts: WriteOptions = {},
): Promise<WrittenData> {
  return writing(path, opts, async (w) => {
    for await (const p of pieces) {
      if ('size' in p) return w.end(p.size);
      if (!w.write(p.offset, p.data)) await w.drain();
    }
    throw new RangeError('the data ended without its size');
  });
}

/**
 * Writes the bytes of `input` (a byte stream: a download, a source file) to a new file `path` with a
 * {@link SparseWriter}. The caller owns `path` as with {@link writeExtentsBody}.
 */
export function writeSparse(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  path: string,
  opts: WriteOptions = {},
): Promise<WrittenData> {
  return writing(path, opts, async (w) => {
    let pos = 0;
    await feed(input, (chunk) => {
      const more = w.write(pos, chunk);
      pos += chunk.length;
      return more ? undefined : w.drain();
    });
    return w.end(pos);
  });
}
