/**
 * Images from URLs and files (issue 12, Deliver 3): the agent downloads from a local HTTP server this
 * test starts on loopback; a wrong checksum fails showing both sums and caches nothing; images with the
 * same bytes share one cache file; files with no usable disk content are refused saying why; a declared
 * diskFormat the data does not have is an error; unknown hardware property values are plan errors; a
 * slow download's progress shows in the apply's output.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../../packages/sdk/src/cli/testing.js';
import { type AgentEnv, agentEnv, contentChecksum, run } from './helpers.js';

let t: AgentEnv;
let files: string;
let http: Server;
let base: string;
const states: [string, string][] = [];
/** Parts a `/slow/` download comes in, a second apart: long enough for a 10-second progress line. */
const SLOW_PARTS = 14;

const ok = (r: { code: number; stdout: string; stderr: string }) =>
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
const cli = (...args: string[]) => runCli(args, { cwd: t.dir, env: t.env });
const sha = (alg: string, f: string) => createHash(alg).update(readFileSync(f)).digest('hex');
const blobs = () => join(t.stateDir, 'images', 'blobs');
const blobNames = () => (existsSync(blobs()) ? readdirSync(blobs()).sort() : []);

/** Writes a stack of image resources to `name`.yaml and returns its path and a state path. */
function stack(name: string, images: Record<string, Record<string, unknown>>): [string, string] {
  const f = join(t.dir, `${name}.yaml`);
  writeFileSync(
    f,
    JSON.stringify({
      name,
      resources: Object.fromEntries(
        Object.entries(images).map(([k, p]) => [k, { type: 'image', properties: p }]),
      ),
    }),
  );
  const state = join(t.dir, `${name}.state.json`);
  states.push([state, f]);
  return [f, state];
}

