/**
 * Memory for moving image data, which Node cannot arrange itself; the native helper `native/memory.c`
 * does (without it: buffers from Node, and glibc's defaults).
 *
 * **Direct I/O** (O_DIRECT): image data goes from the process's memory to the disk without a copy into
 * the page cache. On this host a buffered write of 512 MiB cost the kernel 0.3-1.2 s of CPU time copying
 * into fresh page-cache pages, and the fsync after it waited for all of it; `dd oflag=direct` wrote the
 * same in 0.48 s with 0.17 s of CPU. O_DIRECT wants memory, file offsets and lengths aligned to the
 * device's logical block size; {@link DIRECT_IO_ALIGNMENT} covers every common one.
 *
 * **The freed heap** while a stream is taken in: Node reads a socket into a new 64 KiB buffer per read,
 * and glibc gave the freed top of its heap back to the kernel again and again, to fault it in again for
 * the next reads (see {@link keepFreedHeap}).
 */
import { constants } from 'node:fs';
import { nativeHelper } from './native.js';

/** Alignment of the memory, file offsets and lengths of direct writes, in bytes (4096). */
export const DIRECT_IO_ALIGNMENT = 4096;

/** The functions of `native/memory.c`. */
interface MemoryHelper {
  alignedBuffer(size: number): ArrayBuffer;
  keepFreedHeap(keep: boolean): boolean;
}

/**
 * A buffer of `size` bytes whose memory starts on a {@link DIRECT_IO_ALIGNMENT} boundary (contents not
 * zeroed), or null where direct I/O is not available: no O_DIRECT (not Linux) or no native helper (not
 * built). Throws what the helper throws (ENOMEM; a size outside 1 to 2^30).
 */
export function alignedBuffer(size: number): Buffer | null {
  const h = constants.O_DIRECT === undefined ? null : nativeHelper<MemoryHelper>('memory');
  return h ? Buffer.from(h.alignedBuffer(size)) : null;
}

let keepers = 0;

/**
 * Keeps up to 32 MiB freed at the top of glibc's heap in the process rather than giving it back to the
 * kernel at once (M_TRIM_THRESHOLD; glibc's default is 128 KiB), until the function it answers is called
 * (by every caller that asked: the default then comes back and the heap is trimmed). For the time a
 * large stream is taken in: bench/image-import's 512 MiB import took 3.5-3.6 s with glibc's default and
 * 2.0-2.3 s with this. Only while it lasts, so that the agent's memory after other work
 * is as before (a threshold of 32 MiB for good left it at 81 MB after bench/apply's ten creates). A no-op
 * without the native helper.
 */
export function keepFreedHeap(): () => void {
  const h = nativeHelper<MemoryHelper>('memory');
  if (!h) return () => undefined;
  if (keepers++ === 0) h.keepFreedHeap(true);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--keepers === 0) h.keepFreedHeap(false);
  };
}
