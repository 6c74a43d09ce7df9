import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PgServer, startPostgres } from '../../packages/sdk/src/state/pg-server.js';
import { type AgentEnv, agentEnv, CLI, hostObjectsFor, run, stateIds } from './helpers.js';

/** Networks only: no VM, so these run in seconds against the real agent. */
const STACK = (n: number, mtu = 1500) =>
  `name: cli\nresources:\n${Array.from(
    { length: n },
    (_, i) =>
      `  net${i}:\n    type: network\n    properties: { mtu: ${mtu} }\n  sub${i}:\n    type: subnet\n    properties:\n      network: \${net${i}}\n      cidr: 10.${60 + i}.0.0/24\n`,
  ).join('')}outputs:\n  first_bridge: \${net0.bridge}\n`;

let t: AgentEnv;
let pg: PgServer;
const states: string[] = [];

before(async () => {
  t = agentEnv('cli');
  await t.startAgent();
  pg = await startPostgres();
});

after(async () => {
  await t.cleanup(states);
  await pg?.stop();
});

function stackFile(name: string, text: string): string {
  const f = join(t.dir, `${name}.yaml`);
  writeFileSync(f, text);
  return f;
}

describe('CLI against a real agent', () => {
  test('saved plans apply exactly once and are refused when state moved on', async () => {
    const stack = stackFile('stack', STACK(1));
    const state = join(t.dir, 'saved.json');
    states.push(state);
    const planFile = join(t.dir, 'one.plan');
    const p = await t.stratus('plan', '-out', planFile, '--state', state, stack);
    assert.equal(p.code, 0, p.stderr);
    const stale = join(t.dir, 'stale.plan');
    assert.equal((await t.stratus('plan', '-out', stale, '--state', state, stack)).code, 0);
    const a = await t.stratus('apply', planFile, '--state', state);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.match(a.stdout, /Resources: 2 added/);
    const again = await t.stratus('apply', stale, '--state', state);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /state moved on since the plan .* was made/);
    assert.equal(stateIds(state).length, 2, 'nothing applied twice');
    // A changed stack file also invalidates a saved plan.
    const p2 = join(t.dir, 'two.plan');
    assert.equal((await t.stratus('plan', '-out', p2, '--state', state, stack)).code, 0);
    writeFileSync(stack, STACK(1).replace('name: cli', 'name: cli # edited'));
    const edited = await t.stratus('apply', p2, '--state', state);
    assert.equal(edited.code, 1);
    assert.match(edited.stderr, /changed since the plan/);
    // The plan document (Terraform's `show -json PLANFILE` shape); `plan -json` is the streaming UI.
    const p3 = join(t.dir, 'three.plan');
    assert.equal((await t.stratus('plan', '-out', p3, '--state', state, stack)).code, 0);
    const json = await t.stratus('show', '-json', p3);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.format_version, '1.2');
    assert.deepEqual(
      doc.resource_changes.map((c: { change: { actions: string[] } }) => c.change.actions),
      [['no-op'], ['no-op']],
    );
  });

  test('state list, mv, rm and graph', async () => {
    const stack = stackFile('stack-s', STACK(1));
    const state = join(t.dir, 'state-cmds.json');
    states.push(state);
    assert.equal((await t.stratus('apply', '--auto-approve', '--state', state, stack)).code, 0);
    const list = await t.stratus('state', 'list', '--state', state, '--stack', stack);
    assert.match(list.stdout, /^net0\tnetwork\t[0-9a-f-]{36}\nsub0\tsubnet\t[0-9a-f-]{36}\n$/);
    const graph = await t.stratus('graph', stack);
    assert.match(graph.stdout, /digraph stratus \{/);
    assert.match(graph.stdout, /"sub0" -> "net0";/);
    assert.equal(
      (await t.stratus('state', 'mv', 'sub0', 'subX', '--state', state, '--stack', stack)).code,
      0,
    );
    const plan = await t.stratus('plan', '--state', state, stack);
    assert.match(plan.stdout, /# subnet sub0 will be created/);
    assert.match(plan.stdout, /# subnet subX will be destroyed/);
    assert.equal(
      (await t.stratus('state', 'mv', 'subX', 'sub0', '--state', state, '--stack', stack)).code,
      0,
    );
    const show = await t.stratus('state', 'show', 'net0', '--state', state, '--stack', stack);
    assert.match(show.stdout, /bridge = "brq/);
    const out = await t.stratus('output', 'first_bridge', '--state', state, '--stack', stack);
    assert.match(out.stdout.trim(), /^brq[0-9a-f]{11}$/);
    const noop = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(noop.code, 0, noop.stdout);
  });

  test('a second concurrent apply fails at once naming the lock holder (local file and PostgreSQL)', async () => {
    for (const backend of ['local', 'postgres'] as const) {
      const stack = stackFile(`stack-lock-${backend}`, STACK(6));
      const state = join(t.dir, `lock-${backend}.json`);
      const where = backend === 'local' ? ['--state', state] : ['--backend-url', pg.url];
      const env = { ...process.env, ...t.env, NO_COLOR: '1' };
      const start = () =>
        new Promise<{ code: number; out: string }>((resolve) => {
          const c = spawn(
            process.execPath,
            [CLI, 'apply', '--auto-approve', '--parallelism', '1', ...where, stack],
            { env },
          );
          let out = '';
          c.stdout.on('data', (b: Buffer) => (out += b));
          c.stderr.on('data', (b: Buffer) => (out += b));
          c.on('close', (code) => resolve({ code: code ?? 1, out }));
        });
      const results = await Promise.all([start(), start()]);
      const codes = results.map((r) => r.code).sort();
      assert.deepEqual(codes, [0, 1], results.map((r) => r.out).join('\n----\n'));
      const loser = results.find((r) => r.code === 1)!;
      assert.match(loser.out, /is locked by \S+@\S+ pid \d+ \(apply\) since \d{4}-\d\d-\d\dT/);
      // Exactly one set of resources exists.
      const ids =
        backend === 'local'
          ? stateIds(state)
          : JSON.parse(
              (await run(process.execPath, [CLI, 'show', '--json', '--backend-url', pg.url, stack], t.env))
                .stdout,
            ).resources;
      assert.equal(ids.length, 12);
      const destroy = await run(process.execPath, [CLI, 'destroy', '--auto-approve', ...where, stack], t.env);
      assert.equal(destroy.code, 0, destroy.stdout + destroy.stderr);
      assert.deepEqual(hostObjectsFor(ids.map((r: { id: string }) => r.id)), []);
    }
  });

  test('Ctrl-C once: nothing new starts, running operations finish, state is saved, exit 1; the next apply converges', async () => {
    const stack = stackFile('stack-int', STACK(6));
    const state = join(t.dir, 'int.json');
    states.push(state);
    const c = spawn(
      process.execPath,
      [CLI, 'apply', '--auto-approve', '--parallelism', '1', '--state', state, stack],
      {
        env: { ...process.env, ...t.env, NO_COLOR: '1' },
      },
    );
    let out = '';
    let sent = false;
    c.stdout.on('data', (b: Buffer) => {
      out += b;
      // Interrupt once the first resource is done and the next one has started.
      if (!sent && /Creation complete/.test(out) && (out.match(/Creating\.\.\./g) ?? []).length >= 2) {
        sent = true;
        c.kill('SIGINT');
      }
    });
    c.stderr.on('data', (b: Buffer) => (out += b));
    const code = await new Promise<number>((r) => c.on('close', (x) => r(x ?? 1)));
    assert.equal(code, 1, out);
    assert.match(out, /Interrupt received: starting nothing new/);
    assert.match(out, /Apply interrupted\./);
    assert.match(out, /skipped \(interrupted\)/);
    const partial = stateIds(state);
    assert.ok(partial.length >= 2 && partial.length < 12, `partial state: ${partial.length} resources`);
    assert.equal(existsSync(`${state}.lock`), false, 'the lock is released');
    const again = await t.stratus('apply', '--auto-approve', '--state', state, stack);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(stateIds(state).length, 12);
    const records = await run('ls', [join(t.stateDir, 'records', 'networks')]);
    const mine = stateIds(state)
      .filter((r) => r.type === 'network')
      .map((r) => `${r.id}.json`);
    for (const f of mine) assert.ok(records.stdout.includes(f));
    const noop = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(noop.code, 0, noop.stdout);
  });

  test('force-unlock removes a stale lock only with its id', async () => {
    const stack = stackFile('stack-fu', STACK(1));
    const state = join(t.dir, 'fu.json');
    writeFileSync(
      `${state}.lock`,
      JSON.stringify({
        id: 'abc',
        operation: 'apply',
        who: 'ghost@host pid 1',
        created: '2026-01-01T00:00:00Z',
      }),
    );
    const blocked = await t.stratus('apply', '--auto-approve', '--state', state, stack);
    assert.equal(blocked.code, 1);
    assert.match(
      blocked.stderr,
      /locked by ghost@host pid 1 \(apply\) since 2026-01-01T00:00:00Z; lock id abc/,
    );
    assert.equal((await t.stratus('force-unlock', 'wrong', '--state', state, '--stack', stack)).code, 1);
    assert.equal((await t.stratus('force-unlock', 'abc', '--state', state, '--stack', stack)).code, 0);
    assert.equal(existsSync(`${state}.lock`), false);
  });
});
