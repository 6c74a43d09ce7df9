/**
 * Image import end to end (issue 7, findings 5, 11 and 13): paths are the user's (stack-relative or the
 * CLI's working directory, never the agent's), the CLI streams the file it reads with the user's own
 * permissions, the agent reads no client-named file outside its allowed directories, the cache is
 * private to root and QEMU's group, and an agent killed mid-import leaves nothing behind after restart.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AgentApiError, AgentClient } from '@stratus/sdk/client';
import { runBuiltCli, runCli } from '../../packages/sdk/src/cli/testing.js';
import {
  type AgentEnv,
  agentEnv,
  contentChecksum as content,
  contentChecksumOf,
  run,
  sh,
  stateIds,
} from './helpers.js';

let t: AgentEnv;
let stackDir: string;
let agentCwd: string;
let allowed: string;
/** State files this test wrote, with their stack files (destroyed at the end). */
const states: [string, string][] = [];

const sha256 = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const ok = (r: { code: number; stdout: string; stderr: string }) =>
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);

/** Runs the CLI in `cwd` against this test's agent. */
const cli = (cwd: string, ...args: string[]) => runCli(args, { cwd, env: t.env });

/** Starts (or restarts) the agent with `agentCwd` as its working directory. */
async function startAgent(): Promise<void> {
  rmSync(t.env.STRATUS_AGENT_SOCKET!, { force: true });
  const here = process.cwd();
  process.chdir(agentCwd);
  try {
    await t.startAgent('--allow-image-dir', allowed);
  } finally {
    process.chdir(here);
  }
}

async function qcow2(path: string, fill: number, mib = 4): Promise<void> {
  const raw = `${path}.raw`;
  writeFileSync(raw, Buffer.alloc(mib << 20, fill));
  ok(await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, path]));
  rmSync(raw);
}

const client = () =>
  new AgentClient({ socket: t.env.STRATUS_AGENT_SOCKET!, tokenFile: join(t.stateDir, 'token') });
const cacheDir = () => join(t.stateDir, 'images');
/** Names in the cache: one per image (a link to its data), and `blobs/<sha256>` (the data, shared). */
const cacheNames = () => {
  if (!existsSync(cacheDir())) return [];
  const blobs = join(cacheDir(), 'blobs');
  return [
    ...readdirSync(cacheDir()).filter((n) => n !== 'blobs'),
    ...(existsSync(blobs) ? readdirSync(blobs).map((n) => `blobs/${n}`) : []),
  ].sort();
};
const isBlob = (n: string) => n.startsWith('blobs/');
const records = () => {
  const d = join(t.stateDir, 'records', 'images');
  return existsSync(d)
    ? readdirSync(d)
        .map((f) => f.replace(/\.json$/, ''))
        .sort()
    : [];
};

/**
 * Writes stack `NAME.yaml` in the stack's folder, of one image `img` from `source`, and names its state
 * file `NAME.json` (destroyed at the end).
 */
function imageStack(name: string, source: string): { stack: string; state: string } {
  const stack = join(stackDir, `${name}.yaml`);
  writeFileSync(
    stack,
    `name: ${name}\nresources:\n  img:\n    type: image\n    properties:\n      source: ${source}\n`,
  );
  const state = join(t.dir, `${name}.json`);
  states.push([state, stack]);
  return { stack, state };
}

before(async () => {
  t = agentEnv('image-import');
  stackDir = join(t.dir, 'project');
  agentCwd = join(t.dir, 'agent-cwd');
  allowed = join(t.dir, 'allowed');
  for (const d of [stackDir, agentCwd, allowed]) mkdirSync(d);
  // The same name in the agent's working directory, with other content: it must never be picked.
  await qcow2(join(stackDir, 'disk.qcow2'), 0x11);
  await qcow2(join(agentCwd, 'disk.qcow2'), 0x22);
  await startAgent();
});

after(async () => {
  for (const [state, stack] of states)
    if (existsSync(state)) await cli(t.dir, 'destroy', '--auto-approve', '--state', state, stack);
  await t.cleanup([]);
});

