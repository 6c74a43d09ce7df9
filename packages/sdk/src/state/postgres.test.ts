import assert from 'node:assert/strict';
import { hostname, userInfo } from 'node:os';
import { after, before, test } from 'node:test';
import { holdLock } from './lock-child.test-support.js';
import { type PgServer, startPostgres } from './pg-server.js';
import { PostgresBackend, type PostgresBackendOptions, redactUrl } from './postgres.js';
import { STATE_VERSION, type StateDoc, StateError } from './types.js';

let server: PgServer | undefined;
const opened: PostgresBackend[] = [];

before(async () => {
  server = await startPostgres();
});

after(async () => {
  await Promise.allSettled(opened.map((b) => b.close()));
  await server?.stop();
});

function backend(stack: string, opts?: PostgresBackendOptions, url = server!.url): PostgresBackend {
  const b = new PostgresBackend(url, stack, opts);
  opened.push(b);
  return b;
}

function doc(stack: string, serial: number, lineage = 'lineage-1'): StateDoc {
  return {
    version: STATE_VERSION,
    serial,
    lineage,
    stack,
    resources: [
      {
        name: 'net',
        type: 'network',
        id: `net-${serial}`,
        attributes: { cidr: '10.0.0.0/24' },
        dependencies: [],
        status: 'ready',
      },
    ],
    outputs: { ip: { value: '10.0.0.5', sensitive: false } },
  } as StateDoc;
}

/** Asserts `p` rejects with a StateError of `code` and returns its message. */
async function refused(p: Promise<unknown>, code: StateError['code']): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StateError, `expected a StateError, got ${String(e)}`);
    assert.equal((e as StateError).code, code);
    return (e as StateError).message;
  }
  assert.fail(`expected StateError ${code}`);
}

test('read of an empty stack is null; write then read round-trips', async () => {
  const b = backend('roundtrip');
  assert.equal(await b.read(), null);
  const d = doc('roundtrip', 1);
  await b.write(d);
  assert.deepEqual(await b.read(), d);
  // A separate backend (another process, in effect) sees the same document.
  assert.deepEqual(await backend('roundtrip').read(), d);
});

test('stale serials and foreign lineages are refused with their codes', async () => {
  const b = backend('checks');
  await b.write(doc('checks', 3));
  assert.match(await refused(b.write(doc('checks', 3)), 'stale_serial'), /serial 3 is not older than 3/);
  await refused(b.write(doc('checks', 2)), 'stale_serial');
  assert.match(
    await refused(b.write(doc('checks', 9, 'other-lineage')), 'lineage_mismatch'),
    /lineage lineage-1, not other-lineage/,
  );
  assert.equal((await b.read())?.serial, 3);
  await b.write(doc('checks', 4));
  assert.equal((await b.read())?.serial, 4);
});

test('the previous document is kept as the backup', async () => {
  const b = backend('backup');
  await b.write(doc('backup', 1));
  assert.equal(await b.readPrevious(), null);
  await b.write(doc('backup', 2));
  assert.deepEqual(await b.readPrevious(), doc('backup', 1));
  await b.write(doc('backup', 3));
  assert.deepEqual(await b.readPrevious(), doc('backup', 2));
  assert.deepEqual(await b.read(), doc('backup', 3));
});

test('two stacks in one database, and one stack in two schemas, are independent', async () => {
  const a = backend('stack-a');
  const b = backend('stack-b');
  const other = backend('stack-a', { schema: 'team_ci' });
  await a.write(doc('stack-a', 5));
  assert.equal(await b.read(), null);
  assert.equal(await other.read(), null);
  await b.write(doc('stack-b', 1, 'lineage-b'));
  await other.write(doc('stack-a', 1, 'lineage-ci'));
  assert.equal((await a.read())?.serial, 5);
  const release = await a.lock('apply');
  await (await b.lock('apply'))();
  await (await other.lock('apply'))();
  await release();
  assert.throws(() => backend('x', { schema: 'bad"; DROP TABLE x; --' }), TypeError);
});

