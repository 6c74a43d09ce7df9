import { randomUUID } from 'node:crypto';
import type { HandlerContext, HandlerSet } from '../handlers/types.js';
import { attributes, type ResourceType, schemas } from '../model/index.js';
import type { StateDoc, StateResource } from '../state/types.js';
import type { StackConfig } from './config.js';
import type { Ref } from './expr.js';
import type { Graph } from './graph.js';
import { deepEqual, getPath, resolveValue, UNKNOWN } from './values.js';

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
  /** Why, beyond attribute changes: the resource was tainted, or deleted outside Stratus. */
  reason?: 'tainted' | 'deleted-outside';
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

/** What refresh learned: the state as the agents see it, and which resources vanished. */
export interface RefreshResult {
  state: StateDoc;
  gone: Set<string>;
}

/**
 * Reads every resource in `state` from its agent. Resources the agent no longer has are dropped (so the
 * plan recreates them); others get the agent's current attributes.
 */
export async function refresh(
  state: StateDoc,
  handlers: HandlerSet,
  ctx: HandlerContext,
): Promise<RefreshResult> {
  const gone = new Set<string>();
  const resources = await Promise.all(
    state.resources.map(async (r): Promise<StateResource | null> => {
      const { attributes: attrs } = await handlers[r.type].read(ctx, { id: r.id, prior: r.attributes });
      if (!attrs) {
        if (r.status === 'ready') gone.add(r.name);
        return null;
      }
      return { ...r, attributes: { ...r.attributes, ...attrs } };
    }),
  );
  return { state: { ...state, resources: resources.filter((r): r is StateResource => r !== null) }, gone };
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

/** Diffs desired inputs against prior attributes, attribute by attribute, as the schema says. */
function diffInputs(
  type: ResourceType,
  desired: Record<string, unknown>,
  prior: Record<string, unknown>,
): AttributeChange[] {
  const out: AttributeChange[] = [];
  for (const a of attributes(schemas[type])) {
    if (!a.input) continue;
    const want = desired[a.name];
    const had = prior[a.name];
    // Optional+computed attributes left out keep whatever the agent chose.
    if (want === undefined && a.computed) continue;
    if (deepEqual(want, had) || (want === undefined && had === undefined)) continue;
    out.push({
      name: a.name,
      before: had,
      after: want,
      forcesReplace: a.requiresReplace === true,
      sensitive: a.sensitive === true,
    });
  }
  return out;
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

/**
 * Makes a plan: what apply must do so that the (refreshed) state matches the config. Resources are
 * visited in dependency order so references resolve to planned values (unknown where a referenced
 * resource is created or replaced).
 */
export function makePlan(
  config: StackConfig,
  graph: Graph,
  refreshed: RefreshResult,
  priorSerial: StateDoc | null,
): Plan {
  const state = refreshed.state;
  const prior = new Map(state.resources.map((r) => [r.name, r]));
  const planned = new Map<string, Record<string, unknown>>();
  const lookup = lookupIn(planned);
  const changes: ResourceChange[] = [];

  for (const name of graph.topoOrder()) {
    const rc = config.resources.get(name)!;
    const inputs = resolveValue(rc.properties, lookup) as Record<string, unknown>;
    const p = prior.get(name);
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
      const attrChanges = diffInputs(rc.type, inputs, p.attributes);
      const tainted = p.status !== 'ready';
      if (tainted || attrChanges.some((c) => c.forcesReplace)) {
        change = {
          name,
          type: rc.type,
          action: 'replace',
          priorId: p.id,
          before,
          after: afterCreate(rc.type, inputs),
          changes: attrChanges,
        };
        if (tainted) change.reason = 'tainted';
      } else if (attrChanges.length > 0) {
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
      } else {
        change = { name, type: rc.type, action: 'no-op', priorId: p.id, before, after: before, changes: [] };
      }
    }
    planned.set(name, change.after!);
    changes.push(change);
  }

  for (const r of state.resources) {
    if (config.resources.has(r.name)) continue;
    changes.push({
      name: r.name,
      type: r.type,
      action: 'delete',
      priorId: r.id,
      before: { id: r.id, ...r.attributes },
      after: null,
      changes: [],
    });
  }

  const outputs: Plan['outputs'] = {};
  for (const o of config.outputs.values())
    outputs[o.name] = { value: resolveValue(o.value, lookup), sensitive: o.sensitive };

  return {
    formatVersion: PLAN_FORMAT_VERSION,
    stack: config.name,
    lineage: priorSerial?.lineage ?? null,
    serial: priorSerial?.serial ?? null,
    changes,
    outputs,
  };
}
