import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import {
  CONTENT_BLOCK,
  ContentCrc32,
  contentChecksumOf,
  dataExtents,
  extentHeader,
  parseExtents,
  readExtents,
  sha256File,
} from '@stratus/util';
import { AgentError } from '../errors.js';
import { run } from '../host/exec.js';
import { SparseWriter, writeExtents, writeExtentsBody, writeSparse } from './copy.js';
import { assertTraversable, createPrivateFile, ensureDir, groupId, removeFile } from './files.js';
import { createOverlay, importImage as importFrom, inspectImage } from './images.js';
import { QemuImgStorage } from './qemu-img.js';
import { ImageSources } from './sources.js';

let gid: number;
/** Imports the file at `src` (read here, as a client's upload would be). */
/** The content checksum of the file at `path`. */
async function contentOf(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    return (await contentChecksumOf(fh)).checksum;
  } finally {
    await fh.close();
  }
}

/** The upload check (ContentCrc32) of the file at `path`, as a client computes it while reading. */
async function crcOf(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const crc = new ContentCrc32();
    for await (const piece of readExtents(fh, (await fh.stat()).size)) crc.addPiece(piece);
    return crc.hex();
  } finally {
    await fh.close();
  }
}

const importImage = (src: string, dest: string) => importFrom(createReadStream(src), dest, { gid }, src);

let dir: string;
before(async () => {
  // mkdtemp makes 0700 directories, which QEMU's user could not traverse.
  dir = await mkdtemp('/var/tmp/stratus-images-test-');
  await chmod(dir, 0o755);
  gid = await groupId('libvirt-qemu');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(AgentError.isInstance(e), `expected an AgentError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

async function qcow2WithData(path: string): Promise<void> {
  // A qcow2 holding some written data, so that checksums and sparse copies are meaningful.
  const raw = `${path}.raw`;
  await writeFile(raw, Buffer.concat([Buffer.alloc(1 << 20, 0x5a), Buffer.alloc(3 << 20)]));
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, path]);
  await rm(raw);
}

test('inspectImage reports format, sizes and backing file', async () => {
  const base = join(dir, 'inspect-base.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '8M']);
  const info = await inspectImage(base);
  assert.equal(info.format, 'qcow2');
  assert.equal(info.virtualSize, 8 << 20);
  assert.ok(info.actualSize > 0);
  assert.equal(info.backingFile, null);
  assert.equal(info.dataFile, null);

  const child = join(dir, 'inspect-child.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, child]);
  const childInfo = await inspectImage(child);
  assert.equal(childInfo.backingFile, base);
  assert.equal(childInfo.backingFormat, 'qcow2');

  await rejectsWith(inspectImage(join(dir, 'missing.qcow2')), 'image_source_not_found');
});

test('importImage copies into the cache atomically with format, size and content checksum', async () => {
  const src = join(dir, 'src.qcow2');
  await qcow2WithData(src);
  const dest = join(dir, 'cache', 'sub', 'image-1');
  const imported = await importImage(src, dest);
  assert.equal(imported.format, 'qcow2');
  assert.equal(imported.virtualSize, 4 << 20);
  assert.equal(imported.sizeBytes, (await stat(dest)).size);
  assert.equal(imported.checksum, await contentOf(src));
  assert.equal(imported.checksum, await contentOf(dest));
  assert.equal((await stat(dest)).mode & 0o777, 0o640);
  assert.equal((await stat(dest)).gid, gid);
  // Directories it created are traversable (not listable) by QEMU's user whatever the umask.
  assert.equal((await stat(join(dir, 'cache'))).mode & 0o777, 0o711);
  assert.equal((await stat(join(dir, 'cache', 'sub'))).mode & 0o777, 0o711);
  // No temp files left behind.
  assert.deepEqual(await readdir(join(dir, 'cache', 'sub')), ['image-1']);

  const raw = join(dir, 'src.raw');
  await writeFile(raw, Buffer.alloc(1 << 20, 1));
  const rawImported = await importImage(raw, join(dir, 'cache', 'raw-1'));
  assert.equal(rawImported.format, 'raw');
  assert.equal(rawImported.virtualSize, 1 << 20);
});

test('importImage refuses backing files, external data files and missing sources', async () => {
  const base = join(dir, 'refuse-base.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '4M']);
  const child = join(dir, 'refuse-child.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, child]);
  const cache = join(dir, 'refuse-cache');
  await rejectsWith(importImage(child, join(cache, 'a')), 'image_has_backing_file');

  // Even a backing file that does not exist is refused (not mistaken for a missing source).
  const dangling = join(dir, 'refuse-dangling.qcow2');
  await run('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-u',
    '-F',
    'raw',
    '-b',
    '/etc/shadow-nope',
    dangling,
    '4M',
  ]);
  await rejectsWith(importImage(dangling, join(cache, 'b')), 'image_has_backing_file');

  const withData = join(dir, 'refuse-datafile.qcow2');
  const dataFile = join(dir, 'refuse-datafile.raw');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${dataFile}`, withData, '4M']);
  await rejectsWith(importImage(withData, join(cache, 'c')), 'image_has_external_data_file');

  // A vmdk whose data lives in another file (a flat extent): it could name any host file.
  const vmdk = join(dir, 'refuse.vmdk');
  await run('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', vmdk, '4M']);
  await rejectsWith(importImage(vmdk, join(cache, 'd')), 'image_has_external_data_file');

  const vdi = join(dir, 'refuse.vdi');
  await run('qemu-img', ['create', '-q', '-f', 'vdi', vdi, '4M']);
  await rejectsWith(importImage(vdi, join(cache, 'e')), 'image_format_unsupported');

  // Nothing refused made it into the cache, not even a temp file.
  assert.deepEqual(await readdir(cache), []);
});