test('a second lock fails at once naming holder, operation, since when and lock id', async () => {
  const holder = backend('locking');
  const other = backend('locking');
  const release = await holder.lock('apply');
  const t0 = Date.now();
  const msg = await refused(other.lock('destroy'), 'locked');
  // Waiting would last until the holder releases, which it does not before this assertion; the
  // bound only has to stay above a loaded host's time for one refused attempt.
  assert.ok(Date.now() - t0 < 30_000, 'a held lock must not be waited for');
  const m =
    /is locked by (.+ pid \d+) \((\w+)\) since (\S+); lock id (\S+)\. If no run holds it any more, remove it with: stratus force-unlock \4 /.exec(
      msg,
    );
  assert.ok(m, msg);
  assert.equal(m[1], `${userInfo().username}@${hostname()} pid ${process.pid}`);
  assert.equal(m[2], 'apply');
  assert.ok(Math.abs(Date.parse(m[3]!) - Date.now()) < 60_000, `created ${m[3]} is not an ISO time of now`);
  assert.match(msg, /^state postgresql:\/\/.* \(stack locking\) is locked by/);

  await release();
  await release(); // releasing twice is harmless
  const again = await other.lock('destroy');
  await refused(holder.lock('apply'), 'locked');
  await again();
});

test('forceUnlock needs the held lock id; release removes only its own lock', async () => {
  const a = backend('force');
  const b = backend('force');
  assert.match(await refused(a.forceUnlock('nope'), 'not_locked'), /is not locked/);
  const releaseA = await a.lock('apply');
  const id = /lock id ([^\s.]+)\./.exec(await refused(b.lock('apply'), 'locked'))![1]!;
  assert.match(
    await refused(b.forceUnlock('wrong-id'), 'not_locked'),
    new RegExp(`locked with id ${id}, not wrong-id`),
  );
  await refused(b.lock('apply'), 'locked');
  await b.forceUnlock(id);
  const releaseB = await b.lock('apply');
  // A's stale release function must not remove B's lock.
  await releaseA();
  await refused(a.lock('apply'), 'locked');
  await releaseB();
  await (await a.lock('apply'))();
});

test("a killed run's lock row outlives its session and is taken over with a note; a live run's blocks", async () => {
  // The lock is a row, not an advisory lock: the killed holder's session ends, the row stays.
  const holder = await holdLock(`new PostgresBackend(${JSON.stringify(server!.url)}, 'killed')`);
  after(() => holder.kill());
  const notes: string[] = [];
  const hooks = { onStaleCleared: (m: string) => notes.push(m) };
  const b = backend('killed');
  assert.match(
    await refused(b.lock('plan', hooks), 'locked'),
    new RegExp(`pid ${holder.child.pid} \\(apply\\)`),
  );
  assert.deepEqual(notes, []);
  await holder.kill();
  const release = await b.lock('plan', hooks);
  assert.equal(notes.length, 1);
  assert.match(
    notes[0]!,
    new RegExp(
      `^Removed the stale lock of state postgresql://.* \\(stack killed\\) \\(lock id \\S+, apply by .* pid ${holder.child.pid} since \\S+\\): its holder is no longer running on this host\\.$`,
    ),
  );
  await refused(backend('killed').lock('apply'), 'locked');
  await release();
});

test('tables made before locks recorded their holder process get the column', async () => {
  const admin = backend('old', { schema: 'old_locks' });
  // What an earlier version created.
  const pool = await (
    admin as unknown as { pool(): Promise<{ query(sql: string): Promise<unknown> }> }
  ).pool();
  await pool.query(
    `CREATE SCHEMA old_locks;
     CREATE TABLE old_locks.stratus_state (stack text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL,
       doc jsonb NOT NULL, previous jsonb, updated_at timestamptz NOT NULL DEFAULT now());
     CREATE TABLE old_locks.stratus_locks (stack text PRIMARY KEY, id text NOT NULL, operation text NOT NULL,
       who text NOT NULL, created timestamptz NOT NULL);`,
  );
  const holder = await holdLock(
    `new PostgresBackend(${JSON.stringify(server!.url)}, 'old', { schema: 'old_locks' })`,
  );
  await holder.kill();
  const notes: string[] = [];
  await (await admin.lock('apply', { onStaleCleared: (m) => notes.push(m) }))();
  assert.equal(notes.length, 1);
});