async function qcow2(path: string, fill: number, mib = 4): Promise<void> {
  writeFileSync(`${path}.raw`, Buffer.alloc(mib << 20, fill));
  ok(await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', `${path}.raw`, path]));
}

before(async () => {
  t = agentEnv('image-sources');
  files = join(t.dir, 'www');
  mkdirSync(files);
  await qcow2(join(files, 'disk.qcow2'), 0x5a);
  writeFileSync(join(files, 'empty.img'), '');
  writeFileSync(join(files, 'notes.txt'), '<html><body>404 Not Found</body></html>\n'.repeat(40));
  writeFileSync(join(files, 'cut.qcow2'), readFileSync(join(files, 'disk.qcow2')).subarray(0, 200_000));
  http = createServer((req, res) => {
    // `/slow/NAME` sends NAME in SLOW_PARTS parts a second apart, as a far mirror would.
    const slow = req.url?.startsWith('/slow/') === true;
    const f = join(files, decodeURIComponent((req.url ?? '/').slice(slow ? 6 : 1)));
    if (!existsSync(f) || req.url?.includes('..')) {
      res.writeHead(404).end('not found');
      return;
    }
    const data = readFileSync(f);
    res.writeHead(200, { 'content-length': data.length });
    if (!slow) return void res.end(data);
    const part = Math.ceil(data.length / SLOW_PARTS);
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      res.write(data.subarray(at, at + part));
      at += part;
      if (at >= data.length) res.end();
      else setTimeout(next, 1000);
    };
    next();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  await t.startAgent();
});

after(async () => {
  for (const [state, f] of states)
    if (existsSync(state)) await cli('destroy', '--auto-approve', '--state', state, f);
  http?.close();
  await t?.cleanup([]);
});

test('a wrong checksum fails showing both sums and leaves nothing cached', async () => {
  const good = sha('sha256', join(files, 'disk.qcow2'));
  const wrong = 'sha256:' + 'ab'.repeat(32);
  const [f, state] = stack('wrongsum', { img: { source: `${base}/disk.qcow2`, checksum: wrong } });
  const r = await cli('apply', '--auto-approve', '--state', state, f);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`expected sha256 ${'ab'.repeat(32)}, got sha256 ${good}`));
  assert.match(r.stderr, /checksum/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  assert.deepEqual(blobNames(), [], 'nothing cached');
  const cache = readdirSync(join(t.stateDir, 'images')).filter((n) => n !== 'blobs');
  assert.deepEqual(cache, [], 'no image file');
});

test('a URL and a file with the same bytes share one cache file; sha512 is verified too', async () => {
  const sum512 = sha('sha512', join(files, 'disk.qcow2'));
  const [f, state] = stack('shared', {
    web: { source: `${base}/disk.qcow2`, checksum: `sha512:${sum512}`, diskFormat: 'qcow2' },
    local: { source: join(files, 'disk.qcow2') },
  });
  const r = await cli('apply', '--auto-approve', '--state', state, f);
  ok(r);
  const ids = JSON.parse(readFileSync(state, 'utf8')).resources.map((x: { id: string }) => x.id) as string[];
  assert.equal(ids.length, 2);
  const [a, b] = ids.map((id) => statSync(join(t.stateDir, 'images', id)));
  assert.equal(a!.ino, b!.ino, 'both images are one file');
  const data = blobNames().filter((n) => !n.endsWith('.json'));
  assert.deepEqual(data, [contentChecksum(join(files, 'disk.qcow2'))]);
  assert.equal(statSync(join(blobs(), data[0]!)).ino, a!.ino);
  // Nothing to do on the next plan: the declared sha512 checksum is kept as declared.
  const p = await cli('plan', '-detailed-exitcode', '--state', state, f);
  assert.equal(p.code, 0, `${p.stdout}\n${p.stderr}`);
  // Destroying both removes the shared data.
  ok(await cli('destroy', '--auto-approve', '--state', state, f));
  assert.deepEqual(blobNames(), []);
});

test('empty, text and truncated qcow2 files are refused at import, saying why', async () => {
  const cases: [string, RegExp][] = [
    ['empty.img', /no usable disk content: the file is empty/],
    ['notes.txt', /no usable disk content: it is a text file, not a disk image \(it begins "<html>/],
    [
      'cut.qcow2',
      /no usable disk content: its qcow2 metadata is inconsistent, as a truncated or corrupt file's is/,
    ],
  ];
  for (const [name, why] of cases) {
    for (const source of [`${base}/${name}`, join(files, name)]) {
      const [f, state] = stack(
        `bad-${name.replace('.', '-')}-${source.startsWith('http') ? 'url' : 'file'}`,
        {
          img: { source },
        },
      );
      const r = await cli('apply', '--auto-approve', '--state', state, f);
      assert.equal(r.code, 1, `${source}: ${r.stdout}`);
      assert.match(r.stderr, why, source);
      assert.match(r.stderr, /source/, source);
    }
  }
  assert.deepEqual(blobNames(), [], 'nothing cached');
});

test('a declared diskFormat the data does not have is an error; a 404 says so', async () => {
  const [f, state] = stack('mismatch', { img: { source: `${base}/disk.qcow2`, diskFormat: 'raw' } });
  const r = await cli('apply', '--auto-approve', '--state', state, f);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /diskFormat: .*declared diskFormat raw, but its data is qcow2/);
  const [f2, state2] = stack('missing', { img: { source: `${base}/nothing.qcow2` } });
  const r2 = await cli('apply', '--auto-approve', '--state', state2, f2);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /download failed: the server answered HTTP 404/);
  assert.deepEqual(blobNames(), []);
});

test('unknown hardware property values are plan errors with their location', async () => {
  const f = join(t.dir, 'props.yaml');
  writeFileSync(
    f,
    [
      'name: props',
      'resources:',
      '  img:',
      '    type: image',
      '    properties:',
      `      source: ${base}/disk.qcow2`,
      '      properties:',
      '        hw_disk_bus: floppy-ish',
      '        hw_firmware_type: uefi',
      '',
    ].join('\n'),
  );
  const r = await cli('plan', f);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /props\.yaml:8:\d+: error: .*hw_disk_bus/);
});

