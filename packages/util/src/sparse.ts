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
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';

/** Block of the content checksum and of hole detection when writing, in bytes (64 KiB). */
export const CONTENT_BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(CONTENT_BLOCK);

/** Largest piece of data {@link readExtents} yields at once, in bytes (1 MiB, a multiple of the block). */
const PIECE = 16 * CONTENT_BLOCK;

/** lseek with SEEK_DATA (`hole` false) or SEEK_HOLE; -1 when no data follows `offset`. */
type Seek = (fd: number, offset: number, hole: boolean) => number;

let seekFn: Seek | null | undefined;

/**
 * The native lseek of `native/seek.c` (built with the package), or null where it could not be built or
 * loaded (then files are read whole, which gives the same data and checksum, only slower).
 */
function nativeSeek(): Seek | null {
  if (seekFn !== undefined) return seekFn;
  try {
    // By the package's name, not a path relative to this module: bundled into the CLI, this module's
    // URL is the bundle's, and the relative path missed the helper, so the CLI read sparse files whole.
    const req = createRequire(import.meta.url);
    seekFn = (req('@stratus/util/native/seek.node') as { seek: Seek }).seek;
  } catch {
    seekFn = null;
  }
  return seekFn;
}

/**
 * The data extents of the open file `fh` of `size` bytes, as `[start, end)` byte ranges widened to
 * {@link CONTENT_BLOCK} boundaries (the end clipped to `size`), in order and disjoint. Everything outside
 * them reads as zeros. Where SEEK_DATA is not available (no native helper, a filesystem that refuses it),
 * the whole file is one extent.
 */
export function dataExtents(fh: FileHandle, size: number): Array<[number, number]> {
  const seek = nativeSeek();
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

/**
 * Reads the data extents of `fh` (see {@link dataExtents}) in pieces of at most 1 MiB, each starting on a
 * {@link CONTENT_BLOCK} boundary. A file that changes while it is read may give torn data: callers compare
 * checksums end to end. Each yielded buffer is new (callers may keep it).
 */
export async function* readExtents(fh: FileHandle, size: number): AsyncGenerator<DataPiece> {
  for (const [start, end] of dataExtents(fh, size)) {
    for (let pos = start; pos < end; ) {
      const want = Math.min(PIECE, end - pos);
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got === 0) return; // truncated meanwhile: the checksum comparison tells
      yield { offset: pos, data: got === want ? buf : buf.subarray(0, got) };
      pos += got;
    }
  }
}

/** Whether `block` holds zero bytes only. */
export function isZeroBlock(block: Uint8Array): boolean {
  return Buffer.from(block.buffer, block.byteOffset, block.byteLength).equals(ZERO.subarray(0, block.length));
}

/**
 * Computes the content checksum (see the module comment) from whole blocks given in increasing offset
 * order; blocks not given are zeros. `add` takes one block at its offset (a multiple of
 * {@link CONTENT_BLOCK}; only the last block of the file may be shorter).
 */
export class ContentChecksum {
  private readonly outer: Hash = createHash('sha256');
  private next = 0;

  /** Adds the block `block` at `offset`; all-zero blocks are skipped, as holes are. */
  add(offset: number, block: Uint8Array): void {
    if (offset % CONTENT_BLOCK !== 0 || offset < this.next || block.length > CONTENT_BLOCK)
      throw new RangeError(
        `content block at ${offset} (${block.length} bytes) is out of order or misaligned`,
      );
    this.next = offset + block.length;
    if (isZeroBlock(block)) return;
    const head = Buffer.allocUnsafe(8);
    head.writeBigUInt64BE(BigInt(offset));
    this.outer.update(head);
    this.outer.update(createHash('sha256').update(block).digest());
  }

  /** Adds pieces as {@link readExtents} yields them (block-aligned), block by block. */
  addPiece(piece: DataPiece): void {
    for (let off = 0; off < piece.data.length; off += CONTENT_BLOCK)
      this.add(piece.offset + off, piece.data.subarray(off, off + CONTENT_BLOCK));
  }

  /** The checksum of a file of `size` bytes, lower-case hex; the object is spent afterwards. */
  digest(size: number): string {
    if (size < this.next) throw new RangeError(`size ${size} is before data at ${this.next}`);
    const tail = Buffer.allocUnsafe(8);
    tail.writeBigUInt64BE(BigInt(size));
    return this.outer.update(tail).digest('hex');
  }
}

/** The content checksum of the open file `fh` (its data extents only are read). */
export async function contentChecksumOf(fh: FileHandle): Promise<{ sizeBytes: number; checksum: string }> {
  const { size } = await fh.stat();
  const sum = new ContentChecksum();
  for await (const piece of readExtents(fh, size)) sum.addPiece(piece);
  return { sizeBytes: size, checksum: sum.digest(size) };
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

/**
 * Parses a body in the extents wire form into pieces (any length, contiguous within a piece of the
 * sender) and, last, the file size. Throws on a truncated body, offsets going backwards or past the
 * size, or pieces over 16 MiB.
 */
export async function* parseExtents(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<DataPiece | { size: number }> {
  let buf: Buffer = Buffer.alloc(0);
  let remaining = 0; // bytes of the current piece still to come
  let at = 0; // offset of the next byte of the current piece
  let floor = 0; // no piece may start before this
  const it: AsyncIterator<Uint8Array> =
    Symbol.asyncIterator in body
      ? body[Symbol.asyncIterator]()
      : (async function* () {
          yield* body;
        })();
  for (;;) {
    const step = await it.next();
    if (step.done) break;
    const chunk = step.value;
    // A chunk is used in place, not copied (Buffer.from of a Uint8Array copies it).
    buf = buf.length
      ? Buffer.concat([buf, chunk])
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      if (remaining > 0) {
        if (buf.length === 0) break;
        const n = Math.min(remaining, buf.length);
        yield { offset: at, data: buf.subarray(0, n) };
        buf = buf.subarray(n);
        at += n;
        remaining -= n;
        floor = at;
        continue;
      }
      if (buf.length < 12) break;
      const offset = Number(buf.readBigUInt64BE(0));
      const length = buf.readUInt32BE(8);
      buf = buf.subarray(12);
      if (!Number.isSafeInteger(offset) || offset < floor)
        throw new RangeError(`extent at ${offset} overlaps or precedes data up to ${floor}`);
      if (length === 0) {
        if (buf.length) throw new RangeError('data after the end of the extents');
        for (let more = await it.next(); !more.done; more = await it.next())
          if (more.value.length) throw new RangeError('data after the end of the extents');
        yield { size: offset };
        return;
      }
      if (length > 16 * 1024 * 1024) throw new RangeError(`extent of ${length} bytes is over 16 MiB`);
      at = offset;
      remaining = length;
    }
  }
  throw new RangeError('the extents body ended before its size');
}
