import type { StateDoc } from '../state/types.js';
import { Graph } from './graph.js';
import type { Plan } from './plan.js';

/** Node names of the operation graph: applying (create/update) and destroying a resource. */
export const APPLY = (n: string) => `apply:${n}`;
export const DESTROY = (n: string) => `destroy:${n}`;

/**
 * Builds the graph of operations from a plan alone: creates/updates in dependency order (each change
 * carries its dependencies), destroys in reverse of what state recorded.
 */
export function operationGraph(plan: Plan, state: StateDoc): Graph {
  const g = new Graph();
  const byName = new Map(plan.changes.map((c) => [c.name, c]));
  const dependents = new Map<string, string[]>();
  const priorDeps = new Map(state.resources.map((r) => [r.name, r.dependencies]));
  const applying = plan.changes.filter((c) => c.action !== 'delete');
  for (const c of applying)
    for (const d of c.dependencies) {
      const list = dependents.get(d);
      if (list) list.push(c.name);
      else dependents.set(d, [c.name]);
    }
  const destroys = new Set(
    plan.changes.filter((c) => c.action === 'delete' || c.action === 'replace').map((c) => c.name),
  );
  for (const c of applying) {
    g.add(APPLY(c.name));
    for (const dep of c.dependencies)
      if (byName.get(dep)?.action !== 'delete') g.connect(APPLY(c.name), APPLY(dep));
    if (c.action !== 'replace') continue;
    if (c.createBeforeDestroy) {
      // The new object first; the old one goes once everything that used it has moved on.
      g.connect(DESTROY(c.name), APPLY(c.name));
      for (const user of dependents.get(c.name) ?? []) g.connect(DESTROY(c.name), APPLY(user));
    } else g.connect(APPLY(c.name), DESTROY(c.name));
  }
  // Who depended on whom when last applied, indexed once: asking every state entry for every destroy
  // made a 10,000-resource destroy plan quadratic (half a minute).
  const priorDependents = new Map<string, string[]>();
  for (const [other, deps] of priorDeps)
    for (const d of new Set(deps)) {
      const list = priorDependents.get(d);
      if (list) list.push(other);
      else priorDependents.set(d, [other]);
    }
  for (const name of destroys) {
    g.add(DESTROY(name));
    for (const other of priorDependents.get(name) ?? []) {
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
export function operationCycle(plan: Plan, state: StateDoc): string | undefined {
  const cycle = operationGraph(plan, state).cycles()[0];
  return (
    cycle &&
    `these changes cannot be ordered, they form a cycle: ${cycle.join(' -> ')}; apply them in two steps`
  );
}