test("a flavor smaller than the image's minDiskGb or minRamMb is a plan error at the server's flavor", async () => {
  const f = join(t.dir, 'mins.yaml');
  writeFileSync(
    f,
    [
      'name: mins',
      'resources:',
      '  img:',
      '    type: image',
      `    properties: { source: "${base}/disk.qcow2", minDiskGb: 5, minRamMb: 1024 }`,
      '  small:',
      '    type: flavor',
      '    properties: { vcpus: 1, ramMb: 512, diskGb: 3 }',
      '  net:',
      '    type: network',
      '  subnet:',
      '    type: subnet',
      '    properties: { network: "${net}", cidr: 10.78.0.0/24 }',
      '  web:',
      '    type: server',
      '    properties:',
      '      image: ${img}',
      '      flavor: ${small}',
      '      networks: [{ subnet: "${subnet}" }]',
      '',
    ].join('\n'),
  );
  const r = await cli('validate', f);
  assert.equal(r.code, 1, r.stdout);
  assert.match(
    r.stderr,
    /mins\.yaml:18:\d+: error: .*flavor small has a 3 GiB root disk, but image img needs at least minDiskGb 5/,
  );
  assert.match(
    r.stderr,
    /mins\.yaml:18:\d+: error: .*flavor small has 512 MiB of memory, but image img needs at least minRamMb 1024/,
  );
  assert.deepEqual(blobNames(), [], 'nothing imported');
});

test('a source file changed since import shows in the plan as a replacement', async () => {
  const file = join(t.dir, 'mine.qcow2');
  await qcow2(file, 0x33, 2);
  const [f, state] = stack('changed', { img: { source: file } });
  ok(await cli('apply', '--auto-approve', '--state', state, f));
  const same = await cli('plan', '-detailed-exitcode', '--state', state, f);
  assert.equal(same.code, 0, `${same.stdout}\n${same.stderr}`);
  // Touched but the same bytes: no change either.
  const now = new Date(Date.now() + 2000);
  utimesSync(file, now, now);
  const touched = await cli('plan', '-detailed-exitcode', '--state', state, f);
  assert.equal(touched.code, 0, `${touched.stdout}\n${touched.stderr}`);
  await qcow2(file, 0x44, 2);
  const later = new Date(Date.now() + 4000);
  utimesSync(file, later, later);
  const p = await cli('plan', '-detailed-exitcode', '-no-color', '--state', state, f);
  assert.equal(p.code, 2, `${p.stdout}\n${p.stderr}`);
  // The content checksum, as the record has it (no sha256 was declared).
  assert.match(
    p.stdout,
    new RegExp(`${file} \\(changed since import: content checksum ${contentChecksum(file)}\\)`),
  );
  assert.match(p.stdout, /must be replaced/);
});

test("a slow download's progress shows in the apply's output while it runs", async () => {
  const size = statSync(join(files, 'disk.qcow2')).size;
  const [f, state] = stack('slow', { img: { source: `${base}/slow/disk.qcow2` } });
  const r = await cli('apply', '--auto-approve', '-no-color', '--state', state, f);
  ok(r);
  // A plain log (not a terminal): a "Still creating" line every 10 seconds, with what has come so far.
  const lines = r.stdout.split('\n').filter((l) => l.includes('Still creating'));
  assert.ok(lines.length >= 1, r.stdout);
  const total = `${(size / 1024 / 1024).toFixed(1)} MiB`;
  for (const l of lines)
    assert.match(
      l,
      new RegExp(`^img: Still creating\\.\\.\\. \\[\\d+s elapsed, downloaded [\\d.]+ [KM]iB of ${total}\\]$`),
    );
  ok(await cli('destroy', '--auto-approve', '--state', state, f));
});

test('a local file with a declared sha256 is checked against the plain digest of the file it sent', async () => {
  // The CLI sends data extents and the agent keeps a content checksum, but a declared sha256 is
  // compared with sha256sum's digest of the file, holes included: both ways here, wrong then right.
  const file = join(t.dir, 'declared.qcow2');
  await qcow2(file, 0x55, 2);
  const good = sha('sha256', file);
  const wrong = 'cd'.repeat(32);
  const [bad, badState] = stack('declared-wrong', { img: { source: file, checksum: `sha256:${wrong}` } });
  const r = await cli('apply', '--auto-approve', '--state', badState, bad);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`expected sha256 ${wrong}, got sha256 ${good}`));
  const [f, state] = stack('declared-right', { img: { source: file, checksum: `sha256:${good}` } });
  ok(await cli('apply', '--auto-approve', '--state', state, f));
  const img = JSON.parse(readFileSync(state, 'utf8')).resources[0];
  assert.equal(img.attributes.checksum, `sha256:${good}`);
  assert.equal(img.attributes.contentChecksum, contentChecksum(file));
  const p = await cli('plan', '-detailed-exitcode', '--state', state, f);
  assert.equal(p.code, 0, `${p.stdout}\n${p.stderr}`);
  ok(await cli('destroy', '--auto-approve', '--state', state, f));
});