test('importImage converts vmdk and vhdx to qcow2, keeping the source format and checksum', async () => {
  for (const fmt of ['vmdk', 'vhdx'] as const) {
    const raw = join(dir, `conv-${fmt}.raw`);
    await writeFile(raw, Buffer.alloc(1 << 20, 7));
    const src = join(dir, `conv.${fmt}`);
    await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', fmt, raw, src]);
    const dest = join(dir, 'conv-cache', fmt);
    const imported = await importImage(src, dest);
    assert.equal(imported.format, 'qcow2');
    assert.equal(imported.sourceFormat, fmt);
    assert.equal(imported.checksum, await contentOf(src));
    assert.equal((await inspectImage(dest)).format, 'qcow2');
    assert.equal((await stat(dest)).mode & 0o777, 0o640);
  }
});

test('createOverlay makes a thin qcow2 on the base and is idempotent', async () => {
  const base = join(dir, 'ovl-base.qcow2');
  await qcow2WithData(base);
  const overlay = join(dir, 'instances', 'srv', 'disk.qcow2');
  const first = await createOverlay(base, 'qcow2', overlay, 64 << 20);
  assert.deepEqual(first, { created: true, virtualSize: 64 << 20 });
  const info = await inspectImage(overlay);
  assert.equal(info.format, 'qcow2');
  assert.equal(info.backingFile, base);
  assert.equal(info.backingFormat, 'qcow2');
  assert.equal(info.virtualSize, 64 << 20);
  assert.ok((await stat(overlay)).size < 1 << 20, 'overlay must not copy the base');
  assert.equal((await stat(overlay)).mode & 0o777, 0o600);

  // Guest data written to the overlay survives a second call.
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x42 0 64k', overlay]);
  const before = await sha256File(overlay);
  assert.deepEqual(await createOverlay(base, 'qcow2', overlay, 64 << 20), {
    created: false,
    virtualSize: 64 << 20,
  });
  assert.equal(await sha256File(overlay), before);

  const otherBase = join(dir, 'ovl-other.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', otherBase, '4M']);
  await rejectsWith(createOverlay(otherBase, 'qcow2', overlay), 'overlay_conflict');
  await rejectsWith(createOverlay(base, 'raw', overlay), 'overlay_conflict');

  // Default size is the base's; smaller is refused; the base's format is checked.
  const d2 = join(dir, 'instances', 'srv2', 'disk.qcow2');
  assert.deepEqual(await createOverlay(base, 'qcow2', d2), { created: true, virtualSize: 4 << 20 });
  await rejectsWith(createOverlay(base, 'qcow2', join(dir, 'small.qcow2'), 1 << 20), 'overlay_too_small');
  await rejectsWith(createOverlay(base, 'raw', join(dir, 'wrongfmt.qcow2')), 'image_format_unsupported');
  await rejectsWith(createOverlay(base, 'vmdk', join(dir, 'wrongfmt.qcow2')), 'image_format_unsupported');
  assert.deepEqual(await readdir(join(dir, 'instances', 'srv')), ['disk.qcow2']);

  assert.equal(await removeFile(d2), true);
  assert.equal(await removeFile(d2), false);
});

