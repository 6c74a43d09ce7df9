import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadStackText } from '../loaders/stack-yaml.js';
import { providersFor } from '../protocol/index.js';
import type { ResourceIO } from '../protocol/io.js';
import type { ProviderSet } from '../protocol/types.js';
import { LocalBackend } from '../state/local.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { applyPlan } from './apply.js';
import { checkStack } from './check.js';
import { emptyState, hasChanges, makePlan, type Plan } from './plan.js';
import { refresh } from './refresh.js';
import { checkProviders } from './world.test-support.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const STACK =
  'resources:\n  net:\n    type: network\n  sub:\n    type: subnet\n    properties:\n      network: ${net}\n      cidr: 10.9.0.0/24\n';

/** Refresh, plan (with `edit` applied to the plan value), apply: as the operations layer runs them. */
async function run(backend: LocalBackend, providers: ProviderSet, edit: (p: Plan) => void = () => {}) {
  const { config } = loadStackText(STACK, '/r/stack.yaml');
  const { graph } = checkStack(config!, checkProviders);
  const prior = await backend.read();
  const refreshed = await refresh(prior ?? emptyState('t'), providers);
  const plan = makePlan(config!, graph, refreshed, prior, providers);
  edit(plan);
  // AbortSignal.timeout's timer does not hold the process open (a real client holds its socket).
  const alive = setInterval(() => {}, 1000);
  try {
    const result = await applyPlan({ plan, state: refreshed.state, backend, providers });
    return { plan, result };
  } finally {
    clearInterval(alive);
  }
}

/** Waits for `cond` with a generous limit (an event, not a timing assertion). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 30_000; !cond(); await new Promise((r) => setTimeout(r, 10)))
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
}

test('a create that times out while the host still works on it is taken up by the next apply, not tainted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-reattach-'));
  dirs.push(dir);
  const backend = new LocalBackend(join(dir, 'state.json'));
  const mem = new MemoryHandlers();
  // The network's create goes on after its caller gave up (as the agent's does): it ignores the signal.
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  const creates: string[] = [];
  const slow = providersFor((schema): ResourceIO => {
    const io = mem.io(schema.type as never);
    return {
      ...io,
      create: async (c, id, inputs) => {
        creates.push(`${schema.type}:${id}`);
        if (schema.type === 'network' && creates.length === 1) await released;
        return io.create({ ...c, signal: new AbortController().signal }, id, inputs);
      },
    };
  });

  const first = await run(backend, slow, (p) => {
    for (const c of p.changes) if (c.name === 'net') c.timeouts.create = 50;
  });
  assert.equal(first.result.ok, false);
  const message = first.result.errors.map((e) => e.message).join('\n');
  assert.match(message, /creating network net timed out/);
  assert.match(message, /the next apply takes up the same object/);
  const stuck = (await backend.read())!.resources.find((r) => r.name === 'net')!;
  assert.equal(stuck.status, 'creating', 'recorded as in flight, not tainted');
  assert.equal(mem.objects.size, 0);

  // The host finishes after the client gave up.
  release();
  await until(() => mem.objects.has(stuck.id), 'the late create');

  const second = await run(backend, slow);
  const net = second.plan.changes.find((c) => c.name === 'net')!;
  assert.equal(net.action, 'create');
  assert.equal(net.reason, 'resume');
  assert.equal(net.priorId, stuck.id);
  assert.equal(second.result.ok, true, JSON.stringify(second.result.errors));
  const state = (await backend.read())!;
  assert.equal(state.resources.find((r) => r.name === 'net')!.id, stuck.id);
  assert.ok(state.resources.every((r) => r.status === 'ready'));
  assert.deepEqual([...mem.objects.keys()].sort(), state.resources.map((r) => r.id).sort());
  assert.equal(mem.objects.size, 2, 'nothing made twice, nothing replaced');
  assert.equal(creates.filter((c) => c.startsWith('network:')).length, 2, 'the same id, asked twice');
  assert.equal(hasChanges((await run(backend, slow)).plan), false);
});

test('a create in flight whose object is not there yet is created again under its id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-reattach-'));
  dirs.push(dir);
  const backend = new LocalBackend(join(dir, 'state.json'));
  const mem = new MemoryHandlers();
  // The host never gets the first create (the CLI died before sending it): nothing exists under the id.
  const lost = providersFor((schema): ResourceIO => {
    const io = mem.io(schema.type as never);
    return {
      ...io,
      create: (c, id, inputs) =>
        schema.type === 'network' && !lostOnce++ ? new Promise<never>(() => {}) : io.create(c, id, inputs),
    };
  });
  let lostOnce = 0;
  const first = await run(backend, lost, (p) => {
    for (const c of p.changes) if (c.name === 'net') c.timeouts.create = 50;
  });
  assert.equal(first.result.ok, false);
  const stuck = (await backend.read())!.resources.find((r) => r.name === 'net')!;
  assert.equal(stuck.status, 'creating');

  const second = await run(backend, lost);
  assert.equal(second.plan.changes.find((c) => c.name === 'net')!.reason, 'resume');
  assert.equal(second.result.ok, true);
  assert.equal((await backend.read())!.resources.find((r) => r.name === 'net')!.id, stuck.id);
  assert.equal(mem.objects.size, 2);
});
