import { randomUUID } from 'node:crypto';
import { deepEqual, formatPath, hasUnknown, isUnknown } from '@stratus/model';
import type { Diagnostic } from '../diagnostics/index.js';
import { knownInputs } from '../protocol/provider.js';
import type {
  ProtocolDiagnostic,
  ProtocolLog,
  ProviderContext,
  ProviderSet,
  Values,
} from '../protocol/types.js';
import type { StateBackend, StateDoc, StateResource } from '../state/types.js';
import { hasDeferred, type Lookup, resolveDeferred } from './deferred.js';
import { walk } from './graph.js';
import { operationGraph } from './operations.js';
import { type Action, deposedName, type Plan, type ResourceChange } from './plan.js';
import { getPath } from './values.js';

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
  | { kind: 'skipped'; name: string; op: 'apply' | 'destroy'; reason: 'dependency failed' | 'interrupted' }
  /** How far an operation in flight has come, as its provider said (see ProviderContext.progress). */
  | { kind: 'progress'; name: string; op: 'apply' | 'destroy'; action: Action; detail: string };

/** Options of {@link applyPlan}. */
export interface ApplyOptions {
  plan: Plan;
  /** The refreshed state the plan was made against; apply updates it and saves it after every resource. */
  state: StateDoc;
  backend: StateBackend;
  providers: ProviderSet;
  parallelism?: number;
  onEvent?: (e: ApplyEvent) => void;
  /** Returns false once apply should start nothing new (the first Ctrl-C). */
  shouldStart?: () => boolean;
  /** Aborting it cancels the operations in flight, agent requests included (a hard interrupt). */
  signal?: AbortSignal;
  log?: ProtocolLog;
}

/** What apply did. */
export interface ApplyResult {
  ok: boolean;
  added: number;
  changed: number;
  destroyed: number;
  /** One per failed operation: the resource's name and the provider's diagnostics. */
  errors: { name: string; message: string; diagnostics: Diagnostic[] }[];
  state: StateDoc;
}

const quiet: ProtocolLog = { debug() {}, warn() {} };

/** A failed operation, carrying the provider's diagnostics. */
class OperationFailed extends Error {
  constructor(
    readonly diagnostics: Diagnostic[],
    message = diagnostics.map((d) => d.message).join('; '),
    /** The operation's time limit ran out: the agent may still be doing it. */
    readonly timedOut = false,
  ) {
    super(message);
  }
}

const toDiagnostics = (name: string, ds: ProtocolDiagnostic[]): Diagnostic[] =>
  ds.map((d) => ({
    severity: d.severity,
    message: d.summary,
    ...(d.path?.length ? { field: `resources.${name}.properties.${formatPath(d.path)}` } : {}),
  }));

/**
 * Runs `fn` with a context whose signal aborts after `limitMs` or when `outer` aborts, and rejects as
 * soon as that happens even if `fn` ignores the signal.
 */