test('ensureDir creates 0711 directories and refuses paths QEMU cannot traverse', async () => {
  const deep = join(dir, 'ens', 'a', 'b');
  const old = process.umask(0o077);
  try {
    await ensureDir(deep);
  } finally {
    process.umask(old);
  }
  for (const d of [join(dir, 'ens'), join(dir, 'ens', 'a'), deep]) {
    assert.equal((await stat(d)).mode & 0o777, 0o711);
  }
  const closed = join(dir, 'closed');
  await mkdir(closed, { mode: 0o700 });
  await chmod(closed, 0o700);
  await rejectsWith(ensureDir(join(closed, 'x')), 'path_not_traversable');
  await rejectsWith(assertTraversable(closed), 'path_not_traversable');
  await chmod(closed, 0o711);
  await assertTraversable(closed);
});

test('writeSparse leaves zero blocks as holes; content checksum always, plain SHA-256 when asked', async () => {
  const data = Buffer.concat([
    Buffer.alloc(1 << 20),
    Buffer.alloc(70_000, 7),
    Buffer.alloc(2 << 20),
    Buffer.from('end'),
  ]);
  const chunks = [data.subarray(0, 100), data.subarray(100, 1_500_000), data.subarray(1_500_000)];
  const out = join(dir, 'sparse.raw');
  const w = await writeSparse(
    (async function* () {
      yield* chunks;
    })(),
    out,
    { sha256: true },
  );
  assert.equal(w.sizeBytes, data.length);
  assert.equal(w.sha256, createHash('sha256').update(data).digest('hex'));
  assert.deepEqual(await readFile(out), data);
  assert.equal(w.checksum, await contentOf(out));
  const st = await stat(out);
  assert.ok(st.blocks * 512 < data.length / 2, `zero blocks were written: ${st.blocks * 512} bytes used`);
  assert.equal(st.mode & 0o777, 0o600);
  // Trailing zeros are a hole, and the size is still right.
  const tail = join(dir, 'sparse-tail.raw');
  const t = await writeSparse([Buffer.alloc(10, 1), Buffer.alloc(300_000)], tail);
  assert.equal((await stat(tail)).size, 300_010);
  assert.equal(t.sizeBytes, 300_010);
  assert.equal(t.sha256, undefined);
});

