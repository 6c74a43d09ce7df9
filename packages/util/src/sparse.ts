/**
 * Image data in proportion to its content, not its apparent size: the data extents of a sparse file
 * (found with lseek SEEK_DATA/SEEK_HOLE, never by reading holes), and Stratus's content checksum, which
 * holes and all-zero blocks do not enter, so a 20 GiB raw file holding 20 MiB of data is read, sent and
 * hashed as 20 MiB.
 *
 * **The content checksum (version 1).** The file is cut into {@link CONTENT_BLOCK} blocks (64 KiB; the last
 * one ends at the file's end). For every block that is not all zero bytes, in offset order, the 8-byte
 * big-endian offset of the block and the SHA-256 of its bytes (32 bytes) go into an outer SHA-256; then the
 * 8-byte big-endian size of the file. The checksum is that outer digest in lower-case hex. It depends on
 * the bytes only: a hole and a block of written zeros are the same content, so the checksum does not change
 * with how a filesystem or copy tool allocated the file, and it can be computed from the data extents
 * alone. It is not the SHA-256 of the file (`sha256sum`); a checksum a user declares is a plain digest of
 * the file and is compared against one computed for that purpose only when declared.
 */
import { createHash, type Hash, hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { nativeHelper } from './native.js';

/** Block of the content checksum and of hole detection when writing, in bytes (64 KiB). */
export const CONTENT_BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(CONTENT_BLOCK);

/** Largest piece of data {@link readExtents} yields at once, in bytes (1 MiB, a multiple of the block). */
const PIECE = 16 * CONTENT_BLOCK;

/** lseek with SEEK_DATA (`hole` false) or SEEK_HOLE; -1 when no data follows `offset`. */
type Seek = (fd: number, offset: number, hole: boolean) => number;

/**
 * The data extents of the open file `fh` of `size` bytes, as `[start, end)` byte ranges widened to
 * {@link CONTENT_BLOCK} boundaries (the end clipped to `size`), in order and disjoint. Everything outside
 * them reads as zeros. Where SEEK_DATA is not available (no native helper, a filesystem that refuses it),
 * the whole file is one extent.
 */
export function dataExtents(fh: FileHandle, size: number): Array<[number, number]> {
  const seek = nativeHelper<{ seek: Seek }>('seek')?.seek;
  if (size === 0) return [];
  if (!seek) return [[0, size]];
  const out: Array<[number, number]> = [];
  try {
    let pos = 0;
    while (pos < size) {
      const data = seek(fh.fd, pos, false);
      if (data < 0 || data >= size) break;
      let hole = seek(fh.fd, data, true);
      if (hole < 0 || hole > size) hole = size;
      const start = data - (data % CONTENT_BLOCK);
      const end = Math.min(size, Math.ceil(hole / CONTENT_BLOCK) * CONTENT_BLOCK);
      const last = out.at(-1);
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else out.push([start, end]);
      pos = end;
    }
  } catch {
    // EINVAL: the filesystem does not know holes; read it all.
    return [[0, size]];
  }
  return out;
}

/** A piece of file data at `offset`; pieces of {@link readExtents} start on block boundaries. */
export interface DataPiece {
  offset: number;
  data: Buffer;
}

/** Options of {@link readExtents}. */
export interface ReadExtentsOptions {
  /**
   * Read into two buffers in turn: a yielded piece's buffer is read into again as soon as the next
   * piece is asked for, so the consumer must be done with a piece when it asks for the next one. Without it,
   * each yielded buffer is new (callers may keep it). Fresh buffers of 1 MiB each cost the kernel a
   * page fault per 4 KiB.
   */
  reuse?: boolean;
}

/**
 * Reads the data extents of `fh` (see {@link dataExtents}) in pieces of at most 1 MiB, each starting on a
 * {@link CONTENT_BLOCK} boundary; the next piece is read while the consumer handles the current one. A
 * file that changes while it is read may give torn data: callers compare checksums end to end.
 */
export async function* readExtents(
  fh: FileHandle,
  size: number,
  opts: ReadExtentsOptions = {},
): AsyncGenerator<DataPiece> {
  const spans: Array<[number, number]> = [];
  for (const [start, end] of dataExtents(fh, size))
    for (let pos = start; pos < end; pos += PIECE) spans.push([pos, Math.min(PIECE, end - pos)]);
  const read = async ([pos, want]: [number, number], buf: Buffer) => {
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === 0
      ? null
      : { buf, piece: { offset: pos, data: got === buf.length ? buf : buf.subarray(0, got) } };
  };
  let last: Buffer | null = null; // the buffer of the piece yielded before: free once the next is asked for
  const buffer = (want: number) =>
    opts.reuse ? (last ?? Buffer.allocUnsafe(PIECE)) : Buffer.allocUnsafe(want);
  let next = spans.length > 0 ? read(spans[0]!, buffer(spans[0]![1])) : null;
  try {
    for (let i = 0; next; i++) {
      const got = await next;
      if (!got) return; // truncated meanwhile: the checksum comparison tells
      next = i + 1 < spans.length ? read(spans[i + 1]!, buffer(spans[i + 1]![1])) : null;
      last = got.buf;
      yield got.piece;
    }
  } finally {
    // A consumer that stopped early (or a truncated file) leaves a read in flight: its outcome is moot.
    next?.catch(() => undefined);
  }
}

/** Whether `block` holds zero bytes only. */
export function isZeroBlock(block: Uint8Array): boolean {
  return Buffer.from(block.buffer, block.byteOffset, block.byteLength).equals(ZERO.subarray(0, block.length));
}

/**
 * The outer hash of the content checksum (see the module comment): the blocks that hold data, by their
 * SHA-256, in increasing offset order ({@link ContentHasher} hashes the blocks).
 */
class ContentChecksum {
  private readonly outer: Hash = createHash('sha256');
  private readonly head = Buffer.allocUnsafe(8);
  private next = 0;

  /**
   * Adds the block of `length` bytes at `offset` (a multiple of {@link CONTENT_BLOCK}; only the file's
   * last block may be shorter) that holds data, by its SHA-256 `digest` (32 bytes). Throws a RangeError
   * for a block out of order or misaligned.
   */
  add(offset: number, length: number, digest: Uint8Array): void {
    if (offset % CONTENT_BLOCK !== 0 || offset < this.next || length > CONTENT_BLOCK)
      throw new RangeError(`content block at ${offset} (${length} bytes) is out of order or misaligned`);
    this.next = offset + length;
    this.head.writeBigUInt64BE(BigInt(offset));
    this.outer.update(this.head);
    this.outer.update(digest);
  }

  /** The checksum of a file of `size` bytes, lower-case hex; the object is spent afterwards. */
  digest(size: number): string {
    if (size < this.next) throw new RangeError(`size ${size} is before data at ${this.next}`);
    const tail = Buffer.allocUnsafe(8);
    tail.writeBigUInt64BE(BigInt(size));
    return this.outer.update(tail).digest('hex');
  }
}

/**
 * The upload check: the CRC-32 (zlib's, ISO-HDLC) over, for every {@link CONTENT_BLOCK} block of the file
 * that is not all zero bytes, in offset order, the block's 8-byte big-endian offset and then its bytes;
 * lower-case hex of 8 digits. It has the content checksum's structure at under a third of its cost
 * (zlib's CRC-32 ran at 5.6 GB/s on this host, SHA-256 at 1.7 GB/s): the CLI computes it while reading
 * what it uploads, the agent while writing what it got, and equal values show that the agent put exactly
 * the bytes read at their offsets. It guards against faults, not forgery: the
 * content checksum, which names the data, is always the agent's own.
 */
export class ContentCrc32 {
  private readonly head = Buffer.allocUnsafe(8);

  /** `crc`: the check of the blocks before, to go on from ({@link value}); 0 for none. */
  constructor(private crc = 0) {}

  /** The check so far, an unsigned 32-bit integer. */
  get value(): number {
    return this.crc;
  }

  /** Adds `block` at `offset`, a block the caller knows holds data (not all zeros). */
  addData(offset: number, block: Uint8Array): void {
    this.head.writeBigUInt64BE(BigInt(offset));
    this.crc = crc32(block, crc32(this.head, this.crc));
  }

  /** Adds pieces as {@link readExtents} yields them (block-aligned): each block not all zeros. */
  addPiece(piece: DataPiece): void {
    for (let off = 0; off < piece.data.length; off += CONTENT_BLOCK) {
      const block = piece.data.subarray(off, off + CONTENT_BLOCK);
      if (!isZeroBlock(block)) this.addData(piece.offset + off, block);
    }
  }

  /** The check so far, 8 lower-case hex digits. */
  hex(): string {
    return this.crc.toString(16).padStart(8, '0');
  }
}

/** The functions of `native/digest.c`. */
interface DigestHelper {
  sumBlocks(
    run: Uint8Array,
    offset: number,
    block: number,
    crc: number,
    present: Uint8Array,
    digests: Uint8Array,
  ): Promise<number>;
}

/** Bytes of a SHA-256 digest. */
const DIGEST = 32;

/**
 * {@link ContentHasher}'s work on one run without the native helper, on this thread, with the same
 * outcome as `native/digest.c`'s sumBlocks: `present` and `digests` filled in, the upload check `crc`
 * carried on and answered (-1 for none).
 */
function sumBlocksHere(
  run: Uint8Array,
  offset: number,
  crc: number,
  present: Uint8Array,
  digests: Buffer,
): number {
  const check = crc >= 0 ? new ContentCrc32(crc) : null;
  for (let i = 0, at = 0; at < run.length; i++, at += CONTENT_BLOCK) {
    const block = run.subarray(at, at + CONTENT_BLOCK);
    present[i] = isZeroBlock(block) ? 0 : 1;
    if (!present[i]) continue;
    // The one-shot digest: a Hash object per 64 KiB block showed in profiles at up to a tenth of the hashing.
    digests.set(hash('sha256', block, 'buffer'), i * DIGEST);
    check?.addData(offset + at, block);
  }
  return check ? check.value : -1;
}

/**
 * The content checksum, and when asked the upload check ({@link ContentCrc32}), of a file whose data is
 * given as runs of consecutive blocks. Runs are hashed one after another in the thread pool by the
 * native helper (`native/digest.c`) while the caller goes on taking in the next data; without the
 * helper, on this thread in their turn. For a writer that holds the bytes in place until they are
 * written (the agent's image writer): on this host SHA-256 was a quarter of the agent's CPU time while
 * it took an upload in, all of it on the JavaScript thread.
 */
export class ContentHasher {
  private readonly content = new ContentChecksum();
  private crc: number;
  private readonly helper: DigestHelper | null;
  private last: Promise<unknown> = Promise.resolve();
  private next = 0;

  /**
   * `opts.crc32`: also compute the upload check. `opts.threadPool` false: hash on this thread, as
   * without the native helper (the same results).
   */
  constructor(opts: { crc32?: boolean; threadPool?: boolean } = {}) {
    this.crc = opts.crc32 ? 0 : -1;
    this.helper = opts.threadPool === false ? null : nativeHelper<DigestHelper>('digest');
  }

  /** Whether runs are hashed in the thread pool (the native helper is there, and not declined). */
  get inThreadPool(): boolean {
    return this.helper !== null;
  }

  /**
   * Hashes `run`, the file's bytes at `offset`, once the runs given before are hashed. Answers, then,
   * which of its {@link CONTENT_BLOCK} blocks hold data: byte i is 1 when block i does, 0 when it is all
   * zeros (a hole). The caller must not change `run` until then. Throws a RangeError for an offset that
   * is not a multiple of {@link CONTENT_BLOCK} or before the end of the run before; the promise rejects
   * when hashing failed, and so do those of all later runs.
   */
  add(offset: number, run: Uint8Array): Promise<Uint8Array> {
    if (offset % CONTENT_BLOCK !== 0 || offset < this.next)
      throw new RangeError(`a run at ${offset} is misaligned or comes before data up to ${this.next}`);
    this.next = offset + run.length;
    const blocks = Math.ceil(run.length / CONTENT_BLOCK);
    const present = new Uint8Array(blocks);
    const digests = Buffer.allocUnsafe(blocks * DIGEST);
    const done = this.last.then(async () => {
      this.crc = this.helper
        ? await this.helper.sumBlocks(run, offset, CONTENT_BLOCK, this.crc, present, digests)
        : sumBlocksHere(run, offset, this.crc, present, digests);
      for (let i = 0; i < blocks; i++) {
        const at = i * CONTENT_BLOCK;
        if (present[i])
          this.content.add(
            offset + at,
            Math.min(CONTENT_BLOCK, run.length - at),
            digests.subarray(i * DIGEST, (i + 1) * DIGEST),
          );
      }
      return present;
    });
    this.last = done;
    return done;
  }

  /**
   * Once every run is hashed: the content checksum of the file of `size` bytes and, when asked, its
   * upload check, as {@link ContentChecksum.digest} and {@link ContentCrc32.hex} give them. The object
   * is spent afterwards. Rejects as the runs did, or with a RangeError when `size` is before the data.
   */
  async digest(size: number): Promise<{ checksum: string; contentCrc32?: string }> {
    await this.last;
    return {
      checksum: this.content.digest(size),
      ...(this.crc >= 0 ? { contentCrc32: new ContentCrc32(this.crc).hex() } : {}),
    };
  }
}

/**
 * The content checksum of the open file `fh` (its data extents only are read; each piece is hashed in
 * the thread pool while the next is read, see {@link ContentHasher}).
 */
export async function contentChecksumOf(fh: FileHandle): Promise<{ sizeBytes: number; checksum: string }> {
  const { size } = await fh.stat();
  const sum = new ContentHasher();
  for await (const piece of readExtents(fh, size, { reuse: true })) await sum.add(piece.offset, piece.data);
  return { sizeBytes: size, checksum: (await sum.digest(size)).checksum };
}

/**
 * The wire form of data extents (the body of an image upload, `application/vnd.stratus.extents`): for each
 * piece, an 8-byte big-endian offset, a 4-byte big-endian length and the bytes; then the file's size as
 * the offset of a piece of length 0, which ends the body. Pieces are in increasing offset order.
 */
export const EXTENTS_MEDIA_TYPE = 'application/vnd.stratus.extents';

/** The header of one piece of the extents wire form (see {@link EXTENTS_MEDIA_TYPE}). */
export function extentHeader(offset: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(12);
  h.writeBigUInt64BE(BigInt(offset), 0);
  h.writeUInt32BE(length, 8);
  return h;
}

/** Largest piece the extents wire form may carry, in bytes (16 MiB). */
const MAX_EXTENT = 16 * 1024 * 1024;

/**
 * A parser of a body in the extents wire form (see {@link EXTENTS_MEDIA_TYPE}) fed chunk by chunk, as they
 * come off a socket: {@link push} hands each piece of data to `onData` synchronously, in place (a
 * sub-array of the chunk, no copy; any length, contiguous within a piece of the sender), and {@link end}
 * answers the file's size. No promise per chunk: an upload of 512 MiB is 8,192 socket reads.
 */
export class ExtentsParser {
  private readonly head = Buffer.allocUnsafe(12);
  private headLength = 0; // bytes of a header split across chunks gathered so far
  private remaining = 0; // bytes of the current piece still to come
  private at = 0; // offset of the next byte of the current piece
  private floor = 0; // no piece may start before this
  private size: number | null = null;

  constructor(private readonly onData: (offset: number, data: Buffer) => void) {}

  /**
   * Parses the next chunk of the body. Throws a RangeError on a piece that overlaps or precedes earlier
   * data, a piece over 16 MiB, or bytes after the end of the body.
   */
  push(chunk: Uint8Array): void {
    // Used in place, not copied (Buffer.from of a Uint8Array copies it).
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (pos < buf.length) {
      if (this.size !== null) throw new RangeError('data after the end of the extents');
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, buf.length - pos);
        this.onData(this.at, buf.subarray(pos, pos + n));
        pos += n;
        this.at += n;
        this.remaining -= n;
        this.floor = this.at;
        continue;
      }
      let header: Buffer;
      if (this.headLength === 0 && buf.length - pos >= 12) {
        header = buf.subarray(pos, pos + 12);
        pos += 12;
      } else {
        const n = Math.min(12 - this.headLength, buf.length - pos);
        buf.copy(this.head, this.headLength, pos, pos + n);
        this.headLength += n;
        pos += n;
        if (this.headLength < 12) return;
        this.headLength = 0;
        header = this.head;
      }
      const offset = Number(header.readBigUInt64BE(0));
      const length = header.readUInt32BE(8);
      if (!Number.isSafeInteger(offset) || offset < this.floor)
        throw new RangeError(`extent at ${offset} overlaps or precedes data up to ${this.floor}`);
      if (length === 0) this.size = offset;
      else if (length > MAX_EXTENT) throw new RangeError(`extent of ${length} bytes is over 16 MiB`);
      else {
        this.at = offset;
        this.remaining = length;
      }
    }
  }

  /** The file's size, once the whole body was pushed. Throws a RangeError when the body ended early. */
  end(): number {
    if (this.size === null) throw new RangeError('the extents body ended before its size');
    return this.size;
  }
}

/**
 * Parses a body in the extents wire form into pieces (as {@link ExtentsParser} hands them on) and, last,
 * the file size. Throws as {@link ExtentsParser} does.
 */
export async function* parseExtents(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<DataPiece | { size: number }> {
  const pieces: DataPiece[] = [];
  const parser = new ExtentsParser((offset, data) => pieces.push({ offset, data }));
  for await (const chunk of body) {
    parser.push(chunk);
    yield* pieces;
    pieces.length = 0;
  }
  yield { size: parser.end() };
}
