import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../host/exec.js';
import { inspectImage } from './inspect.js';
import { type NewQcow2, qcow2Layout, writeNewQcow2 } from './qcow2.js';

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/stratus-qcow2-test-');
  await chmod(dir, 0o755);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Ours at `<name>.qcow2`, and qemu-img's own at `<name>.qemu.qcow2`, of the same image. */
async function both(name: string, img: NewQcow2): Promise<[string, string]> {
  const mine = join(dir, `${name}.qcow2`);
  const theirs = join(dir, `${name}.qemu.qcow2`);
  await writeFile(mine, '');
  await writeNewQcow2(mine, img);
  const b = img.backing;
  // -u: qemu-img need not open the backing file (some cases name one that does not exist).
  await run('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    ...(b ? ['-u', '-F', b.format, '-b', b.file] : []),
    theirs,
    String(img.size),
  ]);
  return [mine, theirs];
}

const json = async (args: string[]): Promise<Record<string, unknown>> =>
  JSON.parse((await run('qemu-img', args)).stdout) as Record<string, unknown>;

/** What qemu-img info says of an image, without the fields that name or measure the file itself. */
async function described(path: string): Promise<Record<string, unknown>> {
  const { filename: _f, 'actual-size': _a, ...rest } = await json(['info', '-U', '--output=json', path]);
  return rest;
}

const qemu72 = /version 7\.2\./.test((await run('qemu-img', ['--version'])).stdout);

const CASES: Array<[string, NewQcow2]> = [
  ['tiny', { size: 1000 }],
  ['blank-20g', { size: 20 * 2 ** 30 }],
  ['blank-1t', { size: 2 ** 40 }],
  // 64 TiB: an L1 table of 16 clusters, each counted in the refcount block.
  ['blank-64t', { size: 64 * 2 ** 40 }],
  // Backing file names relative to the test's directory (made absolute there).
  ['overlay-qcow2', { size: 20 * 2 ** 30 + 7, backing: { file: 'backing.qcow2', format: 'qcow2' } }],
  ['overlay-raw', { size: 3 * 2 ** 30, backing: { file: 'a backing with spaces.img', format: 'raw' } }],
];

test('a new qcow2 reads as qemu-img create would make it: info, a clean check, and (QEMU 7.2) the same bytes', async () => {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'backing.qcow2'), '1G']);
  await writeFile(join(dir, 'a backing with spaces.img'), Buffer.alloc(1 << 20));
  for (const [name, spec] of CASES) {
    const img = spec.backing
      ? { ...spec, backing: { ...spec.backing, file: join(dir, spec.backing.file) } }
      : spec;
    const [mine, theirs] = await both(name, img);
    assert.deepEqual(await described(mine), await described(theirs), name);
    const check = await json(['check', '--output=json', mine]);
    assert.equal(check['check-errors'], 0, name);
    assert.equal(check.leaks ?? 0, 0, name);
    assert.equal(check.corruptions ?? 0, 0, name);
    if (qemu72) assert.ok((await readFile(mine)).equals(await readFile(theirs)), `${name}: bytes differ`);
  }
});

test('an overlay reads through to its base, takes writes of its own, and stays consistent', async () => {
  const base = join(dir, 'base.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', '-c', 'write -P 0x33 63M 1M', base]);
  const overlay = join(dir, 'overlay.qcow2');
  await writeFile(overlay, '');
  await writeNewQcow2(overlay, { size: 128 << 20, backing: { file: base, format: 'qcow2' } });

  // Before any write the guest sees the base, and zeroes past its end.
  await run('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x5a 0 1M', '-c', 'read -P 0x33 63M 1M', overlay]);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0 64M 64M', overlay]);
  // Writes land in the overlay (new L2 tables, data clusters, refcounts) and leave the base as it was.
  await run('qemu-io', [
    '-f',
    'qcow2',
    '-c',
    'write -P 0x77 512k 1M',
    '-c',
    'write -P 0x11 100M 4M',
    overlay,
  ]);
  await run('qemu-io', [
    '-f',
    'qcow2',
    '-c',
    'read -P 0x5a 0 512k',
    '-c',
    'read -P 0x77 512k 1M',
    '-c',
    'read -P 0x11 100M 4M',
    overlay,
  ]);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x5a 512k 512k', base]);
  const check = await json(['check', '--output=json', overlay]);
  assert.equal(check['check-errors'], 0);
  assert.equal(check.leaks ?? 0, 0);
  assert.equal(check.corruptions ?? 0, 0);
  const info = await inspectImage(overlay);
  assert.equal(info.backingFile, base);
  assert.equal(info.backingFormat, 'qcow2');
  assert.equal(info.virtualSize, 128 << 20);
});

test('qcow2Layout refuses sizes and backing names qcow2 cannot hold', () => {
  for (const size of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1])
    assert.throws(() => qcow2Layout({ size }), /positive integer/);
  // QEMU's largest L1 table (32 MiB) maps 2 EiB; beyond it qemu-img refuses too.
  assert.throws(() => qcow2Layout({ size: 2 ** 52 }), /too large/);
  assert.throws(
    () => qcow2Layout({ size: 1 << 20, backing: { file: '', format: 'raw' } }),
    /cannot be recorded/,
  );
  assert.throws(
    () => qcow2Layout({ size: 1 << 20, backing: { file: `/${'x'.repeat(1023)}`, format: 'raw' } }),
    /cannot be recorded/,
  );
  assert.throws(
    () => qcow2Layout({ size: 1 << 20, backing: { file: '/a\0b', format: 'raw' } }),
    /cannot be recorded/,
  );
  assert.throws(
    () => qcow2Layout({ size: 1 << 20, backing: { file: '/a', format: 'vmdk' as 'raw' } }),
    /not raw or qcow2/,
  );
});

test('inspectImage answers again for a file left alone, without qemu-img; a fresh or changed file is read', async () => {
  const img = join(dir, 'kept.qcow2');
  await writeFile(img, '');
  await writeNewQcow2(img, { size: 8 << 20 });
  const withoutQemuImg = async <T>(f: () => Promise<T>): Promise<T> => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent'; // qemu-img cannot be found: only a kept answer can come back
    try {
      return await f();
    } finally {
      process.env.PATH = path;
    }
  };
  // Changed less than a second ago: a change within the same clock tick could keep its stamp, so the
  // answer is not kept.
  assert.equal((await inspectImage(img)).virtualSize, 8 << 20);
  await assert.rejects(
    withoutQemuImg(() => inspectImage(img)),
    'a fresh file must be read each time',
  );
  // The file must be older than a second for its answer to be kept (the rule, not a timing check).
  const { ctimeMs } = await stat(img);
  await new Promise((r) => setTimeout(r, Math.max(0, ctimeMs + 1100 - Date.now())));
  assert.equal((await inspectImage(img)).virtualSize, 8 << 20);
  assert.equal((await withoutQemuImg(() => inspectImage(img))).virtualSize, 8 << 20);
  // Rewritten in place (same inode and length, a new header): read again.
  await writeFile(img, '');
  await writeNewQcow2(img, { size: 16 << 20 });
  await assert.rejects(
    withoutQemuImg(() => inspectImage(img)),
    'a changed file must be read again',
  );
  assert.equal((await inspectImage(img)).virtualSize, 16 << 20);
});
