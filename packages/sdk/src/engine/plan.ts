import { randomUUID } from 'node:crypto';
import {
  attributes,
  formatPath,
  isUnknown,
  type OperationTimeouts,
  type ResourceType,
  schemas,
  timeoutsOf,
  UNKNOWN,
} from '@stratus/model';
import { LOCAL_HOST } from '../client/pool.js';
import type { Diagnostic } from '../diagnostics/index.js';
import type { ProviderSet } from '../protocol/types.js';
import type { ParameterDigests, StateDoc } from '../state/types.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { hasDeferred, type Lookup, plannedValue, resolvePartially } from './deferred.js';
import { walkRefs } from './expr.js';
import type { Graph } from './graph.js';
import { operationCycle } from './operations.js';
import { immutableParameterErrors, parameterDigests } from './parameters.js';
import type { RefreshResult } from './refresh.js';

/** What apply will do to one resource. */
export type Action = 'create' | 'update' | 'replace' | 'delete' | 'no-op';

/** One changed attribute. */
export interface AttributeChange {
  name: string;
  before: unknown;
  /** UNKNOWN when known only after apply. */
  after: unknown;
  forcesReplace: boolean;
  /** The attribute is sensitive, or its value comes from a sensitive attribute: never shown. */
  sensitive: boolean;
}

/** The planned change of one resource: everything apply needs, with no need of the configuration. */
export interface ResourceChange {
  name: string;
  type: ResourceType;
  action: Action;
  /** The host the resource lives on. */
  host: string;
  /** Id of the existing resource (update, replace, delete, no-op). */
  priorId?: string;
  /** Attributes (with `id`) before and after; UNKNOWN where only apply can tell. */
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  changes: AttributeChange[];
  /** Why, beyond attribute changes. */
  reason?: 'tainted' | 'deleted-outside' | 'drift' | 'replace-requested' | 'deposed' | 'resume';
  /** For drift: what changed outside Stratus, in words. */
  drift?: string;
  /** Replace by creating the new object before destroying the old one. */
  createBeforeDestroy?: boolean;
  /**
   * The input values, when some depend on values known only after apply: resolved where the plan
   * could, with markers where it could not (see deferred.ts). Apply fills the markers in from state.
   */
  deferred?: Record<string, unknown>;
  /** lifecycle.ignoreChanges, for the final plan apply makes of a deferred change. */
  ignoreChanges?: string[];
  /** Resources this one depends on (references, implied and explicit): apply orders by these. */
  dependencies: string[];
  /** Operation time limits in milliseconds. */
  timeouts: OperationTimeouts;
  /** Input attributes whose values come from a sensitive attribute (Terraform's sensitive marks): redacted too. */
  sensitive?: string[];
}

/** A planned output value. */
export interface PlannedOutput {
  /** UNKNOWN when known only after apply. */
  value: unknown;
  sensitive: boolean;
  /** The value with markers, when it depends on values known only after apply. */
  deferred?: unknown;
}

/** Format version of plans (saved plan files carry it). */
export const PLAN_FORMAT_VERSION = 2;

