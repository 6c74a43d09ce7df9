import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AgentClient } from '../client/agent-client.js';
import { AgentPool } from '../client/pool.js';
import { applyPlan } from '../engine/apply.js';
import { checkStack } from '../engine/check.js';
import { load } from '../engine/world.test-support.js';
import { loadProgram } from '../loaders/program.js';
import { agentProviders, providersFor } from '../protocol/index.js';
import type { ResourceIO } from '../protocol/io.js';
import type { ProviderSet } from '../protocol/types.js';
import { LocalBackend } from '../state/local.js';
import { StateError } from '../state/types.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { applyOperation, applySavedOperation, planOperation, StalePlanError, savePlan } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-ops-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const backend = () => new LocalBackend(join(dir, `state-${++n}.json`));

const STACK = `
resources:
  net:
    type: network
  sub:
    type: subnet
    properties: { network: "\${net}", cidr: 10.9.0.0/24 }
`;

/** A world whose reads block until `release` is called, counting them. */
function blockingReads(mem: MemoryHandlers) {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let reads = 0;
  let blocking = false;
  const providers = providersFor((schema): ResourceIO => {
    const io = mem.io(schema.type as never);
    return {
      ...io,
      read: async (ctx, id, prior) => {
        reads++;
        if (blocking) await gate;
        return io.read(ctx, id, prior);
      },
    };
  });
  return {
    providers,
    release,
    block: () => {
      blocking = true;
    },
    get reads() {
      return reads;
    },
  };
}

describe('operations layer', () => {
  test('the lock is held from before refresh to after save: a second apply during the first refresh fails at once', async () => {
    const mem = new MemoryHandlers();
    const w = blockingReads(mem);
    const b = backend();
    const stack = load(STACK);
    const first = await applyOperation({ stack, backend: b, providers: w.providers });
    assert.equal(first.result?.ok, true);

    w.block();
    const running = applyOperation({ stack, backend: b, providers: w.providers });
    while (w.reads === 0) await new Promise((r) => setTimeout(r, 5));
    const readsBefore = w.reads;
    let planned = false;
    await assert.rejects(
      applyOperation({ stack, backend: b, providers: w.providers, onPlan: () => (planned = true) }),
      (e) => StateError.isInstance(e) && e.code === 'locked',
    );
    assert.equal(planned, false, 'no plan is made (or shown) without the lock');
    assert.equal(w.reads, readsBefore, 'the second apply read nothing');
    w.release();
    const done = await running;
    assert.equal(done.diagnostics.length, 0);
    // Released after save: a third run takes the lock.
    const third = await planOperation({ stack, backend: b, providers: w.providers });
    assert.equal(
      third.plan.changes.every((c) => c.action === 'no-op'),
      true,
    );
  });

  test('apply executes the plan values: a config changed after planning is not read again', async () => {
    const mem = new MemoryHandlers();
    const b = backend();
    const stack = load(`
resources:
  net:
    type: network
    properties: { name: first }
`);
    await applyOperation({ stack, backend: b, providers: mem.providers });
    const edited = load(`
resources:
  net:
    type: network
    properties: { name: second }
  other:
    type: network
    properties: { name: "\${net.name}-too" }
`);
    const outcome = await planOperation({ stack: edited, backend: b, providers: mem.providers });
    const other = outcome.plan.changes.find((c) => c.name === 'other')!;
    assert.equal(other.deferred, undefined, 'a reference to a known value is resolved in the plan');
    assert.equal(other.after?.name, 'second-too', 'a reference to an updated value takes its planned value');
    // The configuration changes after the plan was shown: apply must not see it.
    edited.config.resources.get('net')!.properties.name = 'third';
    edited.config.resources.get('other')!.properties.name = 'ignored';
    // A provider whose plan step counts calls: apply of a plan with nothing deferred never plans again.
    let plans = 0;
    const counting = Object.fromEntries(
      Object.entries(mem.providers).map(([t, p]) => [
        t,
        {
          ...p,
          plan: (req: Parameters<typeof p.plan>[0]) => {
            plans++;
            return p.plan(req);
          },
        },
      ]),
    ) as ProviderSet;
    const state = outcome.refreshed.state;
    const result = await applyPlan({ plan: outcome.plan, state, backend: b, providers: counting });
    assert.equal(result.ok, true, JSON.stringify(result.errors));
    assert.equal(plans, 0);
    const names = [...mem.objects.values()].map((o) => o.attributes.name).sort();
    assert.deepEqual(names, ['second', 'second-too']);
  });

  test('values known only after apply are filled in from state, and must agree with the plan', async () => {
    const mem = new MemoryHandlers();
    const b = backend();
    const stack = load(STACK);
    const outcome = await planOperation({ stack, backend: b, providers: mem.providers });
    const sub = outcome.plan.changes.find((c) => c.name === 'sub')!;
    assert.deepEqual(sub.deferred?.network, { $ref: { resource: 'net', path: [] } });
    const result = await applyPlan({
      plan: outcome.plan,
      state: outcome.refreshed.state,
      backend: b,
      providers: mem.providers,
    });
    assert.equal(result.ok, true);
    const net = result.state.resources.find((r) => r.name === 'net')!;
    assert.equal(result.state.resources.find((r) => r.name === 'sub')!.attributes.network, net.id);
  });

  test('a saved plan of a TypeScript program is refused when a module it imports changed', async () => {
    const progDir = mkdtempSync(join(dir, 'prog-'));
    writeFileSync(join(progDir, 'package.json'), '{ "type": "module" }\n');
    const constructs = pathToFileURL(
      resolve(fileURLToPath(import.meta.url), '../../constructs/index.ts'),
    ).href;
    writeFileSync(join(progDir, 'sizes.ts'), 'export const mtu = 1500;\n');
    const main = join(progDir, 'main.ts');
    writeFileSync(
      main,
      `import { Network, Stack } from '${constructs}';\nimport { mtu } from './sizes.ts';\n` +
        `const s = new Stack('p');\nnew Network(s, 'net', { mtu });\nexport default s;\n`,
    );
    const loaded = await loadProgram(main);
    assert.ok(loaded.config, loaded.diagnostics.items.map((d) => d.message).join('\n'));
    assert.deepEqual(loaded.config.inputs, [main, join(progDir, 'sizes.ts')].sort());
    const mem = new MemoryHandlers();
    const b = backend();
    const stack = { config: loaded.config, graph: checkStack(loaded.config, mem.providers).graph };
    const saved = await savePlan(stack, await planOperation({ stack, backend: b, providers: mem.providers }));
    writeFileSync(join(progDir, 'sizes.ts'), 'export const mtu = 9000;\n');
    await assert.rejects(
      applySavedOperation({ saved, path: 'p.plan', backend: b, providers: mem.providers }),
      (e) => e instanceof StalePlanError && /sizes\.ts changed/.test(e.message),
    );
    assert.equal(mem.objects.size, 0, 'nothing reached a host');
    writeFileSync(join(progDir, 'sizes.ts'), 'export const mtu = 1500;\n');
    const result = await applySavedOperation({ saved, path: 'p.plan', backend: b, providers: mem.providers });
    assert.equal(result.ok, true);
  });
});

