import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { nativeHelper } from './native.js';
import {
  CONTENT_BLOCK,
  ContentCrc32,
  ContentHasher,
  contentChecksumOf,
  dataExtents,
  extentHeader,
  parseExtents,
  readExtents,
} from './sparse.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratus-sparse-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The content checksum by its definition, from every byte of `data` (written apart from sparse.ts). */
function reference(data: Buffer): string {
  const outer = createHash('sha256');
  for (let off = 0; off < data.length; off += 65536) {
    const block = data.subarray(off, off + 65536);
    if (block.equals(Buffer.alloc(block.length))) continue;
    const head = Buffer.alloc(8);
    head.writeBigUInt64BE(BigInt(off));
    outer.update(head).update(createHash('sha256').update(block).digest());
  }
  const tail = Buffer.alloc(8);
  tail.writeBigUInt64BE(BigInt(data.length));
  return outer.update(tail).digest('hex');
}

/** A sparse file: `size` bytes, holes except `parts` written at their offsets. */
async function sparseFile(name: string, size: number, parts: Array<[number, Buffer]>): Promise<string> {
  const path = join(dir, name);
  const fh = await open(path, 'w');
  try {
    for (const [at, bytes] of parts) await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
  await truncate(path, size);
  return path;
}

test('the content checksum follows its definition, for holes and for written zeros alike', async () => {
  const size = 5 * CONTENT_BLOCK + 1234;
  const parts: Array<[number, Buffer]> = [
    [100, Buffer.alloc(10, 1)],
    [3 * CONTENT_BLOCK + 5, Buffer.alloc(70_000, 2)],
  ];
  const holes = await sparseFile('holes.raw', size, parts);
  const whole = await readFile(holes);
  const dense = join(dir, 'dense.raw');
  await writeFile(dense, whole);
  const want = reference(whole);
  for (const path of [holes, dense]) {
    const fh = await open(path, 'r');
    try {
      assert.deepEqual(await contentChecksumOf(fh), { sizeBytes: size, checksum: want });
    } finally {
      await fh.close();
    }
  }
  // Not the plain digest, and the size counts: one more zero byte is another checksum.
  assert.notEqual(want, createHash('sha256').update(whole).digest('hex'));
  assert.notEqual(reference(Buffer.concat([whole, Buffer.alloc(1)])), want);
});

test('data extents skip holes (SEEK_DATA) and are widened to whole blocks', async () => {
  const size = 64 * 1024 * 1024;
  const path = await sparseFile('big.raw', size, [
    [10 * CONTENT_BLOCK + 7, Buffer.alloc(100, 3)],
    [size - 10, Buffer.alloc(10, 4)],
  ]);
  const fh = await open(path, 'r');
  try {
    const ext = dataExtents(fh, size);
    const read = ext.reduce((n, [a, b]) => n + b - a, 0);
    for (const [a] of ext) assert.equal(a % CONTENT_BLOCK, 0);
    // Where the helper is built (it is, with the package, on Linux with Node's headers) and the filesystem
    // knows holes, little of the 64 MiB is read; otherwise the whole file is one extent.
    assert.ok(read <= 2 * 1024 * 1024 || (ext.length === 1 && read === size), JSON.stringify(ext));
    const pieces = [];
    for await (const p of readExtents(fh, size)) pieces.push(p);
    const sum = new ContentHasher();
    for (const p of pieces) await sum.add(p.offset, p.data);
    assert.equal((await sum.digest(size)).checksum, reference(await readFile(path)));
  } finally {
    await fh.close();
  }
});

test('the extents wire form parses back into pieces and the size, and refuses malformed bodies', async () => {
  const a = Buffer.alloc(CONTENT_BLOCK, 9);
  const body = [extentHeader(0, a.length), a.subarray(0, 100), a.subarray(100), extentHeader(1 << 20, 0)];
  const got: unknown[] = [];
  for await (const p of parseExtents(body))
    got.push('size' in p ? p : { offset: p.offset, n: p.data.length });
  assert.deepEqual(got, [{ offset: 0, n: 100 }, { offset: 100, n: CONTENT_BLOCK - 100 }, { size: 1 << 20 }]);
  const drain = async (chunks: Buffer[]) => {
    for await (const _ of parseExtents(chunks));
  };
  await assert.rejects(drain([extentHeader(0, 10), Buffer.alloc(5)]), /ended before its size/);
  await assert.rejects(
    drain([extentHeader(100, 1), Buffer.alloc(1), extentHeader(0, 1), Buffer.alloc(1)]),
    /overlaps or precedes/,
  );
  await assert.rejects(drain([extentHeader(10, 0), Buffer.alloc(1)]), /after the end/);
  await assert.rejects(drain([extentHeader(0, 32 * 1024 * 1024)]), /over 16 MiB/);
});

/** The upload check by its definition, from every byte of `data` (written apart from sparse.ts). */
function referenceCrc(data: Buffer): string {
  let crc = 0;
  for (let off = 0; off < data.length; off += 65536) {
    const block = data.subarray(off, off + 65536);
    if (block.equals(Buffer.alloc(block.length))) continue;
    const head = Buffer.alloc(8);
    head.writeBigUInt64BE(BigInt(off));
    crc = crc32(block, crc32(head, crc));
  }
  return crc.toString(16).padStart(8, '0');
}

test('readExtents with reused buffers hands over each piece as the file has it, reading ahead', async () => {
  // Five pieces and a bit, with a zero block and a hole: the two buffers take turns several times.
  const size = 5 * 1024 * 1024 + 3 * CONTENT_BLOCK + 17;
  const data = randomBytes(size);
  data.fill(0, 20 * CONTENT_BLOCK, 21 * CONTENT_BLOCK);
  const path = await sparseFile('reuse.raw', size, [
    [0, data.subarray(0, 2 * 1024 * 1024)],
    [3 * 1024 * 1024, data.subarray(3 * 1024 * 1024)],
  ]);
  data.fill(0, 2 * 1024 * 1024, 3 * 1024 * 1024);
  const fh = await open(path, 'r');
  try {
    const crc = new ContentCrc32();
    let covered = 0;
    for await (const p of readExtents(fh, size, { reuse: true })) {
      // Checked when handed over, before the next piece is asked for (which may overwrite it).
      assert.ok(p.data.equals(data.subarray(p.offset, p.offset + p.data.length)), `piece at ${p.offset}`);
      crc.addPiece(p);
      covered += p.data.length;
    }
    assert.ok(covered >= size - 1024 * 1024, `only ${covered} bytes came`);
    assert.equal(crc.hex(), referenceCrc(data));
    // A consumer that stops early leaves the read ahead to finish on its own.
    for await (const _ of readExtents(fh, size, { reuse: true })) break;
  } finally {
    await fh.close();
  }
});

test('the upload check follows its definition and tells a moved or changed block', () => {
  const data = Buffer.alloc(4 * CONTENT_BLOCK + 100);
  data.fill(3, 10, 5000);
  data.fill(4, 2 * CONTENT_BLOCK, 3 * CONTENT_BLOCK);
  data.fill(5, 4 * CONTENT_BLOCK);
  const whole = new ContentCrc32();
  whole.addPiece({ offset: 0, data });
  assert.equal(whole.hex(), referenceCrc(data));
  const moved = Buffer.alloc(data.length);
  data.copy(moved, CONTENT_BLOCK, 0, CONTENT_BLOCK);
  data.copy(moved, 2 * CONTENT_BLOCK, 2 * CONTENT_BLOCK);
  const m = new ContentCrc32();
  m.addPiece({ offset: 0, data: moved });
  assert.notEqual(m.hex(), whole.hex());
  const changed = Buffer.from(data);
  changed.writeUInt8(changed.readUInt8(3 * CONTENT_BLOCK - 1) ^ 1, 3 * CONTENT_BLOCK - 1);
  const c = new ContentCrc32();
  c.addPiece({ offset: 0, data: changed });
  assert.notEqual(c.hex(), whole.hex());
});

test('the content hasher gives the checksum and the upload check by their definitions, in the thread pool or not', async () => {
  // Three runs: the first with an all-zero block inside, a gap (a hole) before the second, and the
  // file's short last block at the end of the third.
  const data = Buffer.alloc(12 * CONTENT_BLOCK + 3000);
  data.fill(1, 0, CONTENT_BLOCK);
  data.fill(2, 2 * CONTENT_BLOCK + 7, 3 * CONTENT_BLOCK);
  randomBytes(3 * CONTENT_BLOCK).copy(data, 6 * CONTENT_BLOCK);
  data.fill(4, 12 * CONTENT_BLOCK, 12 * CONTENT_BLOCK + 3000);
  const runs: Array<[number, number]> = [
    [0, 3 * CONTENT_BLOCK],
    [6 * CONTENT_BLOCK, 9 * CONTENT_BLOCK],
    [9 * CONTENT_BLOCK, 12 * CONTENT_BLOCK + 3000],
  ];
  for (const threadPool of [true, false]) {
    const h = new ContentHasher({ crc32: true, threadPool });
    assert.equal(h.inThreadPool, threadPool, 'the native helper is built with the package');
    const present = runs.map(([from, to]) => h.add(from, data.subarray(from, to)));
    assert.deepEqual(
      (await Promise.all(present)).map((p) => [...p]),
      [
        [1, 0, 1],
        [1, 1, 1],
        [0, 0, 0, 1],
      ],
    );
    assert.deepEqual(await h.digest(data.length), {
      checksum: reference(data),
      contentCrc32: referenceCrc(data),
    });
    const plain = new ContentHasher();
    await plain.add(0, data.subarray(0, CONTENT_BLOCK));
    assert.deepEqual(await plain.digest(CONTENT_BLOCK), {
      checksum: reference(data.subarray(0, CONTENT_BLOCK)),
    });
  }
  // The helper refuses arrays too short for the run's blocks, rather than write past them.
  const helper = nativeHelper<{ sumBlocks: (...args: unknown[]) => Promise<number> }>('digest');
  assert.throws(
    () => helper?.sumBlocks(data, 0, CONTENT_BLOCK, -1, new Uint8Array(12), Buffer.alloc(13 * 32)),
    {
      code: 'ERR_INVALID_ARG_TYPE',
    },
  );
  assert.throws(
    () => helper?.sumBlocks(data, 0, CONTENT_BLOCK, -1, new Uint8Array(13), Buffer.alloc(12 * 32)),
    {
      code: 'ERR_INVALID_ARG_TYPE',
    },
  );
  const h = new ContentHasher();
  void h.add(2 * CONTENT_BLOCK, data.subarray(0, CONTENT_BLOCK));
  assert.throws(() => h.add(CONTENT_BLOCK, data.subarray(0, 10)), RangeError);
  assert.throws(() => h.add(3 * CONTENT_BLOCK + 1, data.subarray(0, 10)), RangeError);
});
