import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256File } from '@stratus/util';
import { AgentError } from '../errors.js';
import { run } from '../host/exec.js';
import { assertTraversable, ensureDir, removeFile } from './files.js';
import { createOverlay, importImage, inspectImage } from './images.js';

let dir: string;
before(async () => {
  // mkdtemp makes 0700 directories, which QEMU's user could not traverse.
  dir = await mkdtemp('/var/tmp/stratus-images-test-');
  await chmod(dir, 0o755);
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

test('importImage copies into the cache atomically with format, size and sha256', async () => {
  const src = join(dir, 'src.qcow2');
  await qcow2WithData(src);
  const dest = join(dir, 'cache', 'sub', 'image-1');
  const imported = await importImage(src, dest);
  assert.equal(imported.format, 'qcow2');
  assert.equal(imported.virtualSize, 4 << 20);
  assert.equal(imported.sizeBytes, (await stat(dest)).size);
  assert.equal(
    imported.checksum,
    createHash('sha256')
      .update(await readFile(src))
      .digest('hex'),
  );
  assert.equal(imported.checksum, await sha256File(dest));
  assert.equal((await stat(dest)).mode & 0o777, 0o644);
  // Directories it created are traversable by QEMU's user whatever the umask.
  assert.equal((await stat(join(dir, 'cache'))).mode & 0o777, 0o755);
  assert.equal((await stat(join(dir, 'cache', 'sub'))).mode & 0o777, 0o755);
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

  const vmdk = join(dir, 'refuse.vmdk');
  await run('qemu-img', ['create', '-q', '-f', 'vmdk', vmdk, '4M']);
  await rejectsWith(importImage(vmdk, join(cache, 'd')), 'image_format_unsupported');

  await rejectsWith(importImage(join(dir, 'nope.qcow2'), join(cache, 'e')), 'image_source_not_found');
  await mkdir(join(dir, 'a-directory'));
  await rejectsWith(importImage(join(dir, 'a-directory'), join(cache, 'f')), 'image_source_not_found');

  // Nothing refused made it into the cache, not even a temp file.
  assert.deepEqual(await readdir(cache), []);
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

test('ensureDir creates 0755 directories and refuses paths QEMU cannot traverse', async () => {
  const deep = join(dir, 'ens', 'a', 'b');
  const old = process.umask(0o077);
  try {
    await ensureDir(deep);
  } finally {
    process.umask(old);
  }
  for (const d of [join(dir, 'ens'), join(dir, 'ens', 'a'), deep]) {
    assert.equal((await stat(d)).mode & 0o777, 0o755);
  }
  const closed = join(dir, 'closed');
  await mkdir(closed, { mode: 0o700 });
  await chmod(closed, 0o700);
  await rejectsWith(ensureDir(join(closed, 'x')), 'path_not_traversable');
  await rejectsWith(assertTraversable(closed), 'path_not_traversable');
  await chmod(closed, 0o711);
  await assertTraversable(closed);
});
