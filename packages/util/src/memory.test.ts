import assert from 'node:assert/strict';
import { constants, readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { alignedBuffer, DIRECT_IO_ALIGNMENT, keepFreedHeap } from './memory.js';

test('alignedBuffer gives memory an O_DIRECT write takes, where memory Node allocates may be refused', async () => {
  const buf = alignedBuffer(1 << 20);
  assert.ok(buf, 'the native helper is built with the package');
  assert.equal(buf.length, 1 << 20);
  buf.fill(7);
  // On a disk filesystem, which takes O_DIRECT.
  const dir = await mkdtemp('/var/tmp/stratus-direct-');
  try {
    const path = join(dir, 'f');
    const { O_WRONLY, O_CREAT, O_EXCL, O_DIRECT } = constants;
    const fh = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0o600);
    try {
      assert.equal((await fh.write(buf, 0, buf.length, 0)).bytesWritten, buf.length);
      // Off the alignment by 8 bytes: the kernel refuses it, so the success above is the alignment's.
      const off = buf.subarray(8, 8 + DIRECT_IO_ALIGNMENT);
      await assert.rejects(fh.write(off, 0, off.length, 0), { code: 'EINVAL' });
    } finally {
      await fh.close();
    }
    assert.ok((await readFile(path)).equals(buf));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.throws(() => alignedBuffer(0), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('keepFreedHeap holds the freed heap until every holder lets go, then gives it back', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
  const first = keepFreedHeap();
  const second = keepFreedHeap();
  // 16 MiB in 64 KiB buffers (from glibc's heap, as socket reads are), then freed.
  let bufs: Buffer[] | null = Array.from({ length: 256 }, () => Buffer.alloc(64 * 1024, 1));
  assert.equal(bufs.length, 256);
  bufs = null;
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const freed = rssMb();
  first();
  first(); // twice: still one holder left
  assert.ok(rssMb() > freed - 4, 'the heap was given back while one holder was left');
  second();
  assert.ok(
    rssMb() < freed - 8,
    `the last holder's release gave back ${(freed - rssMb()).toFixed(1)} MB of 16`,
  );
});