describe('cancellation', () => {
  /** An agent stand-in on a unix socket whose PUTs never answer; records when their connections close. */
  async function silentAgent() {
    const socket = join(dir, `agent-${++n}.sock`);
    const closed: string[] = [];
    const received: string[] = [];
    const server: Server = createServer((req, res) => {
      if (req.method === 'GET') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"code":"not_found","message":"nope"}');
        return;
      }
      received.push(`${req.method} ${req.url}`);
      req.socket.once('close', () => closed.push(`${req.method} ${req.url}`));
    });
    await new Promise<void>((r) => server.listen(socket, r));
    const pool = new AgentPool(async () => new AgentClient({ socket, token: 't' }));
    return {
      providers: agentProviders(pool),
      received,
      closed,
      async close() {
        await pool.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      },
    };
  }

  test('a timeout cancels the agent request in flight', async () => {
    const agent = await silentAgent();
    try {
      const stack = load(`
resources:
  net:
    type: network
    timeouts: { create: 300ms }
`);
      const o = await applyOperation({ stack, backend: backend(), providers: agent.providers });
      assert.equal(o.result?.ok, false);
      assert.match(o.result!.errors[0]!.message, /creating network net timed out after 0s/);
      // The agent may still finish it: in flight, so the next apply takes it up under its id (issue 8).
      assert.equal(o.result!.state.resources[0]!.status, 'creating');
      while (agent.closed.length === 0) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(agent.closed, agent.received, 'the agent saw the request cancelled');
    } finally {
      await agent.close();
    }
  });

  test('a hard interrupt (the second Ctrl-C) cancels the agent request in flight', async () => {
    const agent = await silentAgent();
    try {
      const stack = load('resources:\n  net:\n    type: network\n');
      const hard = new AbortController();
      const running = applyOperation({
        stack,
        backend: backend(),
        providers: agent.providers,
        signal: hard.signal,
      });
      while (agent.received.length === 0) await new Promise((r) => setTimeout(r, 10));
      hard.abort(new Error('interrupted'));
      const o = await running;
      assert.equal(o.result?.ok, false);
      assert.match(o.result!.errors[0]!.message, /creating network net was interrupted/);
      while (agent.closed.length === 0) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(agent.closed, agent.received);
    } finally {
      await agent.close();
    }
  });
});

describe('locks that outlive their holder (issue 7, finding 14)', () => {
  test('a lock left by a dead process on this host is reported as stale, with the command that clears it', async () => {
    const b = backend();
    const unlock = await b.lock('apply');
    const lockFile = `${b.where}.lock`;
    const held = JSON.parse(readFileSync(lockFile, 'utf8'));
    // The lock of a run that was killed: the same host, a pid that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(lockFile, JSON.stringify({ ...held, who: held.who.replace(/pid \d+$/, `pid ${dead}`) }));
    await assert.rejects(b.lock('apply'), (e) => {
      assert.ok(StateError.isInstance(e) && e.code === 'locked');
      assert.match(e.message, new RegExp(`pid ${dead} on this host, is no longer running`));
      assert.ok(e.message.includes(`stratus force-unlock ${held.id} --state ${b.where}`), e.message);
      return true;
    });
    await b.forceUnlock(held.id);
    await unlock();
  });

  test('every exit path releases the lock: an apply whose agent cannot be reached leaves none', async () => {
    const b = backend();
    const pool = new AgentPool(async () => {
      throw new Error('stratus-agent did not come up');
    });
    const o = await applyOperation({ stack: load(STACK), backend: b, providers: agentProviders(pool) });
    assert.equal(o.result?.ok, false);
    assert.match(o.result!.errors[0]!.message, /did not come up/);
    assert.equal(existsSync(`${b.where}.lock`), false);
    // The next run takes the lock at once.
    await (await b.lock('apply'))();
  });
});
