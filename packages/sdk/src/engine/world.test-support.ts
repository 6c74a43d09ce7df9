/**
 * Test support (not built into dist): a stack file applied to an in-memory world through the real
 * engine and operations layer, with state in a real local file. Engine tests plan and apply YAML text.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStackText } from '../loaders/stack-yaml.js';
import { LocalBackend } from '../state/local.js';
import { MemoryHandlers, type MemoryOptions } from '../testing/memory-handlers.js';
import { applyPlan } from './apply.js';
import { checkStack } from './check.js';
import { emptyState, makePlan, type PlanOptions } from './plan.js';
import { refresh } from './refresh.js';

/** Providers for checks only (validation is pure): an empty in-memory world's. */
export const checkProviders = new MemoryHandlers().providers;

const dirs: string[] = [];

/** Removes the state dirs of every world made so far (call from `after`). */
export function removeWorlds(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Loads and checks a stack from YAML text; any diagnostic fails the test. */
export function load(yaml: string) {
  const { config, diagnostics } = loadStackText(yaml, '/virtual/stack.yaml');
  assert.ok(config, diagnostics.items.map((d) => d.message).join('\n'));
  const checked = checkStack(config, checkProviders);
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
    const refreshed = await refresh(prior ?? emptyState(config.name), mem.providers);
    return {
      config,
      graph,
      refreshed,
      plan: makePlan(config, graph, refreshed, prior, mem.providers, planOpts),
    };
  };
  const apply = async (yaml: string, applyOpts: PlanOptions & { parallelism?: number } = {}) => {
    const { parallelism, ...planOpts } = applyOpts;
    const p = await plan(yaml, planOpts);
    return applyPlan({
      plan: p.plan,
      state: p.refreshed.state,
      backend,
      providers: mem.providers,
      parallelism,
    });
  };
  return { mem, backend, plan, apply };
}
