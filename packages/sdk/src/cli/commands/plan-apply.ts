import { resolve } from 'node:path';
import { applyPlan } from '../../engine/apply.js';
import type { StackConfig } from '../../engine/config.js';
import {
  emptyState,
  hasChanges,
  makePlan,
  type Plan,
  type RefreshResult,
  refresh,
  unrefreshed,
} from '../../engine/plan.js';
import { agentHandlers } from '../../handlers/index.js';
import type { StateBackend, StateDoc } from '../../state/types.js';
import { sha256File } from '../../util/fs.js';
import { parseCommandArgs, UsageError } from '../args.js';
import { confirm, out, say } from '../io.js';
import { Progress } from '../progress.js';
import { planJson, renderPlan, styleFor } from '../render.js';
import { readSavedPlan, writeSavedPlan } from '../saved-plan.js';
import { backendFor, loadChecked, localContext, STATE_FLAGS, stackPath } from '../session.js';

const FLAGS = {
  'detailed-exitcode': { type: 'boolean' },
  json: { type: 'boolean' },
  refresh: { type: 'string' },
  out: { type: 'string' },
  'auto-approve': { type: 'boolean' },
  parallelism: { type: 'string' },
  ...STATE_FLAGS,
  target: { type: 'string', multiple: true },
  replace: { type: 'string', multiple: true },
  destroy: { type: 'boolean' },
} as const;

type Flags = ReturnType<typeof parseCommandArgs>['values'];

function parallelismOf(v: Flags): number {
  const n = Number(v.parallelism ?? 10);
  if (!Number.isInteger(n) || n < 1) throw new UsageError('--parallelism must be a positive integer');
  return n;
}

/** Everything a plan was made from, to show it, save it or apply it. */
interface Planned {
  config: StackConfig;
  backend: StateBackend;
  refreshed: RefreshResult;
  plan: Plan;
  stackFile: string;
}

/** Loads the stack, refreshes (unless told not to) and plans. `destroy` plans removing everything. */
async function makeStackPlan(
  cmd: 'plan' | 'apply' | 'destroy',
  stackArg: string | undefined,
  v: Flags,
): Promise<Planned> {
  const refreshFlag = (v.refresh as string | undefined) ?? 'true';
  if (refreshFlag !== 'true' && refreshFlag !== 'false')
    throw new UsageError('-refresh must be true or false');
  const { config, graph } = await loadChecked(stackArg);
  const backend = backendFor(config, v);
  const prior = await backend.read();
  const base = prior ?? emptyState(config.name);
  const ctx = base.resources.length > 0 && refreshFlag === 'true' ? await localContext(say) : undefined;
  try {
    const refreshed = ctx ? await refresh(base, agentHandlers, ctx) : unrefreshed(base);
    const plan = makePlan(config, graph, refreshed, prior, {
      targets: v.target as string[] | undefined,
      replace: v.replace as string[] | undefined,
      destroy: cmd === 'destroy',
    });
    return { config, backend, refreshed, plan, stackFile: stackPath(stackArg) };
  } finally {
    await ctx?.close();
  }
}

function showPlan(plan: Plan): void {
  out.write(renderPlan(plan, styleFor(out)));
  for (const e of plan.errors) say(`error: ${e}`);
}

/** `stratus plan`: exit 0 (no changes), 2 (changes, with -detailed-exitcode) or 1 (errors). */
export async function cmdPlan(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, FLAGS);
  if (positionals.length > 1)
    throw new UsageError(`plan takes at most one stack path, got ${positionals.join(' ')}`);
  const p = await makeStackPlan(v.destroy ? 'destroy' : 'plan', positionals[0], v);
  if (v.json) out.write(`${JSON.stringify(planJson(p.plan), null, 2)}\n`);
  else showPlan(p.plan);
  if (v.out) {
    await writeSavedPlan(resolve(v.out as string), {
      format: 'stratus-plan',
      version: 1,
      stackFile: p.stackFile,
      stackSha256: await sha256File(p.stackFile),
      plan: p.plan,
      refreshedState: p.refreshed.state,
    });
    say(`Saved the plan to ${v.out}; apply exactly it with: stratus apply ${v.out}`);
  }
  if (p.plan.errors.length) return 1;
  return v['detailed-exitcode'] && hasChanges(p.plan) ? 2 : 0;
}

