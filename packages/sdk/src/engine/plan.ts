import { randomUUID } from 'node:crypto';
import { attributes, diffInputs, type ResourceType, schemas } from '@stratus/model';
import type { HandlerContext, HandlerSet } from '../handlers/types.js';
import type { StateDoc, StateResource } from '../state/types.js';
import type { StackConfig } from './config.js';
import type { Ref } from './expr.js';
import type { Graph } from './graph.js';
import { operationCycle } from './operations.js';
import { getPath, resolveValue, UNKNOWN } from './values.js';

/** What apply will do to one resource. */
export type Action = 'create' | 'update' | 'replace' | 'delete' | 'no-op';

/** One changed attribute. */
export interface AttributeChange {
  name: string;
  before: unknown;
  /** UNKNOWN when known only after apply. */
  after: unknown;
  forcesReplace: boolean;
  sensitive: boolean;
}

/** The planned change of one resource. */
export interface ResourceChange {
  name: string;
  type: ResourceType;
  action: Action;
  /** Id of the existing resource (update, replace, delete, no-op). */
  priorId?: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  changes: AttributeChange[];
  /** Why, beyond attribute changes. */
  reason?: 'tainted' | 'deleted-outside' | 'drift' | 'replace-requested' | 'deposed';
  /** For drift: what changed outside Stratus, in words. */
  drift?: string;
  /** Replace by creating the new object before destroying the old one. */
  createBeforeDestroy?: boolean;
}

/** Format version of saved plans. */
export const PLAN_FORMAT_VERSION = 1;

/** A plan: a value that says exactly what apply will do, made against a given state. */
export interface Plan {
  formatVersion: number;
  stack: string;
  /** Lineage and serial of the state the plan was made against (null: no state yet). */
  lineage: string | null;
  serial: number | null;
  changes: ResourceChange[];
  outputs: Record<string, { value: unknown; sensitive: boolean }>;
  /** Problems that make the plan unappliable (e.g. preventDestroy); apply refuses an errored plan. */
  errors: string[];
  /** `-target` addresses the plan was limited to, if any. */
  targets?: string[];
}

/** Options of {@link makePlan}. */
export interface PlanOptions {
  /** Limit the plan to these resources and what they depend on (Terraform's -target). */
  targets?: string[];
  /** Replace these resources even if nothing changed (Terraform's -replace). */
  replace?: string[];
  /** Plan destroying everything in state (the stack's lifecycle options still apply). */
  destroy?: boolean;
}

/** Counts of a plan's actions. */
export function summarize(plan: Plan): { add: number; change: number; destroy: number } {
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const c of plan.changes) {
    if (c.action === 'create') add++;
    else if (c.action === 'update') change++;
    else if (c.action === 'delete') destroy++;
    else if (c.action === 'replace') {
      add++;
      destroy++;
    }
  }
  return { add, change, destroy };
}

/** Whether a plan changes anything. */
export const hasChanges = (plan: Plan): boolean => plan.changes.some((c) => c.action !== 'no-op');

/** A fresh, empty state document. */
export function emptyState(stack: string): StateDoc {
  return { version: 1, serial: 0, lineage: randomUUID(), stack, resources: [], outputs: {} };
}

/** What refresh learned: the state as the agents see it, what vanished, and what drifted. */
export interface RefreshResult {
  state: StateDoc;
  gone: Set<string>;
  /** Resources that exist but were changed outside Stratus, with what changed. */
  drift: Map<string, string>;
}

/** A refresh result that read nothing (`-refresh=false`, or no state yet). */
export function unrefreshed(state: StateDoc): RefreshResult {
  return { state, gone: new Set(), drift: new Map() };
}

/**
 * Reads every resource in `state` from its agent. Resources the agent no longer has are dropped (so the
 * plan recreates them); others get the agent's current attributes, and the handler says whether what it
 * read is drift to repair.
 */