test('writeExtents: data of several write runs, with zero blocks inside, cut anywhere, lands byte for byte', async () => {
  // 3.5 MiB: more than three 1 MiB writes; two zero blocks inside (one at a run's boundary) stay holes.
  const bytes = Buffer.alloc(3.5 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24 || 1;
  bytes.fill(0, 17 * CONTENT_BLOCK, 18 * CONTENT_BLOCK);
  bytes.fill(0, 32 * CONTENT_BLOCK, 33 * CONTENT_BLOCK);
  const wire = Buffer.concat([extentHeader(0, bytes.length), bytes, extentHeader(bytes.length, 0)]);
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < wire.length; i++) {
    const n = [12_345, 65_536, 777, 300_001][i % 4]!;
    chunks.push(wire.subarray(at, at + n));
    at += n;
  }
  const out = join(dir, 'runs.raw');
  // As an upload comes: a stream of socket chunks, taken by its data events.
  const w = await writeExtentsBody(Readable.from(chunks), out, { sha256: true, contentCrc32: true });
  assert.deepEqual(await readFile(out), bytes);
  assert.equal(w.sha256, createHash('sha256').update(bytes).digest('hex'));
  const dense = join(dir, 'runs-dense.raw');
  await writeFile(dense, bytes);
  assert.equal(w.checksum, await contentOf(dense));
  assert.equal(w.contentCrc32, await crcOf(dense));
  // The zero blocks are holes (asked of the filesystem: its block count also holds extent-tree blocks).
  const written = await open(out, 'r');
  try {
    assert.deepEqual(dataExtents(written, bytes.length), [
      [0, 17 * CONTENT_BLOCK],
      [18 * CONTENT_BLOCK, 32 * CONTENT_BLOCK],
      [33 * CONTENT_BLOCK, bytes.length],
    ]);
  } finally {
    await written.close();
  }
  // Small pieces with gaps inside one block, right after a block of data: the gaps read as zeros.
  const full = Buffer.alloc(CONTENT_BLOCK, 9);
  const small = Buffer.alloc(10, 5);
  const gappy = join(dir, 'gaps.raw');
  await writeExtents(
    [
      { offset: 0, data: full },
      { offset: CONTENT_BLOCK + 100, data: small },
      { offset: CONTENT_BLOCK + 5000, data: small },
      { size: 2 * CONTENT_BLOCK },
    ],
    gappy,
  );
  const expected = Buffer.alloc(2 * CONTENT_BLOCK);
  full.copy(expected, 0);
  small.copy(expected, CONTENT_BLOCK + 100);
  small.copy(expected, CONTENT_BLOCK + 5000);
  assert.deepEqual(await readFile(gappy), expected);
});

test('SparseWriter asks a feeder that gives faster than the disk takes to wait; 40 MiB land whole, flushed as they go', async () => {
  const bytes = randomBytes(40 * 1024 * 1024);
  const out = join(dir, 'queued.raw');
  const w = await SparseWriter.create(out, { contentCrc32: true });
  try {
    // Given all at once, without waiting: runs queue up for the disk beyond what the writer wants.
    let refused = 0;
    for (let at = 0; at < bytes.length; at += 1 << 20)
      if (!w.write(at, bytes.subarray(at, at + (1 << 20)))) refused++;
    assert.ok(refused > 0, 'the writer never asked its feeder to wait');
    await w.drain();
    assert.equal(w.write(bytes.length, Buffer.alloc(0)), true, 'drained: the writer takes more');
    const r = await w.end(bytes.length);
    assert.equal(r.sizeBytes, bytes.length);
    assert.ok((await readFile(out)).equals(bytes), 'the file holds the bytes given');
    assert.equal(r.checksum, await contentOf(out));
    assert.equal(r.contentCrc32, await crcOf(out));
  } finally {
    await w.close();
  }
});

test('SparseWriter writes directly to the disk, or through the page cache when asked, byte for byte', async () => {
  // An odd size: the direct write of the last block is padded to the alignment and cut off again.
  const bytes = randomBytes(3 * 1024 * 1024 + 777);
  bytes.fill(0, CONTENT_BLOCK, 2 * CONTENT_BLOCK);
  for (const direct of [true, false]) {
    const out = join(dir, `direct-${direct}.raw`);
    const w = await SparseWriter.create(out, { direct });
    try {
      // The test directory is on a disk filesystem, which takes O_DIRECT.
      assert.equal(w.writesDirectly, direct);
      for (let at = 0; at < bytes.length; at += 100_000)
        if (!w.write(at, bytes.subarray(at, at + 100_000))) await w.drain();
      assert.equal((await w.end(bytes.length)).sizeBytes, bytes.length);
    } finally {
      await w.close();
    }
    assert.ok((await readFile(out)).equals(bytes), `direct ${direct}: the file holds the bytes given`);
  }
});

