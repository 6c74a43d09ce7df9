import { randomUUID } from 'node:crypto';
import { formatPath, validateInputs } from '@stratus/model';
import type { HandlerContext, HandlerSet } from '../handlers/types.js';
import type { StateBackend, StateDoc, StateResource } from '../state/types.js';
import { checkStack } from './check.js';
import type { StackConfig } from './config.js';
import { walk } from './graph.js';
import { operationGraph } from './operations.js';
import { type Action, deposedName, type Plan, type ResourceChange } from './plan.js';
import { getPath, resolveValue } from './values.js';

/** Progress of apply, one event per operation start and end. */
export type ApplyEvent =
  | { kind: 'start'; name: string; op: 'apply' | 'destroy'; action: Action }
  | { kind: 'done'; name: string; op: 'apply' | 'destroy'; action: Action; elapsedMs: number; id?: string }
  | {
      kind: 'failed';
      name: string;
      op: 'apply' | 'destroy';
      action: Action;
      elapsedMs: number;
      error: string;
    }
  | { kind: 'skipped'; name: string; op: 'apply' | 'destroy'; reason: 'dependency failed' | 'interrupted' };

export interface ApplyOptions {
  config: StackConfig;
  plan: Plan;
  /** The refreshed state the plan was made against; apply updates it and saves it after every resource. */
  state: StateDoc;
  backend: StateBackend;
  handlers: HandlerSet;
  ctx: HandlerContext;
  parallelism?: number;
  onEvent?: (e: ApplyEvent) => void;
  /** Returns false once apply should start nothing new (Ctrl-C). */
  shouldStart?: () => boolean;
}

export interface ApplyResult {
  ok: boolean;
  added: number;
  changed: number;
  destroyed: number;
  errors: { name: string; message: string }[];
  state: StateDoc;
}

