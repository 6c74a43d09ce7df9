/**
 * The operations layer: lock -> refresh -> plan -> approve -> apply -> save, in that order, with the
 * lock held from before refresh until the last state write (as Terraform does). The CLI, the test
 * helpers, the benches and the providers' front ends call these rather than the engine's parts.
 */
import type { Diagnostic } from '../diagnostics/index.js';
import { type ApplyEvent, type ApplyResult, applyPlan } from '../engine/apply.js';
import type { StackConfig } from '../engine/config.js';
import type { Graph } from '../engine/graph.js';
import { emptyState, hasChanges, makePlan, type Plan, type PlanOptions } from '../engine/plan.js';
import { type RefreshResult, refresh, unrefreshed } from '../engine/refresh.js';
import type { ProtocolLog, ProviderSet } from '../protocol/types.js';
import type { StateBackend, StateDoc } from '../state/types.js';
import { changedInputs, hashInputs, type SavedPlan } from './saved-plan.js';

/** A loaded and checked stack. */
export interface CheckedStack {
  config: StackConfig;
  graph: Graph;
}

/** What every operation needs. */
export interface OperationContext {
  backend: StateBackend;
  providers: ProviderSet;
  /** Take the state lock (default true; Terraform's -lock=false turns it off). */
  lock?: boolean;
  /** The operation's name in the lock (`plan`, `apply`, `destroy`). */
  operation?: string;
  /** Aborting it cancels what is in flight (agent requests included). */
  signal?: AbortSignal;
  log?: ProtocolLog;
}

/** Options of {@link planOperation}. */
export interface PlanOperationOptions extends OperationContext, PlanOptions {
  stack: CheckedStack;
  /** Read live state from the hosts first (default true). */
  refresh?: boolean;
}

/** A plan and what it was made from. */
export interface PlanOutcome {
  plan: Plan;
  /** The state as read before refresh (null: none yet). */
  prior: StateDoc | null;
  refreshed: RefreshResult;
  /** Errors that stopped the plan, or the plan's own errors. */
  diagnostics: Diagnostic[];
}

/** Runs `fn` holding the state lock (unless `lock` is false); the lock goes on every exit path. */
export async function withStateLock<T>(ctx: OperationContext, fn: () => Promise<T>): Promise<T> {
  if (ctx.lock === false) return fn();
  const unlock = await ctx.backend.lock(ctx.operation ?? 'apply');
  try {
    return await fn();
  } finally {
    await unlock();
  }
}

/** Reads state, refreshes it and plans. Call holding the lock. */
async function planLocked(opts: PlanOperationOptions): Promise<PlanOutcome> {
  const { config, graph } = opts.stack;
  const prior = await opts.backend.read();
  const base = prior ?? emptyState(config.name);
  const refreshed =
    opts.refresh === false || base.resources.length === 0
      ? unrefreshed(base)
      : await refresh(base, opts.providers, { signal: opts.signal, log: opts.log });
  const plan = makePlan(config, graph, refreshed, prior, opts.providers, {
    targets: opts.targets,
    replace: opts.replace,
    destroy: opts.destroy,
  });
  const refreshErrors = refreshed.diagnostics.filter((d) => d.severity === 'error');
  return { plan, prior, refreshed, diagnostics: [...refreshErrors, ...plan.errors] };
}

/** `plan`: lock, refresh, plan, unlock. */
export async function planOperation(opts: PlanOperationOptions): Promise<PlanOutcome> {
  return withStateLock({ operation: 'plan', ...opts }, () => planLocked(opts));
}

/** Options of {@link applyOperation}. */
export interface ApplyOperationOptions extends PlanOperationOptions {
  /** Shows the plan and says whether to go on (the CLI's prompt); not called when nothing changes. */
  approve?: (outcome: PlanOutcome) => Promise<boolean>;
  /** Called with the plan as soon as it is made, before approval (to show it). */
  onPlan?: (outcome: PlanOutcome) => void;
  parallelism?: number;
  onEvent?: (e: ApplyEvent) => void;
  shouldStart?: () => boolean;
}