test('writeExtentsBody refuses a malformed body and fails with a body that breaks off', async () => {
  await assert.rejects(
    writeExtentsBody(Readable.from([extentHeader(0, 32 * 1024 * 1024)]), join(dir, 'big.raw')),
    /over 16 MiB/,
  );
  await assert.rejects(
    writeExtentsBody(Readable.from([extentHeader(0, 10), Buffer.alloc(10, 1)]), join(dir, 'short.raw')),
    /ended before its size/,
  );
  // A client that goes away mid-upload: its request stream ends with an error.
  let reads = 0;
  const gone = new Readable({
    read() {
      if (reads++ > 0) return this.destroy(new Error('the client went away'));
      this.push(extentHeader(0, 1000));
      this.push(Buffer.alloc(500, 1));
    },
  });
  await assert.rejects(writeExtentsBody(gone, join(dir, 'gone.raw')), /the client went away/);
});

test('writeExtents writes data extents with holes between them, as the bytes would be', async () => {
  const size = 40 * CONTENT_BLOCK + 5;
  const a = Buffer.alloc(3 * CONTENT_BLOCK, 1);
  const b = Buffer.alloc(1000, 2);
  const bytes = Buffer.alloc(size);
  a.copy(bytes, 2 * CONTENT_BLOCK);
  b.copy(bytes, 30 * CONTENT_BLOCK);
  // The wire form, cut at arbitrary places as a socket would.
  const wire = Buffer.concat([
    extentHeader(2 * CONTENT_BLOCK, a.length),
    a,
    extentHeader(30 * CONTENT_BLOCK, b.length),
    b,
    extentHeader(size, 0),
  ]);
  const cuts = [0, 7, 13, 70_000, 150_000, wire.length];
  const out = join(dir, 'extents.raw');
  const w = await writeExtents(
    parseExtents(cuts.slice(1).map((end, i) => wire.subarray(cuts[i], end))),
    out,
    { sha256: true },
  );
  assert.deepEqual(await readFile(out), bytes);
  assert.equal(w.sizeBytes, size);
  assert.equal(w.sha256, createHash('sha256').update(bytes).digest('hex'));
  const dense = join(dir, 'extents-dense.raw');
  await writeFile(dense, bytes);
  assert.equal(w.checksum, await contentOf(dense));
  assert.ok((await stat(out)).blocks * 512 <= 8 * CONTENT_BLOCK, 'the gaps are holes');
  // Out of order, or data past the size: refused.
  await assert.rejects(
    writeExtents(
      [
        { offset: 100, data: Buffer.alloc(1, 1) },
        { offset: 0, data: Buffer.alloc(1, 1) },
      ],
      join(dir, 'bad1.raw'),
    ),
    /comes after/,
  );
  await assert.rejects(
    writeExtents([{ offset: 100, data: Buffer.alloc(10, 1) }, { size: 50 }], join(dir, 'bad2.raw')),
    /before data/,
  );
  await assert.rejects(
    writeExtents([{ offset: 0, data: Buffer.alloc(1) }], join(dir, 'bad3.raw')),
    /without its size/,
  );
});

test('image sources: only files inside allowed directories are opened, after symlinks are resolved', async () => {
  const allowed = join(dir, 'allowed');
  await mkdir(join(allowed, 'sub'), { recursive: true });
  const good = join(allowed, 'sub', 'ok.raw');
  await writeFile(good, 'data');
  await symlink('/etc/shadow', join(allowed, 'shadow-link'));
  await symlink(join(allowed, 'sub'), join(dir, 'link-to-sub'));
  const sources = await ImageSources.create([allowed]);
  const fh = await sources.open(good);
  assert.equal(await fh.readFile('utf8'), 'data');
  await fh.close();
  for (const bad of [
    '/etc/shadow',
    join(allowed, 'shadow-link'),
    '/nonexistent/x.qcow2',
    join(dir, 'link-to-sub', 'ok.raw'),
  ])
    await rejectsWith(sources.open(bad), 'image_source_not_allowed');
  for (const bad of [
    '../../../etc/shadow',
    `${allowed}/../../../../etc/shadow`,
    'disk.qcow2',
    `${allowed}/a\0b`,
  ])
    await rejectsWith(sources.open(bad), 'image_source_invalid');
  await rejectsWith(sources.open(join(allowed, 'missing.qcow2')), 'image_source_not_found');
  await rejectsWith(sources.open(join(allowed, 'sub')), 'image_source_not_found');
  // With no allowed directory, every path is refused.
  await rejectsWith(ImageSources.none().open(good), 'image_source_not_allowed');
  await assert.rejects(ImageSources.create(['relative/dir']), /absolute/);
});

