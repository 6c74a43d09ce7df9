/**
 * Copying image data in-process: no `cp` child that could outlive a killed agent, all-zero blocks left as
 * holes (a raw image's unused space costs no disk), and the SHA-256 computed in the same pass.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/** Size of the blocks checked for zeros, in bytes (a multiple of every common filesystem block size). */
export const SPARSE_BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(SPARSE_BLOCK);

/** What {@link writeSparse} wrote. */
export interface WrittenData {
  /** Bytes of the file (holes included). */
  sizeBytes: number;
  /** SHA-256 of every byte read, lower-case hex. */
  checksum: string;
}

/**
 * Writes the bytes of `input` to a new file `path` (created with `mode`, refused when it exists), leaving
 * all-zero {@link SPARSE_BLOCK} blocks as holes, and fsyncs it. The file is not removed on failure: the
 * caller owns `path` (a temporary it removes, or that the agent sweeps at its next start).
 */
export async function writeSparse(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  path: string,
  mode = 0o600,
): Promise<WrittenData> {
  const fh = await open(path, 'wx', mode);
  try {
    const hash = createHash('sha256');
    const block = Buffer.allocUnsafe(SPARSE_BLOCK);
    let fill = 0;
    let pos = 0;
    const flush = async () => {
      if (fill === 0) return;
      if (!block.subarray(0, fill).equals(ZERO.subarray(0, fill))) await fh.write(block, 0, fill, pos);
      pos += fill;
      fill = 0;
    };
    for await (const chunk of input) {
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(SPARSE_BLOCK - fill, chunk.length - off);
        block.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === SPARSE_BLOCK) await flush();
      }
    }
    await flush();
    // Trailing holes: the size is set explicitly, as nothing was written there.
    await fh.truncate(pos);
    await fh.chmod(mode);
    await fh.sync();
    return { sizeBytes: pos, checksum: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}
