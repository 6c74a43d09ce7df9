import { isStack, type Stack } from '../constructs/stack.js';
import { toStackConfig } from '../constructs/synth.js';
import { type Diagnostic, Diagnostics, DiagnosticsError } from '../diagnostics/index.js';
import type { ApplyResult } from '../engine/apply.js';
import { checkStack } from '../engine/check.js';
import type { StackConfig } from '../engine/config.js';
import type { Plan } from '../engine/plan.js';
import { applyOperation, type CheckedStack, planOperation } from '../operations/run.js';
import type { ProviderSet } from '../protocol/types.js';
import type { StateBackend, StateDoc, StateResource } from '../state/types.js';
import { MemoryHandlers } from './memory-handlers.js';

/** Options of {@link planStack} and {@link applyStack}. */
export interface StackTestOptions {
  /** State to plan against, e.g. what an earlier `applyStack` returned; default: none (all creates). */
  state?: StateDoc;
  /**
   * Providers to plan and apply with; default: an in-memory world holding exactly what `state` records,
   * so a plan against it is what `stratus plan` would say if the hosts matched the state.
   */
  providers?: ProviderSet;
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

/** An in-memory world holding the resources `state` records, as if the hosts matched it. */
function worldOf(state: StateDoc | undefined): MemoryHandlers {
  const world = new MemoryHandlers();
  for (const r of state?.resources ?? [])
    world.objects.set(r.id, { type: r.type, attributes: structuredClone(r.attributes) });
  return world;
}

/** Loads and checks a stack; diagnostics instead of a stack when it has errors. */
function check(
  input: Stack | StackConfig,
  providers: ProviderSet,
): { stack?: CheckedStack; diagnostics: Diagnostic[]; config?: StackConfig } {
  const loaded = isStack(input) ? toStackConfig(input) : { config: input, diagnostics: undefined };
  const all = new Diagnostics();
  all.append(loaded.diagnostics?.items ?? []);
  const config = loaded.config;
  if (!config) return { diagnostics: all.items };
  const checked = checkStack(config, providers);
  all.append(checked.diagnostics.items);
  if (all.hasErrors) return { diagnostics: all.items, config };
  return { stack: { config, graph: checked.graph }, diagnostics: all.items, config };
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
  const providers = opts.providers ?? worldOf(opts.state).providers;
  const { stack, diagnostics, config } = check(input, providers);
  if (!stack) return { diagnostics, config };
  const o = await planOperation({ stack, providers, backend: new MemoryBackend(opts.state ?? null) });
  return { plan: o.plan, diagnostics: [...diagnostics, ...o.diagnostics], config };
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
  const world = opts.providers ? undefined : worldOf(opts.state);
  const providers = opts.providers ?? world!.providers;
  const { stack, diagnostics } = check(input, providers);
  if (!stack) throw new DiagnosticsError(diagnostics);
  const backend = new MemoryBackend(opts.state ?? null);
  const o = await applyOperation({ stack, providers, backend });
  if (o.diagnostics.some((d) => d.severity === 'error')) throw new DiagnosticsError(o.diagnostics);
  const result: ApplyResult = o.result ?? {
    ok: true,
    added: 0,
    changed: 0,
    destroyed: 0,
    errors: [],
    state: (await backend.read()) ?? o.refreshed.state,
  };
  const outputs = Object.fromEntries(Object.entries(result.state.outputs).map(([k, o]) => [k, o.value]));
  return {
    ...result,
    plan: o.plan,
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
