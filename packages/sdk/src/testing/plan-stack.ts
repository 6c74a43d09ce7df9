import type { AgentClient } from '../client/agent-client.js';
import { isStack, type Stack } from '../constructs/stack.js';
import { toStackConfig } from '../constructs/synth.js';
import { type Diagnostic, DiagnosticsError } from '../diagnostics/index.js';
import { type ApplyResult, applyPlan } from '../engine/apply.js';
import { checkStack } from '../engine/check.js';
import type { StackConfig } from '../engine/config.js';
import type { Graph } from '../engine/graph.js';
import { emptyState, makePlan, type Plan, type RefreshResult, refresh } from '../engine/plan.js';
import type { HandlerContext, HandlerSet } from '../handlers/types.js';
import type { StateBackend, StateDoc, StateResource } from '../state/types.js';
import { MemoryHandlers } from './memory-handlers.js';

/** Options of {@link planStack} and {@link applyStack}. */
export interface StackTestOptions {
  /** State to plan against, e.g. what an earlier `applyStack` returned; default: none (all creates). */
  state?: StateDoc;
  /**
   * Handlers to plan and apply with; default: an in-memory world holding exactly what `state` records,
   * so a plan against it is what `stratus plan` would say if the hosts matched the state.
   */
  handlers?: HandlerSet;
}

/** A plan made without hosts. */
export interface PlanStackResult {
  /** The plan; undefined when the stack has errors. */
  plan?: Plan;
  /** Every problem found in the stack (empty when it is fine). */
  diagnostics: Diagnostic[];
  /** The stack config that was planned (references as `Ref` values), when it could be made. */
  config?: StackConfig;
}

/** A stack applied to an in-memory world. */
export interface AppliedStack extends ApplyResult {
  plan: Plan;
  /** The resulting state: pass it to a later `planStack`/`applyStack` to test an update. */
  state: StateDoc;
  /** The in-memory world the stack was applied to (undefined when handlers were passed in). */
  world?: MemoryHandlers;
  /** The state entry of the resource `name` (its id and attributes); throws when there is none. */
  resource(name: string): StateResource;
  /** Output values by name. */
  outputs: Record<string, unknown>;
}

/** The handlers never reach an agent, so the client is never used. */
const ctx: HandlerContext = { client: undefined as unknown as AgentClient };

/** An in-memory world holding the resources `state` records, as if the hosts matched it. */
function worldOf(state: StateDoc | undefined): MemoryHandlers {
  const world = new MemoryHandlers();
  for (const r of state?.resources ?? [])
    world.objects.set(r.id, { type: r.type, attributes: structuredClone(r.attributes) });
  return world;
}

async function plan(
  input: Stack | StackConfig,
  opts: StackTestOptions,
  handlers: HandlerSet,
): Promise<PlanStackResult & { graph?: Graph; refreshed?: RefreshResult }> {
  const loaded = isStack(input) ? toStackConfig(input) : { config: input, diagnostics: undefined };
  const diagnostics = [...(loaded.diagnostics?.items ?? [])];
  const config = loaded.config;
  if (!config) return { diagnostics };
  const checked = checkStack(config, handlers);
  diagnostics.push(...checked.diagnostics.items);
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics, config };
  const refreshed = await refresh(opts.state ?? emptyState(config.name), handlers, ctx);
  const p = makePlan(config, checked.graph, refreshed, opts.state ?? null);
  return { plan: p, diagnostics, config, graph: checked.graph, refreshed };
}

/**
 * Plans a stack (constructs or a loaded stack config) with no hosts, for unit tests of stacks, like
 * Pulumi's `setMocks` or cdktf's `Testing.synth`:
 *
 * ```ts
 * const { plan } = await planStack(myStack());
 * const web = plan!.changes.find((c) => c.name === 'web')!;
 * assert.equal(web.after!.memoryMb, 512);
 * ```
 */
export async function planStack(
  input: Stack | StackConfig,
  opts: StackTestOptions = {},
): Promise<PlanStackResult> {
  const {
    plan: p,
    diagnostics,
    config,
  } = await plan(input, opts, opts.handlers ?? worldOf(opts.state).handlers);
  return { plan: p, diagnostics, config };
}

/** State kept in memory, for {@link applyStack}. */
class MemoryBackend implements StateBackend {
  readonly where = 'memory';
  constructor(private doc: StateDoc | null) {}
  async read(): Promise<StateDoc | null> {
    return structuredClone(this.doc);
  }
  async write(doc: StateDoc): Promise<void> {
    this.doc = structuredClone(doc);
  }
  async lock(): Promise<() => Promise<void>> {
    return async () => {};
  }
  async forceUnlock(): Promise<void> {}
}

/**
 * Plans and applies a stack to an in-memory world (computed attributes get deterministic fake values)
 * and returns the resulting state, so a test can check what was made and how it is wired:
 *
 * ```ts
 * const applied = await applyStack(myStack());
 * assert.equal(applied.resource('web').attributes.networks[0].subnet, applied.resource('subnet').id);
 * ```
 *
 * Throws DiagnosticsError when the stack has errors (use {@link planStack} to look at them).
 */
export async function applyStack(
  input: Stack | StackConfig,
  opts: StackTestOptions = {},
): Promise<AppliedStack> {
  const world = opts.handlers ? undefined : worldOf(opts.state);
  const handlers = opts.handlers ?? world!.handlers;
  const planned = await plan(input, opts, handlers);
  if (!planned.plan || !planned.config || !planned.refreshed) throw new DiagnosticsError(planned.diagnostics);
  const result = await applyPlan({
    config: planned.config,
    plan: planned.plan,
    state: planned.refreshed.state,
    backend: new MemoryBackend(opts.state ?? null),
    handlers,
    ctx,
  });
  const outputs = Object.fromEntries(Object.entries(result.state.outputs).map(([k, o]) => [k, o.value]));
  return {
    ...result,
    plan: planned.plan,
    world,
    outputs,
    resource(name) {
      const r = result.state.resources.find((x) => x.name === name);
      if (!r)
        throw new Error(
          `no resource named ${name} in state (${result.state.resources.map((x) => x.name).join(', ')})`,
        );
      return r;
    },
  };
}