/** What an apply did: the plan, and the apply's result when it ran. */
export interface ApplyOutcome extends PlanOutcome {
  /** Undefined when the plan had errors, nothing changed, or approval was refused. */
  result?: ApplyResult;
  /** Approval was asked and refused. */
  cancelled?: boolean;
}

/**
 * `apply` / `destroy`: holding the lock from before refresh to after the last save, refreshes, plans,
 * asks for approval, applies and saves. Since the lock is held while the user reads the plan, nothing
 * else can change the state between the plan shown and the apply.
 */
export async function applyOperation(opts: ApplyOperationOptions): Promise<ApplyOutcome> {
  return withStateLock({ operation: opts.destroy ? 'destroy' : 'apply', ...opts }, async () => {
    const outcome = await planLocked(opts);
    opts.onPlan?.(outcome);
    if (outcome.diagnostics.some((d) => d.severity === 'error') || !hasChanges(outcome.plan)) return outcome;
    if (opts.approve && !(await opts.approve(outcome))) return { ...outcome, cancelled: true };
    return { ...outcome, result: await applyHolding(opts, outcome.plan, outcome.refreshed.state) };
  });
}

/** What applying needs besides the plan, with the lock already held. */
type ApplyContext = OperationContext & Pick<ApplyOperationOptions, 'parallelism' | 'onEvent' | 'shouldStart'>;

/** Applies `plan` against `state` (the state it was made from). Call holding the lock. */
function applyHolding(opts: ApplyContext, plan: Plan, state: StateDoc): Promise<ApplyResult> {
  return applyPlan({
    plan,
    state,
    backend: opts.backend,
    providers: opts.providers,
    parallelism: opts.parallelism,
    onEvent: opts.onEvent,
    shouldStart: opts.shouldStart,
    signal: opts.signal,
    log: opts.log,
  });
}

/** Makes the saved form of a plan (`plan -out`): the plan, its state, and a hash of every input file. */
export async function savePlan(stack: CheckedStack, outcome: PlanOutcome): Promise<SavedPlan> {
  const files = stack.config.inputs ?? [stack.config.file];
  return {
    format: 'stratus-plan',
    version: 2,
    stackFile: stack.config.file,
    inputs: await hashInputs(files),
    plan: outcome.plan,
    refreshedState: outcome.refreshed.state,
  };
}

/** Why a saved plan cannot be applied (refused before any host is touched). */
export class StalePlanError extends Error {
  override readonly name = 'StalePlanError';
}

/** Options of {@link applySavedOperation}. */
export interface ApplySavedOptions extends OperationContext {
  saved: SavedPlan;
  /** For messages: where the saved plan was read from. */
  path: string;
  parallelism?: number;
  onEvent?: (e: ApplyEvent) => void;
  shouldStart?: () => boolean;
}

/**
 * Applies a saved plan exactly: under the lock, before any host is touched, refuses it when the state
 * moved on (lineage or serial) or any input file changed; then applies the plan's values.
 */
export async function applySavedOperation(opts: ApplySavedOptions): Promise<ApplyResult> {
  const { saved, path } = opts;
  if (saved.plan.errors.length)
    throw new StalePlanError(`the saved plan ${path} has errors; make a new plan`);
  return withStateLock({ operation: 'apply', ...opts }, async () => {
    const changed = await changedInputs(saved);
    if (changed.length)
      throw new StalePlanError(`${changed.join('; ')} since the plan ${path} was made; make a new plan`);
    const now = await opts.backend.read();
    if ((now?.lineage ?? null) !== saved.plan.lineage || (now?.serial ?? null) !== saved.plan.serial)
      throw new StalePlanError(
        `state moved on since the plan ${path} was made (plan: lineage ${saved.plan.lineage}, serial ${saved.plan.serial}; ` +
          `now: lineage ${now?.lineage ?? 'none'}, serial ${now?.serial ?? 'none'}); make a new plan`,
      );
    return applyHolding(opts, saved.plan, saved.refreshedState);
  });
}