/** A plan: a value that says exactly what apply will do, made against a given state. */
export interface Plan {
  formatVersion: number;
  stack: string;
  /** Lineage and serial of the state the plan was made against (null: no state yet). */
  lineage: string | null;
  serial: number | null;
  changes: ResourceChange[];
  outputs: Record<string, PlannedOutput>;
  /** Problems that make the plan unappliable (e.g. preventDestroy, a missing reference); apply refuses them. */
  errors: Diagnostic[];
  /** `-target` addresses the plan was limited to, if any. */
  targets?: string[];
  /** The config's random seed (StackConfig.randomSeed), which apply keeps in state. */
  randomSeed?: string;
  /**
   * Keyed digests of a Heat template's parameter values (engine/parameters.ts), which apply keeps in
   * state so the next plan can refuse a change of an immutable parameter. Never the values.
   */
  parameters?: ParameterDigests;
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
 * The resources an address names: itself when it is one, else the instances of a resource with count
 * or forEach it names (`web` -> `web[0]`, `web[1]`), as Terraform's -target and -replace take them.
 */
function instancesOf(address: string, names: readonly string[]): string[] {
  if (names.includes(address)) return [address];
  return names.filter((n) => n.startsWith(`${address}[`));
}

/**
 * Whether a reference's path starts at a sensitive attribute of resource `rc`: one its type marks
 * sensitive, or one whose value came from a sensitive variable.
 */
function refIsSensitive(rc: ResourceConfig | undefined, path: readonly (string | number)[]): boolean {
  if (!rc || path.length === 0) return false;
  if (rc.sensitive?.includes(String(path[0]))) return true;
  return attributes(schemas[rc.type]).some((a) => a.name === path[0] && a.sensitive);
}

/**
 * A lookup of references against planned values: a value not known yet is UNKNOWN; an index, key or
 * attribute that does not exist in a known value is missing (a plan error, never an empty string).
 */
function plannedLookup(planned: Map<string, Record<string, unknown>>): Lookup {
  return (ref) => {
    const after = planned.get(ref.resource);
    const text = `\${${ref.resource}${ref.path.length ? `.${formatPath(ref.path)}`.replace('.[', '[') : ''}}`;
    // Not planned (outside -target, with nothing in state): known only after apply.
    if (!after) return { value: UNKNOWN };
    if (ref.path.length === 0) return { value: after.id };
    let cur: unknown = after;
    for (const [i, p] of ref.path.entries()) {
      if (isUnknown(cur)) return { value: cur };
      const ok =
        cur !== null &&
        typeof cur === 'object' &&
        (Array.isArray(cur) ? typeof p === 'number' && p < cur.length : Object.hasOwn(cur, p));
      if (!ok || (cur as Record<string | number, unknown>)[p] === undefined) {
        const at = formatPath(ref.path.slice(0, i + 1));
        return {
          missing: Array.isArray(cur)
            ? `${text}: ${ref.resource}.${formatPath(ref.path.slice(0, i))} has ${cur.length} element${cur.length === 1 ? '' : 's'}, so index ${String(p)} does not exist`
            : `${text}: ${ref.resource} has no value at ${at}`,
        };
      }
      cur = (cur as Record<string | number, unknown>)[p];
    }
    return { value: cur };
  };
}

/**
 * Makes a plan: what apply must do so that the (refreshed) state matches the config. Resources are
 * visited in dependency order so references resolve to planned values (unknown where a referenced
 * resource is created or replaced); each type's provider decides the planned values and whether a
 * change replaces (the model's one diff, through the provider protocol).
 */
export function makePlan(
  config: StackConfig,
  graph: Graph,
  refreshed: RefreshResult,
  priorDoc: StateDoc | null,
  providers: ProviderSet,
  opts: PlanOptions = {},
): Plan {
  const state = refreshed.state;
  const prior = new Map(state.resources.map((r) => [r.name, r]));
  const planned = new Map<string, Record<string, unknown>>();
  const lookup = plannedLookup(planned);
  const changes: ResourceChange[] = [];
  const errors: Diagnostic[] = [];
  const error = (message: string, field?: string, range?: Diagnostic['range']) =>
    errors.push({ severity: 'error', message, ...(field ? { field } : {}), ...(range ? { range } : {}) });
  const forced = new Set(opts.replace ?? []);
  // `-target web` names every instance of a resource with count or forEach (web[0], web["a"], ...).
  const names = [...new Set([...config.resources.keys(), ...prior.keys()])];
  const targets = opts.targets?.flatMap((t) => instancesOf(t, names));
  for (const r of opts.replace ?? []) for (const n of instancesOf(r, names)) forced.add(n);
  const inScope = targets?.length ? withDependencies(graph, targets) : null;
  for (const t of [...(opts.targets ?? []), ...(opts.replace ?? [])])
    if (!config.resources.has(t) && !prior.has(t) && instancesOf(t, names).length === 0)
      error(`no resource named ${t} in the stack or its state`);

  for (const name of opts.destroy ? [] : graph.topoOrder()) {
    const rc = config.resources.get(name)!;
    const p = prior.get(name);
    if (inScope && !inScope.has(name)) {
      // Outside -target: left as it is; references to it use what state knows.
      if (p) planned.set(name, { id: p.id, ...p.attributes });
      continue;
    }
    const provider = providers[rc.type];
    const sensitiveFrom = new Set<string>(rc.sensitive);
    walkRefs(rc.properties, (ref, path) => {
      if (refIsSensitive(config.resources.get(ref.resource), ref.path)) sensitiveFrom.add(String(path[0]));
    });
    const deferred = resolvePartially(rc.properties, lookup, (message, path) =>
      error(message, fieldOf(rc, ['properties', ...path]), rc.locate(['properties', ...path])),
    ) as Record<string, unknown>;
    const deferredAny = hasDeferred(deferred);
    // Without markers the values are the proposed ones as they are: no copy per resource.
    const proposed = (deferredAny ? plannedValue(deferred) : deferred) as Record<string, unknown>;
    const ignoreChanges = rc.lifecycle?.ignoreChanges ?? [];
    const dependencies = graph.dependencies(name).sort();
    const base = {
      name,
      type: rc.type,
      host: rc.host ?? p?.host ?? LOCAL_HOST,
      dependencies,
      timeouts: { ...timeoutsOf(provider.schema), ...rc.timeouts },
      ...(deferredAny ? { deferred } : {}),
      ...(ignoreChanges.length ? { ignoreChanges } : {}),
      ...(sensitiveFrom.size ? { sensitive: [...sensitiveFrom].sort() } : {}),
    };
    const res = provider.plan({
      prior: p && p.type === rc.type ? p.attributes : null,
      proposed,
      ignore: ignoreChanges,
    });
    for (const d of res.diagnostics)
      if (d.severity === 'error')
        error(
          d.summary,
          fieldOf(rc, ['properties', ...(d.path ?? [])]),
          rc.locate(['properties', ...(d.path ?? [])]),
        );
    const attrChanges: AttributeChange[] = res.changes.map((c) => ({
      name: c.name,
      before: c.before,
      after: c.after,
      forcesReplace: c.requiresReplace,
      sensitive: c.sensitive || sensitiveFrom.has(c.name),
    }));
    const after = { id: UNKNOWN, ...(res.planned ?? {}) };
    let change: ResourceChange;
    if (p && p.type === rc.type && p.status === 'creating' && res.requiresReplace.length === 0) {
      // A create whose outcome is unknown (it timed out, or the CLI died): the agent may have finished it
      // or still be working on it. It is created again under the same id, which the agent's idempotent
      // create answers with that object (waiting for the one in flight), so nothing is made twice and
      // an object the agent completed is not replaced.
      const created = provider.plan({ prior: null, proposed, ignore: [] });
      change = {
        ...base,
        action: 'create',
        priorId: p.id,
        reason: 'resume',
        before: null,
        after: { ...(created.planned ?? {}), id: p.id },
        changes: [],
      };
    } else if (!p || p.type !== rc.type) {
      change = { ...base, action: 'create', before: null, after, changes: [] };
      if (refreshed.gone.has(name)) change.reason = 'deleted-outside';
      if (p) {
        // The type changed: the old resource goes, a new one comes.
        change.action = 'replace';
        change.priorId = p.id;
        change.before = { id: p.id, ...p.attributes };
      }
    } else {
      const before: Record<string, unknown> = { id: p.id, ...p.attributes };
      const tainted = p.status !== 'ready';
      const drift = refreshed.drift.get(name);
      if (tainted || forced.has(name) || res.requiresReplace.length > 0) {
        const replanned = res.requiresReplace.length
          ? res
          : provider.plan({
              prior: null,
              proposed: keepIgnored(proposed, p.attributes, ignoreChanges),
              ignore: [],
            });
        change = {
          ...base,
          action: 'replace',
          priorId: p.id,
          before,
          after: { id: UNKNOWN, ...(replanned.planned ?? {}) },
          changes: attrChanges,
        };
        if (tainted) change.reason = 'tainted';
        else if (forced.has(name)) change.reason = 'replace-requested';
      } else if (attrChanges.length > 0 || drift) {
        change = {
          ...base,
          action: 'update',
          priorId: p.id,
          before,
          after: { ...after, id: p.id },
          changes: attrChanges,
        };
        if (drift) {
          change.reason = 'drift';
          change.drift = drift;
        }
      } else {
        change = { ...base, action: 'no-op', priorId: p.id, before, after: before, changes: [] };
      }
    }
    if (change.action === 'replace') {
      if (rc.lifecycle?.createBeforeDestroy) change.createBeforeDestroy = true;
      if (rc.lifecycle?.preventDestroy)
        error(`${rc.type} ${name} has lifecycle.preventDestroy set, but this plan would replace it`);
    }
    planned.set(name, change.after!);
    changes.push(change);
  }

  for (const r of state.resources) {
    if (config.resources.has(r.name) && !opts.destroy) continue;
    if (inScope && !targets!.includes(r.name)) continue;
    const rc = config.resources.get(r.name);
    if (rc?.lifecycle?.preventDestroy)
      error(`${rc.type} ${r.name} has lifecycle.preventDestroy set, but this plan would destroy it`);
    changes.push({
      name: r.name,
      type: r.type,
      action: 'delete',
      host: r.host ?? LOCAL_HOST,
      priorId: r.id,
      before: { id: r.id, ...r.attributes },
      after: null,
      changes: [],
      dependencies: r.dependencies,
      timeouts: { ...timeoutsOf(providers[r.type].schema), ...rc?.timeouts },
      ...(r.status === 'deposed' ? { reason: 'deposed' as const } : {}),
    });
  }

  const outputs: Plan['outputs'] = {};
  for (const o of opts.destroy ? [] : config.outputs.values()) {
    let fromSecret: string | undefined = o.sensitiveFrom;
    walkRefs(o.value, (ref) => {
      if (refIsSensitive(config.resources.get(ref.resource), ref.path)) fromSecret ??= ref.text;
    });
    if (fromSecret && !o.sensitive)
      error(
        `output ${o.name} refers to the sensitive value ${fromSecret}; mark the output sensitive: true`,
        `outputs.${o.name}`,
        o.locate([]),
      );
    const deferred = resolvePartially(o.value, lookup, (message) =>
      error(message, `outputs.${o.name}`, o.locate([])),
    );
    outputs[o.name] = {
      value: plannedValue(deferred),
      sensitive: o.sensitive || fromSecret !== undefined,
      ...(hasDeferred(deferred) ? { deferred } : {}),
    };
  }

  // A destroy changes no parameter; its plan keeps the state's digests as they are.
  const parameters =
    config.parameters && !opts.destroy
      ? parameterDigests(config.parameters, priorDoc?.parameters)
      : undefined;
  if (parameters && config.parameters)
    errors.push(...immutableParameterErrors(config.parameters, parameters, priorDoc?.parameters));

  const plan: Plan = {
    formatVersion: PLAN_FORMAT_VERSION,
    stack: config.name,
    lineage: priorDoc?.lineage ?? null,
    serial: priorDoc?.serial ?? null,
    changes,
    outputs,
    errors,
    ...(opts.targets?.length ? { targets: opts.targets } : {}),
    ...(config.randomSeed ? { randomSeed: config.randomSeed } : {}),
    ...(parameters ? { parameters } : {}),
  };
  const cycle = operationCycle(plan, state);
  if (cycle) error(cycle);
  return plan;
}

/** Proposed values with ignored attributes taken from what the object had. */
function keepIgnored(
  proposed: Record<string, unknown>,
  prior: Record<string, unknown>,
  ignore: readonly string[],
): Record<string, unknown> {
  const out = { ...proposed };
  for (const a of ignore) out[a] = prior[a];
  return out;
}
