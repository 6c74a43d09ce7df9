import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadStackText } from '../loaders/stack-yaml.js';
import { providersFor } from '../protocol/index.js';
import type { ResourceIO } from '../protocol/io.js';
import type { ProviderSet } from '../protocol/types.js';
import { LocalBackend } from '../state/local.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { applyPlan } from './apply.js';
import { checkStack } from './check.js';
import { emptyState, hasChanges, makePlan } from './plan.js';
import { refresh } from './refresh.js';
import { checkProviders } from './world.test-support.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Six networks, each with a subnet: 12 resources, dependencies in pairs. */
const STACK = `resources:\n${Array.from(
  { length: 6 },
  (_, i) =>
    `  n${i}:\n    type: network\n  s${i}:\n    type: subnet\n    properties:\n      network: \${n${i}}\n      cidr: 10.${i}.0.0/24\n`,
).join('')}`;

async function run(
  backend: LocalBackend,
  providers: ProviderSet,
  shouldStart?: () => boolean,
  onStart?: () => void,
) {
  const { config } = loadStackText(STACK, '/v/stack.yaml');
  const { graph } = checkStack(config!, checkProviders);
  const prior = await backend.read();
  const refreshed = await refresh(prior ?? emptyState('t'), providers);
  const plan = makePlan(config!, graph, refreshed, prior, providers);
  const result = applyPlan({
    plan,
    state: refreshed.state,
    backend,
    providers,
    parallelism: 3,
    shouldStart,
    onEvent: (e) => e.kind === 'start' && onStart?.(),
  });
  return { plan, result };
}

/** The world and the state agree exactly: nothing lost, nothing duplicated. */
async function assertConsistent(backend: LocalBackend, mem: MemoryHandlers) {
  const state = (await backend.read())!;
  const ids = state.resources.map((r) => r.id).sort();
  assert.deepEqual(ids, [...mem.objects.keys()].sort());
  assert.equal(new Set(state.resources.map((r) => r.name)).size, state.resources.length);
}

describe('interrupting apply', () => {
  for (const after of [0, 1, 3, 5, 8]) {
    test(`Ctrl-C once after ${after} operations started: running ones finish, state saved, next apply converges`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'stratus-int-'));
      dirs.push(dir);
      const backend = new LocalBackend(join(dir, 'state.json'));
      const mem = new MemoryHandlers({ delayMs: 15 });
      let started = 0;
      const { result } = await run(
        backend,
        mem.providers,
        () => started < after,
        () => started++,
      );
      const r = await result;
      assert.equal(r.ok, false, 'an interrupted apply reports failure');
      await assertConsistent(backend, mem);
      const second = await (await run(backend, mem.providers)).result;
      assert.equal(second.ok, true);
      await assertConsistent(backend, mem);
      assert.equal(mem.objects.size, 12);
      const { plan } = await run(backend, mem.providers);
      assert.equal(hasChanges(plan), false);
    });
  }

  test('each create is saved before and after its call; a save that would write the same is skipped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-int-'));
    dirs.push(dir);
    const backend = new LocalBackend(join(dir, 'state.json'));
    const mem = new MemoryHandlers();
    const { config } = loadStackText(STACK, '/v/stack.yaml');
    const { graph } = checkStack(config!, checkProviders);
    const refreshed = await refresh(emptyState('t'), mem.providers);
    const plan = makePlan(config!, graph, refreshed, null, mem.providers);
    const r = await applyPlan({
      plan,
      state: refreshed.state,
      backend,
      providers: mem.providers,
      parallelism: 1,
    });
    assert.equal(r.ok, true);
    // 12 creates, each written as `creating` and then as made; the last save (no outputs) wrote nothing.
    assert.equal((await backend.read())!.serial, 24);
  });

  test('Ctrl-C twice (the process dies mid-create): the half-made resource is taken up again under its id, never duplicated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-int-'));
    dirs.push(dir);
    const backend = new LocalBackend(join(dir, 'state.json'));
    const mem = new MemoryHandlers();
    // The second subnet create reaches the host, then the process is gone: from then on nothing it
    // started settles, and it writes no more state.
    let dead = false;
    const never = () => new Promise<never>(() => {});
    let creates = 0;
    const dying = providersFor((schema): ResourceIO => {
      const io = mem.io(schema.type as never);
      return {
        create: async (c, id, inputs) => {
          if (dead) return never();
          const res = await io.create(c, id, inputs);
          if (schema.type === 'subnet' && ++creates === 2) dead = true;
          return dead ? never() : res;
        },
        update: (c, id, inputs, prior) => (dead ? never() : io.update(c, id, inputs, prior)),
        read: (c, id, prior) => (dead ? never() : io.read(c, id, prior)),
        delete: (c, id, prior) => (dead ? never() : io.delete(c, id, prior)),
      };
    });
    const dyingBackend = Object.assign(Object.create(backend) as LocalBackend, {
      write: (doc: Parameters<LocalBackend['write']>[0]) => (dead ? never() : backend.write(doc)),
    });
    void (await run(dyingBackend, dying)).result;
    while (!dead) await new Promise((r) => setTimeout(r, 10));
    // A state write already under way when the process died lands (atomically) or not; let it land.
    await new Promise((r) => setTimeout(r, 100));
    const state = (await backend.read())!;
    const stuck = state.resources.find((r) => r.status === 'creating');
    assert.ok(stuck, 'the create in flight was written to state before it was called');
    assert.ok(mem.objects.has(stuck.id), 'and it exists on the host');
    const next = await run(backend, mem.providers);
    // Its outcome was unknown: it is created again under the same id, which takes up the object made.
    const again = next.plan.changes.find((c) => c.name === stuck.name)!;
    assert.equal(again.action, 'create');
    assert.equal(again.reason, 'resume');
    assert.equal(again.priorId, stuck.id);
    assert.equal((await next.result).ok, true);
    assert.equal((await backend.read())!.resources.find((r) => r.name === stuck.name)!.id, stuck.id);
    await assertConsistent(backend, mem);
    assert.equal(mem.objects.size, 12);
  });
});