test('import and apply read disk.qcow2 where the user is, not where the agent runs', async () => {
  const stack = join(stackDir, 'stack.yaml');
  writeFileSync(
    stack,
    'name: paths\nresources:\n  img:\n    type: image\n    properties:\n      source: disk.qcow2\n',
  );
  const mine = sha256(join(stackDir, 'disk.qcow2'));
  assert.notEqual(mine, sha256(join(agentCwd, 'disk.qcow2')));

  // The input: `stratus import img disk.qcow2 --stack stack.yaml`, run in the stack's folder.
  const imported = join(t.dir, 'imported.json');
  states.push([imported, stack]);
  const r = await cli(stackDir, 'import', 'img', 'disk.qcow2', '--stack', 'stack.yaml', '--state', imported);
  ok(r);
  assert.match(r.stderr, new RegExp(`Imported image ${join(stackDir, 'disk.qcow2')} as img`));
  const doc = JSON.parse(readFileSync(imported, 'utf8'));
  assert.equal(doc.resources[0].attributes.contentChecksum, content(join(stackDir, 'disk.qcow2')));
  assert.equal(doc.resources[0].attributes.source, join(stackDir, 'disk.qcow2'));

  // The stack's relative source is relative to the stack file, whatever the CLI's working directory.
  const applied = join(t.dir, 'applied.json');
  states.push([applied, stack]);
  ok(await cli(agentCwd, 'apply', '--auto-approve', '--state', applied, stack));
  const img = JSON.parse(readFileSync(applied, 'utf8')).resources[0];
  assert.equal(img.attributes.contentChecksum, content(join(stackDir, 'disk.qcow2')));
  assert.equal(sha256(join(cacheDir(), img.id)), mine);

  // A file missing where the user is, though the agent's directory has one, is missing.
  const missing = await cli(
    t.dir,
    'import',
    'img',
    'disk.qcow2',
    '--stack',
    stack,
    '--state',
    join(t.dir, 'm.json'),
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`cannot read ${join(t.dir, 'disk.qcow2')}: no such file`));
  assert.doesNotMatch(missing.stderr, /at .*\.js:\d+/);
});

test('a sparse raw file costs its data: the CLI sends its data extents only, never its holes', async () => {
  // 4 GiB apparent, 1 MiB of data in two places. Sent whole, the agent would read 4 GiB from its socket:
  // what it reads is counted (rchar of /proc/PID/io: every byte its read calls returned), not timed.
  const file = join(stackDir, 'sparse.raw');
  const size = 4 * 1024 ** 3;
  writeFileSync(file, '');
  truncateSync(file, size);
  // Binary, not text (a text file is refused as no disk image), and no all-zero block.
  const data = Buffer.alloc(512 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 16)) & 0xff || 1;
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, data, 0, data.length, 0);
    writeSync(fd, data, 0, data.length, 3 * 1024 ** 3);
  } finally {
    closeSync(fd);
  }
  const { stack, state } = imageStack('sparse', 'sparse.raw');
  const pid = t.agentPid();
  assert.ok(pid, 'the agent runs');
  const readBytes = () => Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
  const before = readBytes();
  // The installed command (the bundle): it locates the native lseek helper differently from the sources.
  ok(await runBuiltCli(['apply', '--auto-approve', '--state', state, stack], { cwd: stackDir, env: t.env }));
  const read = readBytes() - before;
  assert.ok(read < 64 * 1024 ** 2, `the agent read ${read} bytes for 1 MiB of data`);
  const img = JSON.parse(readFileSync(state, 'utf8')).resources[0];
  const blocks: [number, Buffer][] = [];
  for (const at of [0, 3 * 1024 ** 3])
    for (let off = 0; off < data.length; off += 65536)
      blocks.push([at + off, data.subarray(off, off + 65536)]);
  assert.equal(img.attributes.contentChecksum, contentChecksumOf(size, blocks));
  const cached = statSync(join(cacheDir(), img.id));
  assert.equal(cached.size, size);
  assert.ok(cached.blocks * 512 < 64 * 1024 ** 2, 'the cached copy keeps the holes');
});

test('the agent refuses client-named files outside its allowed directories before reading them', async () => {
  const c = client();
  try {
    const link = join(allowed, 'shadow.qcow2');
    rmSync(link, { force: true });
    await run('ln', ['-s', '/etc/shadow', link]);
    for (const [source, code] of [
      ['/etc/shadow', 'image_source_not_allowed'],
      [link, 'image_source_not_allowed'],
      ['../../../etc/shadow', 'image_source_invalid'],
      [`${allowed}/../../../../etc/shadow`, 'image_source_invalid'],
      ['disk.qcow2', 'image_source_invalid'],
    ] as const) {
      await assert.rejects(c.put(`/v1/images/${randomUUID()}`, { source }), (e: unknown) => {
        assert.ok(AgentApiError.isInstance(e), String(e));
        assert.equal(e.code, code, `${source}: ${e.message}`);
        assert.equal(e.status, 400);
        assert.equal(e.field, 'source');
        return true;
      });
    }
    // Nothing of them reached the cache.
    const before = cacheNames();
    assert.ok(
      before.every((n) => isBlob(n) || records().includes(n)),
      `cache: ${before}`,
    );
    // A file inside the allowed directory is read by the agent itself.
    await qcow2(join(allowed, 'ok.qcow2'), 0x33);
    const id = randomUUID();
    const rec = await c.put<{ status: { contentChecksum: string } }>(`/v1/images/${id}`, {
      source: join(allowed, 'ok.qcow2'),
    });
    assert.equal(rec.status.contentChecksum, content(join(allowed, 'ok.qcow2')));
    await c.delete(`/v1/images/${id}`);
  } finally {
    await c.close();
  }
});

test('the image cache is unreadable to other users', async () => {
  assert.ok(cacheNames().length > 0, 'an image is cached');
  const asNobody = (...args: string[]) => run('runuser', ['-u', 'nobody', '--', ...args]);
  const ls = await asNobody('ls', cacheDir());
  assert.notEqual(ls.code, 0, `nobody listed the cache: ${ls.stdout}`);
  for (const n of cacheNames()) {
    const r = await asNobody('head', '-c', '1', join(cacheDir(), n));
    assert.match(r.stderr, /Permission denied/, `nobody read ${n}`);
  }
});

