/**
 * Locks whose holder died (issue 7 finding 14): a run takes over the local state lock of a process of
 * this host that is gone, or whose pid now names another process, and says so in one line; the lock of
 * a live holder, or of one it cannot judge (another boot or pid namespace, a lock without its holder's
 * process), always blocks.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { LocalBackend } from './local.js';
import { holdLock } from './lock-child.test-support.js';
import { holderIsDead, processToken } from './lock-holder.js';
import { type LockInfo, StateError } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'stratus-lock-holder-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const statePath = () => join(root, `state-${n++}.json`);

/** Asserts `p` rejects with a StateError `locked` and returns its message. */
async function locked(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => assert.fail('the lock was taken'),
    (e: unknown) => e,
  );
  assert.ok(StateError.isInstance(e) && e.code === 'locked', String(e));
  return e.message;
}

const lockOf = (path: string) => JSON.parse(readFileSync(`${path}.lock`, 'utf8')) as LockInfo;

/** A lock file as another run would have written it. */
function writeLock(path: string, info: Partial<LockInfo>): void {
  writeFileSync(
    `${path}.lock`,
    JSON.stringify({
      id: 'held-id',
      operation: 'apply',
      who: 'someone@elsewhere pid 1',
      created: new Date(0).toISOString(),
      ...info,
    }),
  );
}

test('the token names this boot, pid namespace, pid and start time; this process is not dead', () => {
  const token = processToken();
  assert.ok(token, 'no /proc on this host');
  assert.match(token, new RegExp(`^[0-9a-f-]{36}/pid:\\[\\d+\\]/${process.pid}/\\d+$`));
  assert.equal(holderIsDead({ process: token }), false);
});

test("a killed holder's lock is taken over with a one-line note; the new lock is the taker's", async () => {
  const path = statePath();
  const holder = await holdLock(`new LocalBackend(${JSON.stringify(path)})`);
  after(() => holder.kill());
  const notes: string[] = [];
  const backend = new LocalBackend(path);
  // Alive: it blocks, and nothing is noted.
  await locked(backend.lock('plan', { onStaleCleared: (m) => notes.push(m) }));
  assert.equal(notes.length, 0);
  assert.equal(lockOf(path).id, holder.lockId);

  await holder.kill();
  const release = await backend.lock('plan', { onStaleCleared: (m) => notes.push(m) });
  assert.equal(notes.length, 1);
  assert.match(
    notes[0]!,
    new RegExp(
      `^Removed the stale lock of state ${path} \\(lock id ${holder.lockId}, apply by .* pid ${holder.child.pid} since \\S+\\): its holder is no longer running on this host\\.$`,
    ),
  );
  assert.equal(lockOf(path).operation, 'plan');
  assert.equal(lockOf(path).process, processToken());
  await release();
  assert.deepEqual(
    readdirSync(root).filter((f) => f.startsWith(path.slice(root.length + 1)) && f.includes('.lock')),
    [],
  );
});

test('a live pid with another start time is a reused pid: its lock is stale', async () => {
  const path = statePath();
  const [space, pid, start] = /^(.+)\/(\d+)\/(\d+)$/.exec(processToken()!)!.slice(1);
  // This very process is alive, but the lock names an earlier process that had its pid.
  writeLock(path, { process: `${space}/${pid}/${Number(start) - 1}` });
  const notes: string[] = [];
  const release = await new LocalBackend(path).lock('apply', { onStaleCleared: (m) => notes.push(m) });
  assert.equal(notes.length, 1);
  await release();
  // The same pid and start time: the holder is alive and its lock blocks.
  writeLock(path, { process: processToken()! });
  await locked(new LocalBackend(path).lock('apply'));
});

