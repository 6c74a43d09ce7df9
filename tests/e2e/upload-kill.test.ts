/**
 * The upload leak (issue 7, finding 13's kind): `kill -9` of the CLI between an image's upload
 * (`PUT /v1/images/{id}/file`, stored as `images/.upload-<id>-<sha256>`) and the create that names it
 * (`PUT /v1/images/{id}?uploaded=<sha256>`). With a live agent, nothing else would ever read that file.
 * Right: a destroy of the stack removes it (the image's delete removes its uploads), and with no client
 * action at all the agent removes it when its lease (`--upload-lease`) ends; either way the next apply
 * converges and destroy leaves an empty image cache.
 *
 * The kill point is an event: the stored upload appearing in the image cache (seen through inotify). The
 * CLI is stopped (SIGSTOP) at once, before it can have read the upload's answer, then killed. A request
 * sent to the agent afterwards is the barrier after which a create the CLI did send would be in the
 * agent's log; a kill after which it is there did not land between upload and create and is tried again.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, type FSWatcher, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, CLI, imageCache, type Run, stateIds } from './helpers.js';

const IMAGE_BYTES = 32 << 20;
/** Tries at landing a kill between upload and create before the test gives up (each is a few seconds). */
const ATTEMPTS = 10;
const STORED_UPLOAD = /^\.upload-[0-9a-f-]{36}-[0-9a-f]{64}$/;

let t: AgentEnv;
let stack: string;
let state: string;

const show = (r: Run) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
const cache = () => join(t.stateDir, 'images');
/** The image cache's entries, blobs as `blobs/<name>` (an empty blobs folder is no content). */
const cacheFiles = () => imageCache(t.stateDir).sort();
const agentLog = () => t.agentLogs.map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('\n');

async function until(what: string, cond: () => boolean, ms = 300_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs an apply and kills its CLI between the image's upload and its create. Returns the stored upload's
 * name, or null when the create had been sent already (the point was missed; the apply is converged and
 * destroyed so the next try starts from nothing).
 */
async function killBetweenUploadAndCreate(): Promise<string | null> {
  const before = agentLog().split('\n').length;
  const cli = spawn(process.execPath, [CLI, 'apply', '--auto-approve', '--state', state, stack], {
    env: { ...process.env, ...t.env, NO_COLOR: '1' },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => cli.on('close', () => r()));
  let upload: string | null = null;
  const stop = (name: string | null) => {
    if (!upload && name && STORED_UPLOAD.test(name)) {
      upload = name;
      cli.kill('SIGSTOP');
    }
  };
  await until('the image cache directory', () => existsSync(cache()) || cli.exitCode !== null);
  const watcher: FSWatcher = watch(cache(), (_e, name) => stop(name));
  // The watcher may have started after the upload was stored.
  for (const f of cacheFiles()) stop(f);
  await until('the stored upload', () => upload !== null || cli.exitCode !== null);
  watcher.close();
  cli.kill('SIGKILL');
  await exited;
  if (!upload) throw new Error('the apply ended without an upload being seen');
  // Barrier: this request reaches the agent after anything the CLI had sent before it stopped.
  const list = await t.stratus('list', 'images', '-json');
  assert.equal(list.code, 0, show(list));
  const sent = agentLog()
    .split('\n')
    .slice(before - 1)
    .some((l) => l.includes('uploaded='));
  if (!sent) return upload;
  const c = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(c.code, 0, `apply after a missed kill:\n${show(c)}`);
  await destroy('after a missed kill');
  return null;
}

/** Destroys the stack: state empty, image cache empty. */
async function destroy(context: string): Promise<void> {
  const d = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(d.code, 0, `${context}: destroy:\n${show(d)}`);
  assert.deepEqual(stateIds(state), [], `${context}: state after destroy`);
  assert.deepEqual(cacheFiles(), [], `${context}: image cache after destroy`);
}

/** Lands a kill between upload and create, trying up to ATTEMPTS times; reports how many it took. */
async function landKill(ctx: { diagnostic(s: string): void }): Promise<string> {
  for (let i = 1; i <= ATTEMPTS; i++) {
    const upload = await killBetweenUploadAndCreate();
    if (upload) {
      ctx.diagnostic(`kill landed between upload and create on try ${i} of ${ATTEMPTS}`);
      return upload;
    }
  }
  throw new Error(`no kill of ${ATTEMPTS} landed between the upload and the create`);
}

before(async () => {
  t = agentEnv('upload-kill');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  const image = join(t.dir, 'disk.raw');
  writeFileSync(image, Buffer.alloc(IMAGE_BYTES, 0xa5));
  writeFileSync(
    stack,
    `name: upload-kill\nresources:\n  img:\n    type: image\n    properties:\n      source: ${image}\n`,
  );
});

after(async () => {
  const lock = `${state}.lock`;
  if (existsSync(lock)) {
    const id = (JSON.parse(readFileSync(lock, 'utf8')) as { id?: string }).id;
    if (id) await t.stratus('force-unlock', '--state', state, stack, id);
  }
  await t.cleanup([state]);
});

test('kill -9 of the CLI between image upload and create: destroy removes the upload', async (ctx) => {
  await t.startAgent('--log-level', 'debug');
  const upload = await landKill(ctx);
  assert.ok(cacheFiles().includes(upload), `the upload ${upload} is not in the cache: ${cacheFiles()}`);
  await destroy('destroy after the kill');
  assert.match(agentLog(), /removed uploads of a deleted image/);
});

test('kill -9 of the CLI between image upload and create: the agent removes the upload when its lease ends; the next apply converges', async (ctx) => {
  // A restart sweeps every upload: the lease has to do it while this agent lives.
  const pid = t.agentPid();
  if (pid) process.kill(pid, 'SIGTERM');
  await until('the agent to stop', () => t.agentPid() === null || !alive(pid!));
  await t.startAgent('--log-level', 'debug', '--upload-lease', '5s');
  const upload = await landKill(ctx);
  assert.ok(cacheFiles().includes(upload), `the upload ${upload} is not in the cache: ${cacheFiles()}`);
  // No client acts: the agent alone removes it (its supervision runs every 10 s).
  await until(`the agent to remove ${upload}`, () => !cacheFiles().includes(upload));
  assert.deepEqual(cacheFiles(), [], 'image cache after the lease');
  // The agent logs the sweep after the removal: wait for the line, not just the file's absence.
  await until('the lease sweep in the agent log', () =>
    /removed uploads no image was created from within their lease/.test(agentLog()),
  );
  const a = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(a.code, 0, `apply after the kill:\n${show(a)}`);
  const plan = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(plan.code, 0, `plan after the converging apply:\n${show(plan)}`);
  assert.equal(cacheFiles().filter((f) => f.startsWith('.')).length, 0, `temporaries: ${cacheFiles()}`);
  await destroy('after the converging apply');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