/** Processes whose command line names this test's agent state dir or its big image (none may outlive the agent). */
function leftoverProcesses(): string[] {
  return sh('ps', ['-eo', 'pid,args'])
    .split('\n')
    .filter((l) => (l.includes(t.stateDir) || l.includes('big.raw')) && !l.includes(' ps '));
}

async function waitFor<T>(what: string, f: () => T | undefined | false, limitMs = 120_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Kills the agent with SIGKILL once `point` shows in its cache, then restarts it. */
async function killAt(point: (names: string[]) => boolean, label: string): Promise<void> {
  const pid = t.agentPid();
  assert.ok(pid, 'agent running');
  await waitFor(label, () => point(cacheNames()));
  process.kill(pid, 'SIGKILL');
  await waitFor('the killed agent to be gone', () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  // No child outlives it (the copy is in-process; qemu-img gets the parent-death signal).
  await waitFor('no process outliving the agent', () => leftoverProcesses().length === 0, 10_000).catch(
    () => {
      assert.deepEqual(leftoverProcesses(), []);
    },
  );
  // What the dead agent left, by inode and change time. The restarted agent must clear exactly these:
  // a client that retries (the CLI, or the client below) may already have started the import again on
  // it, under the same name, and a file of that live operation is no leftover.
  const temporary = (n: string) => n.startsWith('.') || n.startsWith('blobs/.');
  const identity = (n: string) => {
    try {
      const s = statSync(join(cacheDir(), n));
      return `${s.ino}@${s.ctimeMs}`;
    } catch {
      return null;
    }
  };
  const atKill = (keep: (n: string) => boolean) =>
    cacheNames()
      .filter(keep)
      .map((n) => ({ n, id: identity(n) }));
  const temporaries = atKill(temporary);
  const orphans = atKill((n) => !temporary(n) && !isBlob(n) && !records().includes(n));
  const stillThere = (files: { n: string; id: string | null }[]) =>
    files.filter(({ n, id }) => id !== null && identity(n) === id).map(({ n }) => n);
  await startAgent();
  // Temporaries and uploads are swept, and a copy without a record is rolled back.
  const names = cacheNames();
  assert.deepEqual(stillThere(temporaries), [], `${label}: temporaries left: ${names}`);
  assert.deepEqual(stillThere(orphans), [], `${label}: orphans in cache: ${names}`);
}

test('kill -9 of the agent mid-import leaves no temporary, no child and no orphan after restart', async () => {
  // Big enough that the copy takes a while; non-zero so no block is a hole; not text (0xa5 is no
  // UTF-8), which import refuses as no disk.
  const big = join(stackDir, 'big.raw');
  const block = Buffer.alloc(1 << 20, 0xa5);
  writeFileSync(big, Buffer.concat(Array.from({ length: 256 }, () => block)));
  const { stack, state } = imageStack('big', 'big.raw');
  const kept = cacheNames();
  const points: [string, (n: string[]) => boolean][] = [
    ['upload being written', (n) => n.some((x) => x.startsWith('..upload-'))],
    ['upload stored', (n) => n.some((x) => x.startsWith('.upload-'))],
  ];
  for (const [label, point] of points) {
    const apply = cli(stackDir, 'apply', '--auto-approve', '--state', state, stack);
    await killAt(point, label);
    // The CLI either finished against the restarted agent or failed; the next apply finishes the job.
    await apply;
    ok(await cli(stackDir, 'apply', '--auto-approve', '--state', state, stack));
    const img = stateIds(state)[0]!;
    assert.equal(sha256(join(cacheDir(), img.id)), sha256(big));
    ok(await cli(stackDir, 'destroy', '--auto-approve', '--state', state, stack));
    assert.deepEqual(cacheNames(), kept);
  }

  // The agent reading an allowed file itself, killed mid-copy.
  const inAllowed = join(allowed, 'big.raw');
  writeFileSync(inAllowed, readFileSync(big));
  const c = client();
  try {
    const id = randomUUID();
    const put = c.put(`/v1/images/${id}`, { source: inAllowed }).catch(() => null);
    await killAt((n) => n.some((x) => x.startsWith('blobs/.stage.tmp-')), 'agent-side copy');
    await put;
    // Retried, it finishes.
    const rec = await c.put<{ status: { contentChecksum: string } }>(`/v1/images/${id}`, {
      source: inAllowed,
    });
    assert.equal(rec.status.contentChecksum, content(big));
    await c.delete(`/v1/images/${id}`);
  } finally {
    await c.close();
  }

  // Killed after the copy was renamed into the cache but before its record was saved: rolled back.
  const orphan = randomUUID();
  writeFileSync(join(cacheDir(), orphan), 'half-done import');
  chmodSync(join(cacheDir(), orphan), 0o640);
  await killAt(() => true, 'copy renamed, record not saved');
  assert.deepEqual(cacheNames(), kept);
});
