import type { StateDoc } from '../state/types.js';
import type { StackConfig } from './config.js';
import { Graph } from './graph.js';
import type { Plan } from './plan.js';

/** Node names of the operation graph: applying (create/update) and destroying a resource. */
export const APPLY = (n: string) => `apply:${n}`;
export const DESTROY = (n: string) => `destroy:${n}`;

/** Builds the graph of operations: creates/updates in dependency order, destroys in reverse. */
export function operationGraph(
  config: StackConfig,
  resourceGraph: Graph,
  plan: Plan,
  state: StateDoc,
): Graph {
  const g = new Graph();
  const byName = new Map(plan.changes.map((c) => [c.name, c]));
  const priorDeps = new Map(state.resources.map((r) => [r.name, r.dependencies]));
  const destroys = new Set(
    plan.changes.filter((c) => c.action === 'delete' || c.action === 'replace').map((c) => c.name),
  );
  for (const name of config.resources.keys()) {
    g.add(APPLY(name));
    for (const dep of resourceGraph.dependencies(name)) g.connect(APPLY(name), APPLY(dep));
    const c = byName.get(name);
    if (c?.action !== 'replace') continue;
    if (c.createBeforeDestroy) {
      // The new object first; the old one goes once everything that used it has moved on.
      g.connect(DESTROY(name), APPLY(name));
      for (const user of resourceGraph.dependents(name)) g.connect(DESTROY(name), APPLY(user));
    } else g.connect(APPLY(name), DESTROY(name));
  }
  for (const name of destroys) {
    g.add(DESTROY(name));
    for (const [other, deps] of priorDeps) {
      if (!deps.includes(name)) continue;
      // What depended on `name` is destroyed first, or (when it stays) updated away from it first.
      if (destroys.has(other) && !byName.get(other)?.createBeforeDestroy)
        g.connect(DESTROY(name), DESTROY(other));
      // Only an update can move a remaining resource off what is deleted; a no-op holds nothing of it.
      else if (byName.get(name)?.action === 'delete' && byName.get(other)?.action === 'update')
        g.connect(DESTROY(name), APPLY(other));
    }
  }
  return g;
}

/** Why a plan's operations cannot be ordered (a cycle), or undefined when they can. */
export function operationCycle(
  config: StackConfig,
  resourceGraph: Graph,
  plan: Plan,
  state: StateDoc,
): string | undefined {
  const cycle = operationGraph(config, resourceGraph, plan, state).cycles()[0];
  return (
    cycle &&
    `these changes cannot be ordered, they form a cycle: ${cycle.join(' -> ')}; apply them in two steps`
  );
}