test('holders it cannot judge block: another boot or pid namespace, no process, an unreadable lock', async () => {
  const path = statePath();
  const [space, pid] = /^(.+)\/(\d+)\/\d+$/.exec(processToken()!)!.slice(1);
  const [boot, ns] = space!.split('/');
  const gone = 2 ** 22 + 1; // above pid_max's default: no such process here
  for (const process of [
    `00000000-0000-0000-0000-000000000000/${ns}/${gone}/1`,
    `${boot}/pid:[1]/${gone}/1`,
    `${space}/${pid}`,
    undefined,
  ]) {
    writeLock(path, { process, who: `someone@elsewhere pid ${gone}` });
    const msg = await locked(new LocalBackend(path).lock('apply', { onStaleCleared: assert.fail }));
    assert.match(
      msg,
      /lock id held-id\. If no run holds it any more, remove it with: stratus force-unlock held-id --state /,
    );
  }
  writeFileSync(`${path}.lock`, 'not json');
  await locked(new LocalBackend(path).lock('apply'));
});

test('10 runs meeting one dead holder: exactly one takes the lock, and only one removes the dead one', async () => {
  const path = statePath();
  // Twenty rounds: the race this guards (a run clearing the dead lock while another already took its
  // place) showed in about one round in twenty before the takeover file.
  for (let round = 0; round < 20; round++) {
    const holder = await holdLock(`new LocalBackend(${JSON.stringify(path)})`);
    after(() => holder.kill());
    await holder.kill();
    const notes: string[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        new LocalBackend(path).lock('apply', { onStaleCleared: (m) => notes.push(m) }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, `round ${round}: ${won.length} winners`);
    for (const r of results)
      if (r.status === 'rejected')
        assert.ok(StateError.isInstance(r.reason) && r.reason.code === 'locked', String(r.reason));
    assert.equal(notes.length, 1, `round ${round}: ${notes.join('\n')}`);
    await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
  }
  assert.deepEqual(
    readdirSync(root).filter((f) => f.includes('.takeover-')),
    [],
  );
});

test('a takeover left by a run killed while clearing a dead lock keeps it locked; force-unlock clears both', async () => {
  const path = statePath();
  const holder = await holdLock(`new LocalBackend(${JSON.stringify(path)})`);
  after(() => holder.kill());
  await holder.kill();
  const dead = lockOf(path).id;
  // As a run killed between creating its takeover file and removing the dead lock leaves them.
  const takeover = `${path}.lock.takeover-${createHash('sha256').update(dead).digest('hex').slice(0, 32)}`;
  writeFileSync(takeover, '');
  await locked(new LocalBackend(path).lock('apply', { onStaleCleared: assert.fail }));
  await new LocalBackend(path).forceUnlock(dead);
  assert.deepEqual(
    readdirSync(root).filter((f) => f.startsWith(basename(path))),
    [],
  );
  await (await new LocalBackend(path).lock('apply'))();
});

test('a release removes only its own lock', async () => {
  const path = statePath();
  const release = await new LocalBackend(path).lock('apply');
  writeLock(path, { id: 'someone-else' });
  await release();
  assert.equal(lockOf(path).id, 'someone-else');
});

test("taking the lock removes a killed writer's temporary of the state file, not a live one's", async () => {
  const path = statePath();
  const name = path.slice(root.length + 1);
  const holder = await holdLock(`new LocalBackend(${JSON.stringify(path)})`);
  after(() => holder.kill());
  const dead = holder.child.pid!;
  await holder.kill();
  const deadTemp = join(root, `.${name}.tmp-${dead}-0123abcd`);
  const liveTemp = join(root, `.${name}.tmp-${process.pid}-0123abcd`);
  const otherTemp = join(root, `.other.json.tmp-${dead}-0123abcd`);
  for (const f of [deadTemp, liveTemp, otherTemp]) writeFileSync(f, '{');
  await (await new LocalBackend(path).lock('apply'))();
  const left = readdirSync(root);
  assert.ok(!left.includes(basename(deadTemp)), "the dead writer's temporary is removed");
  assert.ok(left.includes(basename(liveTemp)), "a live writer's temporary is kept");
  assert.ok(left.includes(basename(otherTemp)), "another file's temporary is not touched");
});