/** Loads a saved plan and checks it still applies: same stack file content, state not moved on. */
async function loadSavedPlan(path: string, v: Flags): Promise<Planned> {
  const saved = readSavedPlan(path)!;
  if (saved.plan.errors.length) throw new UsageError(`the saved plan ${path} has errors; make a new plan`);
  const { config } = await loadChecked(saved.stackFile);
  if ((await sha256File(saved.stackFile)) !== saved.stackSha256)
    throw new UsageError(`${saved.stackFile} changed since the plan ${path} was made; make a new plan`);
  const backend = backendFor(config, v);
  const now = await backend.read();
  const moved = (now?.lineage ?? null) !== saved.plan.lineage || (now?.serial ?? null) !== saved.plan.serial;
  if (moved)
    throw new UsageError(
      `state moved on since the plan ${path} was made (plan: lineage ${saved.plan.lineage}, serial ${saved.plan.serial}; ` +
        `now: lineage ${now?.lineage ?? 'none'}, serial ${now?.serial ?? 'none'}); make a new plan`,
    );
  return {
    config,
    backend,
    plan: saved.plan,
    refreshed: unrefreshed(saved.refreshedState),
    stackFile: saved.stackFile,
  };
}

/** `stratus apply [STACK|PLANFILE]` and `stratus destroy [STACK]`. */
export async function cmdApply(cmd: 'apply' | 'destroy', argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, FLAGS);
  if (positionals.length > 1)
    throw new UsageError(`${cmd} takes at most one stack path, got ${positionals.join(' ')}`);
  const parallelism = parallelismOf(v);
  const savedPath =
    cmd === 'apply' && positionals[0] && readSavedPlan(positionals[0]) ? positionals[0] : undefined;
  const p = savedPath ? await loadSavedPlan(savedPath, v) : await makeStackPlan(cmd, positionals[0], v);
  showPlan(p.plan);
  if (p.plan.errors.length) return 1;
  if (!hasChanges(p.plan)) {
    if (cmd === 'apply') printServers(p.refreshed.state);
    return 0;
  }
  // A saved plan was approved when it was made.
  const question = `\nDo you want to ${cmd === 'destroy' ? 'destroy all resources' : 'perform these actions'}?`;
  if (!savedPath && !(await confirm(question, v['auto-approve'] === true))) {
    say('Cancelled.');
    return 1;
  }
  return runApply(p, parallelism, cmd);
}

async function runApply(p: Planned, parallelism: number, cmd: 'apply' | 'destroy'): Promise<number> {
  const unlock = await p.backend.lock(cmd);
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1)
      say(
        '\nInterrupt received: starting nothing new, letting running operations finish, then saving state. Interrupt again to stop at once.',
      );
    else {
      say(
        'Second interrupt: stopping now. State was saved after every finished operation; an operation cut short is replaced by the next apply.',
      );
      void unlock().finally(() => process.exit(130));
    }
  };
  process.on('SIGINT', onSigint);
  const st = styleFor(out);
  const progress = new Progress(out, st);
  const ctx = await localContext(say);
  try {
    const result = await applyPlan({
      config: p.config,
      plan: p.plan,
      state: p.refreshed.state,
      backend: p.backend,
      handlers: agentHandlers,
      ctx,
      parallelism,
      onEvent: (e) => progress.event(e),
      shouldStart: () => interrupts === 0,
    });
    progress.stop();
    const s = `Resources: ${result.added} added, ${result.changed} changed, ${result.destroyed} destroyed.`;
    if (!result.ok) {
      for (const e of result.errors) say(st.red(`error: ${e.name}: ${e.message}`));
      out.write(`\n${interrupts ? 'Apply interrupted' : 'Apply failed'}. ${s}\n`);
      return 1;
    }
    out.write(`\n${st.green(`${cmd === 'destroy' ? 'Destroy' : 'Apply'} complete! ${s}`)}\n`);
    printServers(result.state);
    const outs = Object.entries(result.state.outputs);
    if (outs.length) {
      out.write('\nOutputs:\n\n');
      for (const [k, o] of outs)
        out.write(`${k} = ${o.sensitive ? '(sensitive value)' : JSON.stringify(o.value)}\n`);
    }
    return 0;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    await ctx.close();
    await unlock();
  }
}

/** Tells the user where each server is and how to read its console. */
function printServers(state: StateDoc): void {
  for (const r of state.resources) {
    if (r.type !== 'server' || r.status !== 'ready') continue;
    const a = r.attributes;
    const net = (a.addresses as { network?: string }[] | undefined)?.[0]?.network ?? '<network-id>';
    out.write(
      `\nServer ${r.name} is ${a.status ?? '?'} on ${a.hypervisor ?? '?'} at ${a.accessIpV4 ?? '(no address)'}.\n` +
        `  Console log:  tail -f ${a.consoleLog}\n` +
        `  Reach it from the network's DHCP namespace, e.g.: ip netns exec qdhcp-${net} curl http://${a.accessIpV4}/\n`,
    );
  }
}
