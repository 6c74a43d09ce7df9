import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../host/exec.js';
import { buildIso9660, type IsoFileEntry } from './iso9660.js';

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/stratus-iso9660-');
});
after(async () => {
  await run('chmod', ['-R', 'u+rwX', dir]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** A config drive's kind of tree, plus what stretches the layout: a directory of more than one sector, an
 * empty file, a file of several sectors, shared contents, a name outside ASCII, one Joliet must change. */
function sample(): IsoFileEntry[] {
  const files: IsoFileEntry[] = [
    ['openstack/latest/meta_data.json', '{"uuid":"x"}\n'],
    ['openstack/latest/user_data', '#!/bin/sh\necho "hello <world> & ünïcode"\n'],
    ['openstack/2012-08-10/meta_data.json', '{"uuid":"x"}\n'],
    ['openstack/2018-08-27/vendor_data2.json', '{"static":{}}\n'],
    ['openstack/content/0000', new Uint8Array([0, 1, 2, 255])],
    ['ec2/latest/meta-data.json', '{"instance-id":"x"}\n'],
    ['ec2/latest/user-data', '#!/bin/sh\n'],
    ['Autounattend.xml', '<unattend/>'],
    ['stratus/first-logon.ps1', 'Write-Host hi\r\n'],
    ['empty', ''],
    ['big/blob.bin', Buffer.alloc(5000, 7)],
    ['ünïcode.txt', 'u'],
    ['what?.txt', 'q'],
  ];
  for (let i = 0; i < 60; i++) files.push([`many/a-rather-long-file-name-number-${i}.json`, `${i}\n`]);
  return files;
}

/** Every path `files` implies, directories included, as isoinfo lists them (`/`-rooted). */
function pathsOf(files: IsoFileEntry[]): string[] {
  const out = new Set<string>();
  for (const [p] of files) {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) out.add(`/${parts.slice(0, i).join('/')}`);
  }
  return [...out].sort();
}

const lines = (s: string) =>
  s
    .split('\n')
    .filter((l) => l !== '')
    .sort();

test('an image reads back whole through Rock Ridge, Joliet, xorriso and blkid, and passes isovfy', async () => {
  const files = sample();
  const iso = join(dir, 'sample.iso');
  await writeFile(iso, buildIso9660({ label: 'config-2', files }));

  const { stdout: pvd } = await run('isoinfo', ['-d', '-i', iso]);
  assert.match(pvd, /^Volume id: config-2$/m);
  assert.match(pvd, /Rock Ridge signatures version 1 found/);
  assert.match(pvd, /Joliet with UCS level 3 found/);
  const { stdout: blkid } = await run('blkid', ['-p', '-o', 'export', iso]);
  assert.match(blkid, /^TYPE=iso9660$/m);
  assert.match(blkid, /^LABEL=config-2$/m);
  // isovfy checks records, path tables and Rock Ridge entries, and prints a line for each one it doubts.
  const { stdout: vfy, stderr: vfyErr } = await run('isovfy', [iso]);
  assert.match(vfy, /^Root at extent [0-9a-f]+, 2048 bytes\n\[0 0\]\nNo errors found\n$/, vfy);
  assert.equal(vfyErr.trim(), '');

  const want = pathsOf(files);
  assert.deepEqual(lines((await run('isoinfo', ['-R', '-f', '-i', iso])).stdout), want);
  const jolietWant = pathsOf(files.map(([p, d]) => [p.replace('?', '_'), d] as const)).sort();
  // isoinfo prints Joliet names in an 8-bit charset, not UTF-8.
  const jolietList = execFileSync('isoinfo', ['-J', '-j', 'iso8859-1', '-f', '-i', iso]).toString('latin1');
  assert.deepEqual(lines(jolietList), jolietWant);
  for (const [p, data] of files) {
    const got = execFileSync('isoinfo', ['-R', '-x', `/${p}`, '-i', iso]);
    assert.deepEqual(got, Buffer.from(data), p);
  }
  const joliet = await run('isoinfo', ['-J', '-x', '/stratus/first-logon.ps1', '-i', iso]);
  assert.equal(joliet.stdout, 'Write-Host hi\r\n');

  // xorriso reads it as a mount does (Rock Ridge), with -r's modes: files 0444, directories 0555.
  const tree = join(dir, 'sample-tree');
  await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', tree]);
  for (const [p, data] of files) assert.deepEqual(await readFile(join(tree, p)), Buffer.from(data), p);
  assert.equal((await stat(join(tree, 'openstack/latest/user_data'))).mode & 0o7777, 0o444);
  assert.equal((await stat(join(tree, 'openstack/latest'))).mode & 0o7777, 0o555);
  assert.equal((await readdir(join(tree, 'many'))).length, 60);
});

test('names and tree are those genisoimage writes with the options Nova gives it for a config drive', async (t) => {
  const files = sample().filter(([p]) => !p.startsWith('many/'));
  const ours = join(dir, 'ours.iso');
  await writeFile(ours, buildIso9660({ label: 'config-2', files }));
  const src = join(dir, 'src');
  for (const [p, data] of files) {
    await mkdir(dirname(join(src, p)), { recursive: true });
    await writeFile(join(src, p), data);
  }
  const theirs = join(dir, 'theirs.iso');
  try {
    // nova/virt/configdrive.py: _make_iso9660.
    await run('genisoimage', [
      ...['-o', theirs, '-ldots', '-allow-lowercase', '-allow-multidot', '-l', '-V', 'config-2'],
      ...['-quiet', '-J', '-r', '-input-charset', 'utf-8', src],
    ]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return t.skip('genisoimage is not installed');
    throw e;
  }
  // Plain names (no extension), Rock Ridge and Joliet: each listing the same.
  for (const how of [[], ['-R'], ['-J']])
    assert.deepEqual(
      lines((await run('isoinfo', [...how, '-f', '-i', ours])).stdout),
      lines((await run('isoinfo', [...how, '-f', '-i', theirs])).stdout),
      `isoinfo ${how.join(' ')} -f`,
    );
});

test('buildIso9660 refuses paths and labels an image cannot hold, naming them', () => {
  const build =
    (files: IsoFileEntry[], label = 'config-2') =>
    () =>
      buildIso9660({ label, files });
  for (const p of ['', '/abs', 'a//b', 'a/./b', '../x', 'tab\there', `${'n'.repeat(65)}`, 'é'.repeat(61)])
    assert.throws(build([[p, 'x']]), (e: Error) => e.message.includes(JSON.stringify(p)), p);
  assert.throws(
    build([
      ['a/b', 'x'],
      ['a/b', 'y'],
    ]),
    /"a\/b" is given twice/,
  );
  assert.throws(
    build([
      ['a', 'x'],
      ['a/b', 'y'],
    ]),
    /a is a file/,
  );
  assert.throws(
    build([
      ['a/b', 'x'],
      ['a', 'y'],
    ]),
    /"a" is given twice, or is also a directory/,
  );
  for (const label of ['', 'x'.repeat(17), 'tést'])
    assert.throws(build([['a', 'x']], label), /1-16 printable ASCII/);
  // At the limits: 64 characters, and 60 two-byte ones (120 bytes of UTF-8).
  assert.ok(
    build([
      [`${'n'.repeat(64)}`, 'x'],
      ['é'.repeat(60), 'y'],
    ])().length > 0,
  );
});

test('names that collide as plain ISO 9660 names stay apart', async () => {
  const files: IsoFileEntry[] = [
    ['a-b', '1'],
    ['a_b', '2'],
    ['A_B', '3'],
    [`${'x'.repeat(40)}1`, '4'],
    [`${'x'.repeat(40)}2`, '5'],
  ];
  const iso = join(dir, 'collide.iso');
  await writeFile(iso, buildIso9660({ label: 'c', files }));
  const plain = lines((await run('isoinfo', ['-f', '-i', iso])).stdout);
  assert.equal(new Set(plain.map((l) => l.toUpperCase())).size, files.length, plain.join('\n'));
  for (const [p, data] of files)
    assert.equal((await run('isoinfo', ['-R', '-x', `/${p}`, '-i', iso])).stdout, data, p);
});
