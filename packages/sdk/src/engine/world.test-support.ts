/**
 * Test support (not built into dist): a stack file applied to an in-memory world through the real
 * engine, with state in a real local file. Engine tests plan and apply YAML text against it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../client/agent-client.js';
import { agentHandlers } from '../handlers/index.js';
import type { HandlerContext } from '../handlers/types.js';
import { loadStackText } from '../loaders/stack-yaml.js';
import { LocalBackend } from '../state/local.js';
import { MemoryHandlers, type MemoryOptions } from '../testing/memory-handlers.js';
import { applyPlan } from './apply.js';
import { checkStack } from './check.js';
import { emptyState, makePlan, type PlanOptions, refresh } from './plan.js';

/** Handlers here never reach an agent; the client only satisfies the type. */
export const ctx: HandlerContext = { client: new AgentClient({ socket: '/nonexistent' }) };

const dirs: string[] = [];

/** Removes the state dirs of every world made so far (call from `after`). */
export function removeWorlds(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Loads and checks a stack from YAML text; any diagnostic fails the test. */
export function load(yaml: string) {
  const { config, diagnostics } = loadStackText(yaml, '/virtual/stack.yaml');
  assert.ok(config, diagnostics.items.map((d) => d.message).join('\n'));
  const checked = checkStack(config, agentHandlers);
  assert.deepEqual([...diagnostics.items, ...checked.diagnostics.items], []);
  return { config, graph: checked.graph };
}

/** An in-memory world with its own state file: `plan` and `apply` take stack YAML. */
export function world(opts: MemoryOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'stratus-world-'));
  dirs.push(dir);
  const mem = new MemoryHandlers(opts);
  const backend = new LocalBackend(join(dir, 'state.json'));
  const plan = async (yaml: string, planOpts: PlanOptions = {}) => {
    const { config, graph } = load(yaml);
    const prior = await backend.read();
    const refreshed = await refresh(prior ?? emptyState(config.name), mem.handlers, ctx);
    return { config, graph, refreshed, plan: makePlan(config, graph, refreshed, prior, planOpts) };
  };
  const apply = async (yaml: string, applyOpts: PlanOptions & { parallelism?: number } = {}) => {
    const { parallelism, ...planOpts } = applyOpts;
    const p = await plan(yaml, planOpts);
    return applyPlan({
      config: p.config,
      plan: p.plan,
      state: p.refreshed.state,
      backend,
      handlers: mem.handlers,
      ctx,
      parallelism,
    });
  };
  return { mem, backend, plan, apply };
}