test('10 processes racing lock(): exactly one wins, 9 are refused, over several rounds', async () => {
  // A fresh schema, so round one also races the table creation.
  const racers = Array.from({ length: 10 }, () => backend('race', { schema: 'race_lock' }));
  for (let round = 0; round < 5; round++) {
    const results = await Promise.allSettled(racers.map((r) => r.lock(`apply-${round}`)));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1, `round ${round}: ${won.length} winners`);
    assert.equal(lost.length, 9);
    for (const l of lost) assert.equal((l.reason as StateError).code, 'locked', String(l.reason));
    await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
  }
});

test('10 processes racing write(): exactly one write per serial lands', async () => {
  const racers = Array.from({ length: 10 }, () => backend('race-write', { schema: 'race_write' }));
  for (let serial = 1; serial <= 4; serial++) {
    // Serial 1 races the very first INSERT of the row; later serials race SELECT ... FOR UPDATE.
    const results = await Promise.allSettled(racers.map((r) => r.write(doc('race-write', serial))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `serial ${serial}`);
    for (const r of results)
      if (r.status === 'rejected')
        assert.equal((r.reason as StateError).code, 'stale_serial', String(r.reason));
  }
  assert.equal((await racers[0]!.read())?.serial, 4);
  assert.deepEqual(await racers[0]!.readPrevious(), doc('race-write', 3));
});

test('the password never shows in where or in error messages', async () => {
  assert.equal(redactUrl('postgres://user:secret@host/db'), 'postgres://user:***@host/db');
  assert.equal(redactUrl('postgres://user@host/db'), 'postgres://user@host/db');
  assert.equal(redactUrl('postgres://u:p@ss@host:5432/db'), 'postgres://u:***@host:5432/db');
  assert.equal(
    redactUrl('postgres://u@host/db?password=secret&ssl=1'),
    'postgres://u@host/db?password=***&ssl=1',
  );

  const secret = 'S3cr3t-pw';
  // The test server uses trust auth, so the password is accepted and never checked.
  const url = server!.url.replace('postgres@', `postgres:${secret}@`);
  const b = backend('secret', undefined, url);
  assert.ok(!b.where.includes(secret), b.where);
  assert.match(b.where, /postgres:\*\*\*@/);
  await b.write(doc('secret', 2));
  assert.ok(!(await refused(b.write(doc('secret', 1)), 'stale_serial')).includes(secret));
  const release = await b.lock('apply');
  assert.ok(!(await refused(b.lock('apply'), 'locked')).includes(secret));
  await release();

  for (const bad of [
    `postgresql://postgres:${secret}@/postgres?host=/nonexistent-stratus-dir`,
    `postgresql://postgres:${secret}@host:notaport/db`,
    `postgresql://postgres@/postgres?host=/nonexistent-stratus-dir&password=${secret}`,
  ]) {
    const e = await backend('secret', undefined, bad)
      .read()
      .then(
        () => assert.fail('expected a connection error'),
        (err: unknown) => err as Error,
      );
    for (const text of [e.message, String(e), e.stack ?? '', JSON.stringify(e)])
      assert.ok(!text.includes(secret), `password leaked: ${text}`);
  }
});

// Issue 7, finding 3: a stored document of the wrong shape is refused when read, naming where it is and
// how to restore the previous version, never taken as "no state".
test('a state document of the wrong shape is refused when read, naming the backup to restore', async () => {
  const b = backend('damaged');
  await b.write(doc('damaged', 1));
  await b.write(doc('damaged', 2));
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: server!.url });
  await client.connect();
  try {
    for (const bad of ['{}', 'null', '[]', '{"version":1,"serial":"x","lineage":"l","stack":"damaged"}']) {
      await client.query(`UPDATE public.stratus_state SET doc = $1::jsonb WHERE stack = 'damaged'`, [bad]);
      const msg = await refused(b.read(), 'corrupt');
      assert.match(msg, /not a valid Stratus state document/, bad);
      assert.match(msg, /UPDATE "public"\.stratus_state SET doc = previous WHERE stack = 'damaged'/, bad);
    }
    // The backup is good, and restoring it as the message says brings the state back.
    assert.equal((await b.readPrevious())?.serial, 1);
    await client.query(
      `UPDATE public.stratus_state SET doc = previous WHERE stack = 'damaged' AND previous IS NOT NULL`,
    );
    assert.equal((await b.read())?.serial, 1);
  } finally {
    await client.end();
  }
});