/** Default time limits per operation, in ms: servers boot, the rest is quick. */
const DEFAULT_TIMEOUT_MS = { create: 5 * 60_000, update: 5 * 60_000, delete: 5 * 60_000 };
const SERVER_TIMEOUT_MS = { create: 10 * 60_000, update: 10 * 60_000, delete: 5 * 60_000 };

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${Math.round(ms / 1000)}s`)), ms);
    // The operation itself keeps the process alive while it runs; the limit alone must not.
    timer.unref();
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Applies a plan: walks the operation graph with bounded parallelism, saving state after each resource. */
export async function applyPlan(opts: ApplyOptions): Promise<ApplyResult> {
  const { config, plan, handlers, ctx, backend } = opts;
  if (plan.errors.length) throw new Error(`refusing to apply a plan with errors: ${plan.errors.join('; ')}`);
  const doc: StateDoc = structuredClone(opts.state);
  // The checked graph, implied edges included (a server waits for its network's subnets).
  const resourceGraph = checkStack(config, handlers).graph;
  const ops = operationGraph(config, resourceGraph, plan, doc);
  const changes = new Map<string, ResourceChange>(plan.changes.map((c) => [c.name, c]));
  let added = 0;
  let changed = 0;
  let destroyed = 0;

  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    saving = saving.then(() => {
      doc.serial++;
      return backend.write(structuredClone(doc));
    });
    return saving;
  };
  const find = (name: string) => doc.resources.find((r) => r.name === name);
  const put = (r: StateResource) => {
    const i = doc.resources.findIndex((x) => x.name === r.name);
    if (i >= 0) doc.resources[i] = r;
    else doc.resources.push(r);
  };
  const remove = (name: string) => {
    doc.resources = doc.resources.filter((r) => r.name !== name);
  };
  const lookup = (ref: { resource: string; path: readonly (string | number)[] }) => {
    const r = find(ref.resource);
    if (!r) throw new Error(`${ref.resource} is not in state`);
    return ref.path.length === 0 ? r.id : getPath({ id: r.id, ...r.attributes }, ref.path);
  };

  const limits = (name: string, type: string) => ({
    ...(type === 'server' ? SERVER_TIMEOUT_MS : DEFAULT_TIMEOUT_MS),
    ...config.resources.get(name)?.timeouts,
  });

  const destroyOne = async (entry: StateResource, limit: number) => {
    await withTimeout(
      handlers[entry.type].delete(ctx, { id: entry.id, prior: entry.attributes }),
      limit,
      `destroying ${entry.type} ${entry.name}`,
    );
    remove(entry.name);
    await save();
  };

  const visit = async (op: string): Promise<void> => {
    const [kind, name] = op.split(/:(.*)/s) as ['apply' | 'destroy', string];
    const change = changes.get(name);
    const action = change?.action ?? 'no-op';
    // An apply node only creates or updates; a resource being deleted has nothing to apply.
    if (kind === 'apply' && (action === 'no-op' || action === 'delete')) return;
    const started = Date.now();
    opts.onEvent?.({ kind: 'start', name, op: kind, action });
    try {
      let id: string | undefined;
      if (kind === 'destroy') {
        // A create-before-destroy replace set the old object aside under its deposed name.
        const targets = change?.createBeforeDestroy
          ? doc.resources.filter((r) => r.status === 'deposed' && r.name.startsWith(`${name} (deposed `))
          : [find(name)].filter((r): r is StateResource => r !== undefined);
        for (const entry of targets) await destroyOne(entry, limits(name, entry.type).delete);
        if (targets.length) destroyed++;
      } else {
        const rc = config.resources.get(name)!;
        const limit = limits(name, rc.type);
        const inputs = resolveValue(rc.properties, lookup) as Record<string, unknown>;
        const problems = validateInputs(rc.type, inputs);
        if (problems.length)
          throw new Error(problems.map((p) => `${formatPath(p.path)}: ${p.message}`).join('; '));
        const dependencies = resourceGraph.dependencies(name).sort();
        const prior = find(name);
        if (action === 'update' && prior) {
          for (const a of rc.lifecycle?.ignoreChanges ?? []) inputs[a] = prior.attributes[a];
          const res = await withTimeout(
            handlers[rc.type].update(ctx, { id: prior.id, prior: prior.attributes, inputs }),
            limit.update,
            `updating ${rc.type} ${name}`,
          );
          put({ ...prior, attributes: res.attributes, dependencies });
          await save();
          id = prior.id;
          changed++;
        } else {
          if (prior && change?.createBeforeDestroy) {
            remove(name);
            put({ ...prior, name: deposedName(name, prior.id), status: 'deposed' });
          }
          if (prior && action === 'replace')
            for (const a of rc.lifecycle?.ignoreChanges ?? []) inputs[a] = prior.attributes[a];
          id = randomUUID();
          // Written before the call: an interrupted create is found (and replaced) next time, never orphaned.
          put({ name, type: rc.type, id, attributes: inputs, dependencies, status: 'creating' });
          await save();
          try {
            const res = await withTimeout(
              handlers[rc.type].create(ctx, { id, inputs }),
              limit.create,
              `creating ${rc.type} ${name}`,
            );
            put({ name, type: rc.type, id, attributes: res.attributes, dependencies, status: 'ready' });
          } catch (e) {
            put({ name, type: rc.type, id, attributes: inputs, dependencies, status: 'tainted' });
            throw e;
          } finally {
            await save();
          }
          added++;
        }
      }
      opts.onEvent?.({ kind: 'done', name, op: kind, action, elapsedMs: Date.now() - started, id });
    } catch (e) {
      opts.onEvent?.({
        kind: 'failed',
        name,
        op: kind,
        action,
        elapsedMs: Date.now() - started,
        error: (e as Error).message,
      });
      throw e;
    }
  };

  const results = await walk(ops, opts.parallelism ?? 10, visit, opts.shouldStart);
  const errors: ApplyResult['errors'] = [];
  for (const [op, r] of results) {
    const [kind, name] = op.split(/:(.*)/s) as ['apply' | 'destroy', string];
    if (r.status === 'failed') errors.push({ name, message: (r.error as Error)?.message ?? String(r.error) });
    else if (r.status === 'skipped' || r.status === 'cancelled') {
      const action = changes.get(name)?.action;
      if (action && action !== 'no-op')
        opts.onEvent?.({
          kind: 'skipped',
          name,
          op: kind,
          reason: r.status === 'skipped' ? 'dependency failed' : 'interrupted',
        });
    }
  }

  const outputs: StateDoc['outputs'] = {};
  for (const o of config.outputs.values()) {
    try {
      outputs[o.name] = { value: resolveValue(o.value, lookup), sensitive: o.sensitive };
    } catch {
      // An output whose resource failed is left out until a later apply succeeds.
    }
  }
  doc.outputs = outputs;
  await save();
  await saving;
  const interrupted = [...results.values()].some((r) => r.status === 'cancelled');
  return { ok: errors.length === 0 && !interrupted, added, changed, destroyed, errors, state: doc };
}