async function withLimit<T>(
  outer: AbortSignal | undefined,
  limitMs: number,
  what: string,
  host: string,
  log: ProtocolLog,
  progress: ((detail: string) => void) | undefined,
  fn: (ctx: ProviderContext) => Promise<T>,
): Promise<T> {
  // Validation bounds timeouts at 24h; a plan file edited by hand must still not overflow Node's timer.
  const timeout = AbortSignal.timeout(Math.min(limitMs, 2 ** 31 - 1));
  const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      const message = timeout.aborted
        ? `${what} timed out after ${Math.round(limitMs / 1000)}s`
        : `${what} was interrupted`;
      reject(new OperationFailed([{ severity: 'error', message }], message, timeout.aborted));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([fn({ signal, log, host, ...(progress ? { progress } : {}) }), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Applies a plan: walks its operation graph with bounded parallelism, saving state after each resource.
 * It executes the plan's values: inputs the plan could resolve are used as planned; only values the plan
 * marked as known after apply are filled in, from state, and the provider's final plan for them must
 * agree with every value the plan showed (Terraform's consistency rule). The configuration is not read.
 */
export async function applyPlan(opts: ApplyOptions): Promise<ApplyResult> {
  const { plan, providers, backend } = opts;
  const log = opts.log ?? quiet;
  if (plan.errors.length)
    throw new Error(`refusing to apply a plan with errors: ${plan.errors.map((e) => e.message).join('; ')}`);
  const doc: StateDoc = structuredClone(opts.state);
  if (plan.randomSeed) doc.randomSeed = plan.randomSeed;
  if (plan.parameters) doc.parameters = plan.parameters;
  const ops = operationGraph(plan, doc);
  const changes = new Map<string, ResourceChange>(plan.changes.map((c) => [c.name, c]));
  let added = 0;
  let changed = 0;
  let destroyed = 0;

  // A save that would write what the one before wrote (but for the serial) is skipped: e.g. the last
  // save, of outputs that were already there, after a create's. The first always writes: it holds the
  // refresh's findings.
  const content = (d: StateDoc) => JSON.stringify({ ...d, serial: 0 });
  let written: string | undefined;
  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    saving = saving.then(() => {
      const now = content(doc);
      if (now === written) return;
      doc.serial++;
      written = now;
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
  const stateLookup: Lookup = (ref) => {
    const r = find(ref.resource);
    if (r?.status !== 'ready') return { missing: `${ref.resource} has not been applied` };
    if (ref.path.length === 0) return { value: r.id };
    const v = getPath({ id: r.id, ...r.attributes }, ref.path);
    return v === undefined
      ? { missing: `${ref.resource} has no value at ${formatPath(ref.path)}` }
      : { value: v };
  };

  /** The values to apply: the plan's, with deferred inputs filled in and checked against the plan. */
  const finalPlanned = (c: ResourceChange, prior: StateResource | undefined): Values => {
    const { id: _id, ...planned } = c.after!;
    if (!c.deferred) return planned;
    const proposed = resolveDeferred(c.deferred, stateLookup) as Values;
    const p = providers[c.type];
    const res = p.plan({
      prior: c.action === 'update' && prior ? prior.attributes : null,
      proposed,
      ignore: c.ignoreChanges,
    });
    const bad = res.diagnostics.filter((d) => d.severity === 'error');
    if (bad.length) throw new OperationFailed(toDiagnostics(c.name, bad));
    if (c.action === 'update' && res.requiresReplace.length)
      throw new OperationFailed([
        {
          severity: 'error',
          message: `the final plan replaces ${c.name}, but the plan said update; make a new plan`,
        },
      ]);
    const final = res.planned!;
    const drifted = Object.keys(planned).filter(
      (k) => !hasUnknown(planned[k]) && !isUnknown(planned[k]) && !deepEqual(planned[k], final[k]),
    );
    if (drifted.length)
      throw new OperationFailed([
        {
          severity: 'error',
          message: `the final values of ${c.name} differ from the plan at ${drifted.join(', ')}; make a new plan`,
        },
      ]);
    return final;
  };

  const run = async <T>(
    c: ResourceChange,
    op: 'create' | 'update' | 'delete',
    what: string,
    fn: (ctx: ProviderContext) => Promise<T>,
  ) => {
    const onEvent = opts.onEvent;
    const kind = op === 'delete' ? 'destroy' : 'apply';
    const progress =
      onEvent &&
      ((detail: string) => onEvent({ kind: 'progress', name: c.name, op: kind, action: c.action, detail }));
    return withLimit(opts.signal, c.timeouts[op], what, c.host, log, progress, fn);
  };

  const destroyOne = async (c: ResourceChange, entry: StateResource) => {
    const res = await run(c, 'delete', `destroying ${entry.type} ${entry.name}`, (ctx) =>
      providers[entry.type].apply(ctx, { id: entry.id, prior: entry.attributes, planned: null }),
    );
    if (res.diagnostics.some((d) => d.severity === 'error'))
      throw new OperationFailed(toDiagnostics(c.name, res.diagnostics));
    remove(entry.name);
    await save();
  };

  const visit = async (op: string): Promise<void> => {
    const [kind, name] = op.split(/:(.*)/s) as ['apply' | 'destroy', string];
    const change = changes.get(name);
    const action = change?.action ?? 'no-op';
    // An apply node only creates or updates; a resource being deleted has nothing to apply.
    if (!change || (kind === 'apply' && (action === 'no-op' || action === 'delete'))) return;
    const started = Date.now();
    opts.onEvent?.({ kind: 'start', name, op: kind, action });
    try {
      let id: string | undefined;
      if (kind === 'destroy') {
        // A create-before-destroy replace set the old object aside under its deposed name.
        const targets = change.createBeforeDestroy
          ? doc.resources.filter((r) => r.status === 'deposed' && r.name.startsWith(`${name} (deposed `))
          : [find(name)].filter((r): r is StateResource => r !== undefined);
        for (const entry of targets) await destroyOne(change, entry);
        if (targets.length) destroyed++;
      } else {
        const prior = find(name);
        const planned = finalPlanned(change, prior);
        const provider = providers[change.type];
        const base = {
          name,
          type: change.type,
          host: change.host,
          dependencies: change.dependencies,
          schemaVersion: provider.schemaVersion,
          ...(change.sensitive ? { sensitive: change.sensitive } : {}),
        };
        if (action === 'update' && prior) {
          const res = await run(change, 'update', `updating ${change.type} ${name}`, (ctx) =>
            provider.apply(ctx, { id: prior.id, prior: prior.attributes, planned }),
          );
          if (res.newState) put({ ...prior, ...base, attributes: res.newState });
          await save();
          if (res.diagnostics.some((d) => d.severity === 'error'))
            throw new OperationFailed(toDiagnostics(name, res.diagnostics));
          id = prior.id;
          changed++;
        } else {
          if (prior && change.createBeforeDestroy) {
            remove(name);
            put({ ...prior, name: deposedName(name, prior.id), status: 'deposed' });
          }
          // A resumed create keeps its id, so the agent answers with the object it made (or is making).
          id =
            action === 'create' && change.reason === 'resume' && change.priorId
              ? change.priorId
              : randomUUID();
          const inputs = knownInputs(provider.schema, planned);
          // Written before the call: an interrupted create is found (and replaced) next time, never orphaned.
          put({ ...base, id, attributes: inputs, status: 'creating' });
          await save();
          const newId = id;
          try {
            const res = await run(change, 'create', `creating ${change.type} ${name}`, (ctx) =>
              provider.apply(ctx, { id: newId, prior: null, planned }),
            );
            const failed = res.diagnostics.some((d) => d.severity === 'error');
            put({
              ...base,
              id,
              attributes: res.newState ?? inputs,
              // A complete object whose wait failed is kept: the next apply waits again, not replaces.
              status: failed && !res.complete ? 'tainted' : 'ready',
              ...(res.private !== undefined ? { private: res.private } : {}),
            });
            if (failed) throw new OperationFailed(toDiagnostics(name, res.diagnostics));
          } catch (e) {
            // Timed out: the agent may still finish it, so its outcome is unknown and it stays `creating`;
            // the next plan creates it again under this id and gets that object (no taint, no duplicate).
            if (e instanceof OperationFailed && e.timedOut && find(name)?.status === 'creating')
              throw new OperationFailed(
                e.diagnostics.map((d) => ({
                  ...d,
                  message: `${d.message}; the agent may still finish it: the next apply takes up the same object`,
                })),
              );
            if (find(name)?.status === 'creating')
              put({ ...base, id, attributes: inputs, status: 'tainted' });
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
    if (r.status === 'failed') {
      const e = r.error as Error;
      const diagnostics =
        e instanceof OperationFailed
          ? e.diagnostics
          : [{ severity: 'error' as const, message: e?.message ?? String(e) }];
      errors.push({ name, message: e?.message ?? String(e), diagnostics });
    } else if (r.status === 'skipped' || r.status === 'cancelled') {
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
  for (const [name, o] of Object.entries(plan.outputs)) {
    try {
      const value = o.deferred !== undefined ? resolveDeferred(o.deferred, stateLookup) : o.value;
      if (!hasDeferred(value)) outputs[name] = { value, sensitive: o.sensitive };
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