const hasStrace = spawnSync('strace', ['-V']).status === 0;

test('the agent refuses /etc/shadow, a symlink to it and ../../../etc/shadow before anything is read', {
  skip: hasStrace ? false : 'strace is not installed (apt-get install strace)',
}, async () => {
  // Watched with strace: the refused requests make no open/read of the target.
  const allowed = join(dir, 'allowed2');
  await mkdir(allowed);
  await symlink('/etc/shadow', join(allowed, 'img.qcow2'));
  const script = `
    const { QemuImgStorage, ImageSources } = await import(${JSON.stringify(new URL('../../dist/storage/index.js', import.meta.url).href)});
    const s = new QemuImgStorage(${JSON.stringify(join(dir, 'cache-strace'))}, { owner: { gid: 0 }, sources: await ImageSources.create([${JSON.stringify(allowed)}]) });
    for (const p of ['/etc/shadow', ${JSON.stringify(join(allowed, 'img.qcow2'))}, '../../../etc/shadow']) {
      const id = crypto.randomUUID();
      await s.importImage(id, { path: p }).then(() => { throw new Error('imported ' + p); }, (e) => console.log(e.code));
    }`;
  const trace = join(dir, 'strace.out');
  const r = await run('strace', [
    '-f',
    '-qq',
    '-e',
    'trace=open,openat,openat2,read,pread64',
    '-o',
    trace,
    process.execPath,
    '--input-type=module',
    '-e',
    script,
  ]);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'image_source_not_allowed',
    'image_source_not_allowed',
    'image_source_invalid',
  ]);
  const traced = (await readFile(trace, 'utf8')).split('\n');
  assert.ok(
    traced.some((l) => l.includes('openat(')),
    'strace saw no open at all',
  );
  const lines = traced.filter((l) => l.includes('shadow'));
  assert.deepEqual(lines, [], 'the shadow file was opened');
});

test('cached images and server disks are unreadable to other users', async () => {
  const src = join(dir, 'perm-src.qcow2');
  await qcow2WithData(src);
  const cache = join(dir, 'perm-cache');
  const img = join(cache, 'img-1');
  await importImage(src, img);
  const disk = join(dir, 'perm-instances', 'srv', 'disk.qcow2');
  await createOverlay(img, 'qcow2', disk);
  const asNobody = (args: string[]) => run('runuser', ['-u', 'nobody', '--', ...args], { okCodes: [1, 2] });
  for (const f of [img, disk]) {
    const r = await asNobody(['head', '-c', '1', f]);
    assert.match(r.stderr, /Permission denied/, `nobody read ${f}`);
  }
  for (const d of [cache, join(dir, 'perm-instances'), join(dir, 'perm-instances', 'srv')]) {
    const r = await asNobody(['ls', d]);
    assert.match(r.stderr, /Permission denied/, `nobody listed ${d}`);
  }
  // QEMU's user reads the cache (and libvirt hands it the disks while a guest runs).
  const q = await run('runuser', ['-u', 'libvirt-qemu', '--', 'qemu-img', 'info', img]);
  assert.match(q.stdout, /file format: qcow2/);
});