export async function refresh(
  state: StateDoc,
  handlers: HandlerSet,
  ctx: HandlerContext,
): Promise<RefreshResult> {
  const gone = new Set<string>();
  const drift = new Map<string, string>();
  const resources = await mapBounded(state.resources, 10, async (r): Promise<StateResource | null> => {
    const h = handlers[r.type];
    const { attributes: attrs } = await h.read(ctx, { id: r.id, prior: r.attributes });
    if (!attrs) {
      if (r.status === 'ready') gone.add(r.name);
      return null;
    }
    const d = h.drift?.(attrs);
    if (d && r.status === 'ready') drift.set(r.name, d);
    // The agent is the authority: what it reports replaces what state remembered.
    return { ...r, attributes: attrs };
  });
  return {
    state: { ...state, resources: resources.filter((r): r is StateResource => r !== null) },
    gone,
    drift,
  };
}

/** Maps with at most `limit` calls in flight. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Value of a reference given what is known: the planned `after` of each resource. */
function lookupIn(planned: Map<string, Record<string, unknown>>): (ref: Ref) => unknown {
  return (ref) => {
    const after = planned.get(ref.resource);
    if (!after) return UNKNOWN;
    if (ref.path.length === 0) return after.id;
    return getPath(after, ref.path);
  };
}

/** The engine's view of the one diff: per-attribute changes of desired inputs against prior attributes. */
function diffAttributes(
  type: ResourceType,
  desired: Record<string, unknown>,
  prior: Record<string, unknown>,
  ignore: ReadonlySet<string>,
): AttributeChange[] {
  return diffInputs(schemas[type], prior, desired, ignore).changes.map((c) => ({
    name: c.name,
    before: c.before,
    after: c.after,
    forcesReplace: c.requiresReplace,
    sensitive: c.sensitive,
  }));
}

/** Planned attributes of a resource that will be created: its inputs, everything else unknown. */
function afterCreate(type: ResourceType, inputs: Record<string, unknown>): Record<string, unknown> {
  const after: Record<string, unknown> = { id: UNKNOWN };
  for (const a of attributes(schemas[type])) {
    after[a.name] =
      a.input && inputs[a.name] !== undefined ? inputs[a.name] : a.computed ? UNKNOWN : undefined;
  }
  return after;
}

/** Name of the state entry holding an object set aside by a create-before-destroy replace. */
export const deposedName = (name: string, id: string) => `${name} (deposed ${id.slice(0, 8)})`;

/** `name` and everything it depends on, transitively. */
function withDependencies(graph: Graph, names: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const stack = [...names];
  while (stack.length) {
    const n = stack.pop()!;
    if (out.has(n) || !graph.has(n)) continue;
    out.add(n);
    stack.push(...graph.dependencies(n));
  }
  return out;
}

/**
 * Makes a plan: what apply must do so that the (refreshed) state matches the config. Resources are
 * visited in dependency order so references resolve to planned values (unknown where a referenced
 * resource is created or replaced).
 */
