/**
 * Copying image data in-process: no `cp` child that could outlive a killed agent, all-zero blocks left as
 * holes (a raw image's unused space costs no disk), and the content checksum (and, when asked, the plain
 * SHA-256 of the file) computed in the same pass. Data comes as a byte stream (a download, a source
 * file) or as data extents (an upload from the CLI, which sends a sparse file's data only).
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { CONTENT_BLOCK, ContentChecksum, type DataPiece, isZeroBlock } from '@stratus/util';

/** Size of the blocks checked for zeros, in bytes (a multiple of every common filesystem block size). */
export const SPARSE_BLOCK = CONTENT_BLOCK;
const ZERO = Buffer.alloc(SPARSE_BLOCK);
/**
 * The most bytes written by one write: consecutive blocks with data go to the file together (one awaited
 * write per 64 KiB block made a 512 MiB upload 8,192 thread-pool round trips in a row).
 */
const WRITE_RUN = 1024 * 1024;

/** What {@link writeSparse} or {@link writeExtents} wrote. */
export interface WrittenData {
  /** Bytes of the file (holes included). */
  sizeBytes: number;
  /** Stratus's content checksum of the file (see `@stratus/util` sparse.ts), lower-case hex. */
  checksum: string;
  /** SHA-256 of the file's bytes (holes as zeros), lower-case hex; only when asked for. */
  sha256?: string;
}

/** Options of {@link writeExtents} and {@link writeSparse}. */
export interface WriteOptions {
  /** File mode of the new file (default 0600). */
  mode?: number;
  /** Also compute the plain SHA-256 of the file (costs a pass over the holes' zeros too). */
  sha256?: boolean;
}

/**
 * Writes data extents to a new file `path` (created with `opts.mode`, refused when it exists): `pieces`
 * in increasing offset order, then `{size}` last, the file's size; bytes not given are zeros. All-zero
 * {@link SPARSE_BLOCK} blocks are left as holes; the file is fsynced. Throws on pieces out of order or
 * past the size. The file is not removed on failure: the caller owns `path` (a temporary it removes, or
 * that the agent sweeps at its next start).
 */
export async function writeExtents(
  pieces: AsyncIterable<DataPiece | { size: number }> | Iterable<DataPiece | { size: number }>,
  path: string,
  opts: WriteOptions = {},
): Promise<WrittenData> {
  const mode = opts.mode ?? 0o600;
  const fh = await open(path, 'wx', mode);
  // The write in flight, if any: settled before the file is closed, whatever happens.
  const inFlight: { write: Promise<unknown> | null } = { write: null };
  try {
    const content = new ContentChecksum();
    const plain: Hash | null = opts.sha256 ? createHash('sha256') : null;
    let plainAt = 0;
    const zerosTo = (end: number) => {
      while (plain && plainAt < end) {
        const n = Math.min(SPARSE_BLOCK, end - plainAt);
        plain.update(ZERO.subarray(0, n));
        plainAt += n;
      }
    };
    const block = Buffer.alloc(SPARSE_BLOCK);
    let blockStart = -1; // offset of the block being filled; -1: none
    let filledTo = 0; // bytes of the block given so far (gaps before them zeroed)
    let next = 0; // no byte may come before this
    // Blocks with data gather in `run` (at file offset `runStart`) until one that does not follow them;
    // then the run is written while the next one gathers in the other buffer (one write in flight, so
    // the thread pool's write overlaps this thread's parsing and hashing).
    const buffers = [Buffer.allocUnsafe(WRITE_RUN), Buffer.allocUnsafe(WRITE_RUN)];
    let run = buffers[0]!;
    let runStart = 0;
    let runLength = 0;
    const writeRun = async () => {
      if (inFlight.write) await inFlight.write;
      inFlight.write = null;
      if (runLength === 0) return;
      inFlight.write = fh.write(run, 0, runLength, runStart);
      // Awaited by the next writeRun or at the end; this only keeps a failure from going unhandled.
      inFlight.write.catch(() => undefined);
      run = run === buffers[0] ? buffers[1]! : buffers[0]!;
      runLength = 0;
    };
    // Ends the block being filled (its first `len` bytes); a promise only when a write had to wait, so
    // the loop below awaits nothing for most blocks.
    const flush = (len: number): Promise<void> | undefined => {
      if (blockStart < 0) return;
      block.fill(0, filledTo, len);
      const bytes = block.subarray(0, len);
      content.add(blockStart, bytes);
      zerosTo(blockStart);
      plain?.update(bytes);
      plainAt = blockStart + len;
      const start = blockStart;
      blockStart = -1;
      filledTo = 0;
      if (isZeroBlock(bytes)) return;
      const append = () => {
        if (runLength === 0) runStart = start;
        runLength += bytes.copy(run, runLength);
      };
      if (runLength > 0 && (runStart + runLength !== start || runLength + len > WRITE_RUN))
        return writeRun().then(append);
      append();
    };
    let size: number | null = null;
    for await (const p of pieces) {
      if ('size' in p) {
        size = p.size;
        break;
      }
      if (p.offset < next) throw new RangeError(`data at ${p.offset} comes after data up to ${next}`);
      let off = 0;
      while (off < p.data.length) {
        const at = p.offset + off;
        const start = at - (at % SPARSE_BLOCK);
        if (start !== blockStart) {
          const waiting = flush(SPARSE_BLOCK); // a block followed by later data is whole
          if (waiting) await waiting;
          blockStart = start;
        }
        const inBlock = at - start;
        const n = Math.min(SPARSE_BLOCK - inBlock, p.data.length - off);
        if (inBlock > filledTo) block.fill(0, filledTo, inBlock);
        block.set(p.data.subarray(off, off + n), inBlock);
        filledTo = inBlock + n;
        off += n;
      }
      next = p.offset + p.data.length;
    }
    if (size === null) throw new RangeError('the data ended without its size');
    if (!Number.isSafeInteger(size) || size < next)
      throw new RangeError(`size ${size} is before data up to ${next}`);
    if (blockStart >= 0) await flush(Math.min(SPARSE_BLOCK, size - blockStart));
    await writeRun();
    await inFlight.write;
    inFlight.write = null;
    zerosTo(size);
    // Trailing holes: the size is set explicitly, as nothing was written there.
    await fh.truncate(size);
    await fh.chmod(mode);
    await fh.sync();
    return {
      sizeBytes: size,
      checksum: content.digest(size),
      ...(plain ? { sha256: plain.digest('hex') } : {}),
    };
  } finally {
    await inFlight.write?.catch(() => undefined);
    await fh.close();
  }
}

/**
 * Writes the bytes of `input` (a byte stream: a download, a source file) to a new file `path` as
 * {@link writeExtents} does.
 */
export async function writeSparse(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  path: string,
  opts: WriteOptions = {},
): Promise<WrittenData> {
  async function* pieces(): AsyncGenerator<DataPiece | { size: number }> {
    let pos = 0;
    for await (const chunk of input) {
      yield { offset: pos, data: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) };
      pos += chunk.length;
    }
    yield { size: pos };
  }
  return writeExtents(pieces(), path, opts);
}