test('disk temporaries are private from their creation: qemu-img writes into the 0600 file made first', async () => {
  // The agent creates each temporary a program fills (overlays, blank disks, volume copies, converted
  // images, ISOs) with createPrivateFile; this holds only while qemu-img keeps an existing target's mode.
  const previous = process.umask(0o022);
  try {
    const src = join(dir, 'private-src.qcow2');
    await qcow2WithData(src);
    const targets = {
      create: ['create', '-q', '-f', 'qcow2'],
      overlay: ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', src],
      convert: ['convert', '-q', '-f', 'qcow2', '-O', 'qcow2', src],
    };
    for (const [name, args] of Object.entries(targets)) {
      const file = join(dir, `private-${name}.qcow2`);
      await createPrivateFile(file);
      assert.equal((await stat(file)).mode & 0o777, 0o600, `${name}: made 0600 under umask 022`);
      await run('qemu-img', [...args, file, ...(name === 'convert' ? [] : ['1M'])]);
      assert.equal((await stat(file)).mode & 0o777, 0o600, `${name}: qemu-img kept the mode`);
      assert.equal((await inspectImage(file)).format, 'qcow2', `${name}: qemu-img wrote the file`);
      // An existing name is never taken over.
      await assert.rejects(createPrivateFile(file), { code: 'EEXIST' });
    }
  } finally {
    process.umask(previous);
  }
});

test('recover removes temporaries, uploads and unowned cached copies of interrupted imports', async () => {
  const cache = join(dir, 'recover-cache');
  await ensureDir(cache);
  const owned = '0f6e1f5e-6a5c-4e2c-9d7b-6d9f1c2b3a41';
  const orphan = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
  for (const n of [
    owned,
    orphan,
    `.${owned}.tmp-1-abcd`,
    `.upload-${orphan}-${'a'.repeat(64)}`,
    '..upload-x.tmp-2-ef',
  ])
    await writeFile(join(cache, n), 'x');
  const storage = new QemuImgStorage(cache, { owner: { gid } });
  const removed = await storage.recover((id) => id === owned);
  assert.equal(removed.length, 4);
  assert.deepEqual(await readdir(cache), [owned]);
});

test('sweepUploads removes uploads whose lease ran out, keeps fresh ones and those being written; deleteImage removes its image uploads', async () => {
  const cache = join(dir, 'lease-cache');
  await ensureDir(cache);
  const storage = new QemuImgStorage(cache, { owner: { gid } });
  const [stale, fresh, writing, deleted] = [
    '2b3c4d5e-6f70-4a81-9b2c-3d4e5f607182',
    '3c4d5e6f-7081-4b92-8c3d-4e5f60718293',
    '4d5e6f70-8192-4ca3-9d4e-5f60718293a4',
    '5e6f7081-92a3-4db4-8e5f-60718293a4b5',
  ];
  const old = new Date(Date.now() - 3_600_000);
  const name = (id: string) => `.upload-${id}-${'b'.repeat(64)}`;
  for (const id of [stale, fresh, deleted]) await writeFile(join(cache, name(id)), 'x');
  await utimes(join(cache, name(stale)), old, old);
  // An upload still being written: its body waits until released; its temporary looks old.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const body = (async function* () {
    yield Buffer.from('first');
    await gate;
    yield Buffer.from('second');
  })();
  const uploading = storage.stageUpload(writing, body);
  let tmp: string | undefined;
  while (!tmp) {
    tmp = (await readdir(cache)).find((n) => n.startsWith(`..upload-${writing}-`));
    if (!tmp) await new Promise((r) => setTimeout(r, 5));
  }
  await utimes(join(cache, tmp), old, old);

  assert.deepEqual(await storage.sweepUploads(60_000), [name(stale)]);
  release();
  const written = await uploading;
  assert.equal(written.sizeBytes, 11);
  assert.deepEqual(
    (await readdir(cache)).sort(),
    [name(fresh), name(deleted), `.upload-${writing}-${written.checksum}`].sort(),
  );

  await storage.deleteImage(deleted);
  assert.ok(!(await readdir(cache)).includes(name(deleted)), 'the deleted image kept its upload');
  // A lease of 0: every upload not in use goes.
  assert.equal((await storage.sweepUploads(0)).length, 2);
  assert.deepEqual(await readdir(cache), []);
});