export function makePlan(
  config: StackConfig,
  graph: Graph,
  refreshed: RefreshResult,
  priorDoc: StateDoc | null,
  opts: PlanOptions = {},
): Plan {
  const state = refreshed.state;
  const prior = new Map(state.resources.map((r) => [r.name, r]));
  const planned = new Map<string, Record<string, unknown>>();
  const lookup = lookupIn(planned);
  const changes: ResourceChange[] = [];
  const errors: string[] = [];
  const forced = new Set(opts.replace ?? []);
  const inScope = opts.targets?.length ? withDependencies(graph, opts.targets) : null;
  for (const t of [...(opts.targets ?? []), ...forced])
    if (!config.resources.has(t) && !prior.has(t))
      errors.push(`no resource named ${t} in the stack or its state`);

  for (const name of opts.destroy ? [] : graph.topoOrder()) {
    const rc = config.resources.get(name)!;
    const p = prior.get(name);
    if (inScope && !inScope.has(name)) {
      // Outside -target: left as it is; references to it use what state knows.
      if (p) planned.set(name, { id: p.id, ...p.attributes });
      continue;
    }
    const inputs = resolveValue(rc.properties, lookup) as Record<string, unknown>;
    const ignore = new Set(rc.lifecycle?.ignoreChanges ?? []);
    let change: ResourceChange;
    if (!p || p.type !== rc.type) {
      change = {
        name,
        type: rc.type,
        action: 'create',
        before: null,
        after: afterCreate(rc.type, inputs),
        changes: [],
      };
      if (refreshed.gone.has(name)) change.reason = 'deleted-outside';
      if (p) {
        // The type changed: the old resource goes, a new one comes.
        change.action = 'replace';
        change.priorId = p.id;
        change.before = { id: p.id, ...p.attributes };
      }
    } else {
      const before: Record<string, unknown> = { id: p.id, ...p.attributes };
      const attrChanges = diffAttributes(rc.type, inputs, p.attributes, ignore);
      const tainted = p.status !== 'ready';
      const drift = refreshed.drift.get(name);
      if (tainted || forced.has(name) || attrChanges.some((c) => c.forcesReplace)) {
        const kept = Object.fromEntries([...ignore].map((a) => [a, p.attributes[a]]));
        change = {
          name,
          type: rc.type,
          action: 'replace',
          priorId: p.id,
          before,
          after: afterCreate(rc.type, { ...inputs, ...kept }),
          changes: attrChanges,
        };
        if (tainted) change.reason = 'tainted';
        else if (forced.has(name)) change.reason = 'replace-requested';
      } else if (attrChanges.length > 0 || drift) {
        const after: Record<string, unknown> = { ...before };
        for (const c of attrChanges) after[c.name] = c.after;
        change = {
          name,
          type: rc.type,
          action: 'update',
          priorId: p.id,
          before,
          after,
          changes: attrChanges,
        };
        if (drift) {
          change.reason = 'drift';
          change.drift = drift;
        }
      } else {
        change = { name, type: rc.type, action: 'no-op', priorId: p.id, before, after: before, changes: [] };
      }
    }
    if (change.action === 'replace') {
      if (rc.lifecycle?.createBeforeDestroy) change.createBeforeDestroy = true;
      if (rc.lifecycle?.preventDestroy)
        errors.push(`${rc.type} ${name} has lifecycle.preventDestroy set, but this plan would replace it`);
    }
    planned.set(name, change.after!);
    changes.push(change);
  }

  for (const r of state.resources) {
    if (config.resources.has(r.name) && !opts.destroy) continue;
    if (inScope && !opts.targets!.includes(r.name)) continue;
    const rc = config.resources.get(r.name);
    if (rc?.lifecycle?.preventDestroy)
      errors.push(`${rc.type} ${r.name} has lifecycle.preventDestroy set, but this plan would destroy it`);
    changes.push({
      name: r.name,
      type: r.type,
      action: 'delete',
      priorId: r.id,
      before: { id: r.id, ...r.attributes },
      after: null,
      changes: [],
      ...(r.status === 'deposed' ? { reason: 'deposed' as const } : {}),
    });
  }

  const outputs: Plan['outputs'] = {};
  for (const o of opts.destroy ? [] : config.outputs.values())
    outputs[o.name] = { value: resolveValue(o.value, lookup), sensitive: o.sensitive };

  const plan: Plan = {
    formatVersion: PLAN_FORMAT_VERSION,
    stack: config.name,
    lineage: priorDoc?.lineage ?? null,
    serial: priorDoc?.serial ?? null,
    changes,
    outputs,
    errors,
    ...(opts.targets?.length ? { targets: opts.targets } : {}),
  };
  const cycle = operationCycle(config, graph, plan, state);
  if (cycle) errors.push(cycle);
  return plan;
}
