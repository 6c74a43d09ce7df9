import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { agentHandlers } from '../handlers/index.js';
import type { HandlerContext, HandlerSet } from '../handlers/types.js';
import { loadStackText } from '../loaders/stack-yaml.js';
import { LocalBackend } from '../state/local.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { applyPlan } from './apply.js';
import { checkStack } from './check.js';
import { emptyState, hasChanges, makePlan, refresh } from './plan.js';
import { ctx } from './world.test-support.js';

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
  handlers: HandlerSet,
  shouldStart?: () => boolean,
  onStart?: () => void,
) {
  const { config } = loadStackText(STACK, '/v/stack.yaml');
  const { graph } = checkStack(config!, agentHandlers);
  const prior = await backend.read();
  const refreshed = await refresh(prior ?? emptyState('t'), handlers, ctx);
  const plan = makePlan(config!, graph, refreshed, prior);
  const result = applyPlan({
    config: config!,
    plan,
    state: refreshed.state,
    backend,
    handlers,
    ctx,
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
        mem.handlers,
        () => started < after,
        () => started++,
      );
      const r = await result;
      assert.equal(r.ok, false, 'an interrupted apply reports failure');
      await assertConsistent(backend, mem);
      const second = await (await run(backend, mem.handlers)).result;
      assert.equal(second.ok, true);
      await assertConsistent(backend, mem);
      assert.equal(mem.objects.size, 12);
      const { plan } = await run(backend, mem.handlers);
      assert.equal(hasChanges(plan), false);
    });
  }

  test('Ctrl-C twice (the process dies mid-create): the half-made resource is replaced, never duplicated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-int-'));
    dirs.push(dir);
    const backend = new LocalBackend(join(dir, 'state.json'));
    const mem = new MemoryHandlers();
    const base = mem.handlers;
    // The second subnet create reaches the host, then the process is gone: from then on nothing it
    // started settles, and it writes no more state.
    let dead = false;
    const never = () => new Promise<never>(() => {});
    let creates = 0;
    const dying = Object.fromEntries(
      Object.entries(base).map(([type, h]) => [
        type,
        {
          ...h,
          create: async (c: HandlerContext, req: Parameters<typeof h.create>[1]) => {
            if (dead) return never();
            const res = await h.create(c, req);
            if (type === 'subnet' && ++creates === 2) dead = true;
            return dead ? never() : res;
          },
          read: (c: HandlerContext, req: Parameters<typeof h.read>[1]) => (dead ? never() : h.read(c, req)),
          delete: (c: HandlerContext, req: Parameters<typeof h.delete>[1]) =>
            dead ? never() : h.delete(c, req),
        },
      ]),
    ) as HandlerSet;
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
    const next = await run(backend, mem.handlers);
    assert.equal(next.plan.changes.find((c) => c.name === stuck.name)!.action, 'replace');
    assert.equal((await next.result).ok, true);
    await assertConsistent(backend, mem);
    assert.equal(mem.objects.size, 12);
  });
});
